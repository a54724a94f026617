package nvs

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// keySet numbers the distinct (namespace index, 16-byte key field) pairs added to it, in the
// order they are first added. It is an open-addressing hash table for the parser's thousands
// of lookups of these fixed-size keys, several times cheaper than a Go map with a 17-byte
// key. The hash is seeded at random for each set.
type keySet struct {
	s0, s1 uint64
	slots  []int32 // 1 + number of the key in the slot; 0 for an empty slot
	keys   []nsKey
}

// nsKey is a namespace index and a key field.
type nsKey struct {
	ns  uint8
	key [KeySize]byte
}

// newKeySet returns an empty set sized for about n keys (it grows past that).
func newKeySet(n int) *keySet {
	s := &keySet{s0: rand.Uint64(), s1: rand.Uint64(), keys: make([]nsKey, 0, n)}
	s.slots = make([]int32, tableSize(n))
	return s
}

// tableSize is the smallest power of two at least twice n (and at least 16).
func tableSize(n int) int {
	size := 16
	for size < 2*n {
		size *= 2
	}
	return size
}

func (s *keySet) hash(k *nsKey) uint64 {
	a := binary.LittleEndian.Uint64(k.key[0:8]) ^ s.s0
	b := binary.LittleEndian.Uint64(k.key[8:16]) ^ s.s1 ^ uint64(k.ns)
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// find returns the number of k, or -1 if k was never added.
func (s *keySet) find(k *nsKey) int32 {
	mask := uint64(len(s.slots) - 1)
	for i := s.hash(k) & mask; ; i = (i + 1) & mask {
		n := s.slots[i]
		if n == 0 {
			return -1
		}
		if s.keys[n-1] == *k {
			return n - 1
		}
	}
}

// add returns the number of k, adding k if it is new.
func (s *keySet) add(k *nsKey) (n int32, added bool) {
	if 2*(len(s.keys)+1) > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := s.hash(k) & mask; ; i = (i + 1) & mask {
		m := s.slots[i]
		if m == 0 {
			s.keys = append(s.keys, *k)
			s.slots[i] = int32(len(s.keys))
			return int32(len(s.keys) - 1), true
		}
		if s.keys[m-1] == *k {
			return m - 1, false
		}
	}
}

func (s *keySet) grow() {
	s.slots = make([]int32, 2*len(s.slots))
	mask := uint64(len(s.slots) - 1)
	for n := range s.keys {
		i := s.hash(&s.keys[n]) & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = int32(n + 1)
	}
}
