package mfg

import (
	"math/rand/v2"
	"testing"
)

func TestIDSet(t *testing.T) {
	var s idSet
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[uint64]int32{}
	for row := int32(1); row <= 5*recentMax+123; row++ {
		h := r.Uint64() % (8 * recentMax) // plenty of duplicates
		prev, dup := s.add(h, row)
		want, wantDup := seen[h]
		if dup != wantDup || prev != want {
			t.Fatalf("row %d hash %d: got (%d, %v), want (%d, %v)", row, h, prev, dup, want, wantDup)
		}
		if !wantDup {
			seen[h] = row
		}
	}
}
