package nvs

import (
	"fmt"
	"testing"
)

// keySet numbers keys like a map that gives each new key the next number.
func TestKeySet(t *testing.T) {
	s := newKeySet(3) // grows
	m := map[nsKey]int32{}
	for i := range 5000 {
		var k nsKey
		k.ns = uint8(i % 7)
		copy(k.key[:], fmt.Sprintf("k%d", i%1300))
		if i%11 == 0 {
			k.key[15] = byte(i)
		}
		want, ok := m[k]
		if got := s.find(&k); (got >= 0) != ok || ok && got != want {
			t.Fatalf("find %v = %d, want %d (%v)", k, got, want, ok)
		}
		if !ok {
			want = int32(len(m))
			m[k] = want
		}
		if got, added := s.add(&k); got != want || added == ok {
			t.Fatalf("add %v = %d %v, want %d %v", k, got, added, want, !ok)
		}
	}
	if len(s.keys) != len(m) {
		t.Fatalf("%d keys, want %d", len(s.keys), len(m))
	}
}
