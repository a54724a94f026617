package nvs

import (
	"hash/crc32"
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

// crcTable8 is the slicing-by-8 table of the IEEE CRC32, as hash/crc32 computes it.
func TestCRCTable(t *testing.T) {
	for i := range 256 {
		crc := crc32.IEEETable[i]
		if crcTable8[0][i] != crc {
			t.Fatalf("crcTable8[0][%d] = %08x, want %08x", i, crcTable8[0][i], crc)
		}
		for k := 1; k < 8; k++ {
			crc = crc32.IEEETable[crc&0xFF] ^ crc>>8
			if crcTable8[k][i] != crc {
				t.Fatalf("crcTable8[%d][%d] = %08x, want %08x", k, i, crcTable8[k][i], crc)
			}
		}
	}
}

// CRC32 is hash/crc32's IEEE CRC with seed 0xFFFFFFFF, at every length and alignment.
func TestCRC32MatchesHashCRC32(t *testing.T) {
	if got := CRC32([]byte("123456789")); got != 0xD202D277 {
		t.Fatalf("CRC32(123456789) = %08x", got)
	}
	r := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 5000)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for n := range 300 {
		for _, off := range []int{0, 1, 3, 7} {
			b := buf[off : off+n]
			if got, want := CRC32(b), crc32.Update(0xFFFFFFFF, crc32.IEEETable, b); got != want {
				t.Fatalf("len %d offset %d: %08x, want %08x", n, off, got, want)
			}
		}
	}
	for range 200 {
		n := r.IntN(len(buf))
		if got, want := CRC32(buf[:n]), crc32.Update(0xFFFFFFFF, crc32.IEEETable, buf[:n]); got != want {
			t.Fatalf("len %d: %08x, want %08x", n, got, want)
		}
	}
}

// BenchmarkCRC32 is the CRC of a 4000-byte blob chunk (the largest a page holds).
func BenchmarkCRC32(b *testing.B) {
	p := make([]byte, 4000)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		CRC32(p)
	}
}
