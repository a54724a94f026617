package nvs

import (
	"math/rand/v2"
	"testing"
)

// EntryCRC is the CRC32 of bytes 0..3 and 8..31 of an entry.
func TestEntryCRC(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, EntrySize)
	for range 10000 {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := CRC32(append(append([]byte(nil), b[0:4]...), b[8:32]...))
		if got := EntryCRC(b); got != want {
			t.Fatalf("EntryCRC(% x) = %08x, want %08x", b, got, want)
		}
	}
	e := DecodeEntry(b)
	if e.ComputeCRC() != EntryCRC(b) {
		t.Fatal("ComputeCRC and EntryCRC differ")
	}
}
