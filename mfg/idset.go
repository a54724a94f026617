package mfg

import (
	"slices"
)

// idSet remembers the file ids seen so far, as 64-bit hashes with the row that had each, in
// about 12 bytes per device: a sorted array plus a small map of recent ids that is merged into
// it every recentMax ids. A Go map of a million ids would take three times that, and the
// garbage collector lets the heap grow to twice the live data.
type idSet struct {
	hashes []uint64 // sorted
	rows   []int32  // rows[i] is the row of hashes[i]
	recent map[uint64]int32
}

const recentMax = 1 << 14

// add records h for row and reports the earlier row with the same hash, if any.
func (s *idSet) add(h uint64, row int32) (prev int32, dup bool) {
	if s.recent == nil {
		s.recent = make(map[uint64]int32, recentMax)
	}
	if r, ok := s.recent[h]; ok {
		return r, true
	}
	if i, ok := slices.BinarySearch(s.hashes, h); ok {
		return s.rows[i], true
	}
	s.recent[h] = row
	if len(s.recent) >= recentMax {
		s.flush()
	}
	return 0, false
}

// flush merges the recent ids into the sorted array, growing it by a quarter at a time.
func (s *idSet) flush() {
	type ent struct {
		h uint64
		r int32
	}
	add := make([]ent, 0, len(s.recent))
	for h, r := range s.recent {
		add = append(add, ent{h, r})
	}
	slices.SortFunc(add, func(a, b ent) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return 0
	})
	n, m := len(s.hashes), len(add)
	if need := n + m; need > cap(s.hashes) {
		c := max(need, cap(s.hashes)+cap(s.hashes)/4)
		s.hashes = append(make([]uint64, 0, c), s.hashes...)
		s.rows = append(make([]int32, 0, c), s.rows...)
	}
	s.hashes = s.hashes[:n+m]
	s.rows = s.rows[:n+m]
	// Merge from the back, so that nothing is overwritten before it is read.
	i, j, k := n-1, m-1, n+m-1
	for j >= 0 {
		if i >= 0 && s.hashes[i] > add[j].h {
			s.hashes[k], s.rows[k] = s.hashes[i], s.rows[i]
			i--
		} else {
			s.hashes[k], s.rows[k] = add[j].h, add[j].r
			j--
		}
		k--
	}
	clear(s.recent)
}
