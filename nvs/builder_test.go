package nvs

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCRC32CheckValue(t *testing.T) {
	if got := CRC32([]byte("123456789")); got != 0xD202D277 {
		t.Errorf("CRC32(123456789) = %08x, want d202d277", got)
	}
	if got := CRC32(nil); got != 0xFFFFFFFF {
		t.Errorf("CRC32(empty) = %08x, want ffffffff", got)
	}
}

func TestBitmap(t *testing.T) {
	bm := bytes.Repeat([]byte{0xFF}, BitmapSize)
	for i := 0; i < 7; i++ {
		SetBitmapState(bm, i, EntryWritten)
	}
	if !bytes.Equal(bm[:3], []byte{0xaa, 0xea, 0xff}) {
		t.Errorf("7 written entries give % x, want aa ea ff", bm[:3])
	}
	SetBitmapState(bm, 1, EntryErased)
	SetBitmapState(bm, 1, EntryWritten) // flash can't set bits again
	if s := BitmapState(bm, 1); s != EntryErased {
		t.Errorf("entry 1 is %s after erase and rewrite, want Erased", s)
	}
	if s := BitmapState(bm, 125); s != EntryEmpty {
		t.Errorf("entry 125 is %s, want Empty", s)
	}
}

func TestEntryIntegers(t *testing.T) {
	tests := []struct {
		t    Type
		v    int64
		data string
	}{
		{TypeU8, 3, "03ffffffffffffff"},
		{TypeI8, -1, "ffffffffffffffff"},
		{TypeI16, -2, "feffffffffffffff"},
		{TypeU32, 0x12345678, "78563412ffffffff"},
		{TypeI32, -9, "f7ffffffffffffff"},
		{TypeI64, -2, "feffffffffffffff"},
		{TypeU64, 1, "0100000000000000"},
	}
	for _, tc := range tests {
		e := Entry{Type: tc.t}
		e.SetUint(uint64(tc.v))
		if got := fmt.Sprintf("%x", e.Data); got != tc.data {
			t.Errorf("%s %d: data %s, want %s", tc.t, tc.v, got, tc.data)
		}
		if e.Int() != tc.v {
			t.Errorf("%s %d: Int() = %d", tc.t, tc.v, e.Int())
		}
	}
}

func TestItemCheck(t *testing.T) {
	tests := []struct {
		name string
		it   Item
		v    Version
		want error
	}{
		{"ok", Uint("ns", "k", TypeU8, 255), V2, nil},
		{"u8 range", Uint("ns", "k", TypeU8, 256), V2, ErrValueRange},
		{"i8 range", Int("ns", "k", TypeI8, -129), V2, ErrValueRange},
		{"i64 min", Int("ns", "k", TypeI64, -1<<63), V2, nil},
		{"key 15", Uint("ns", strings.Repeat("k", 15), TypeU8, 1), V2, nil},
		{"key 16", Uint("ns", strings.Repeat("k", 16), TypeU8, 1), V2, ErrKeyTooLong},
		{"namespace 16", Uint(strings.Repeat("n", 16), "k", TypeU8, 1), V2, ErrKeyTooLong},
		{"no namespace", Uint("", "k", TypeU8, 1), V2, ErrNoNamespace},
		{"string 4000", String("ns", "k", strings.Repeat("x", 3999)), V2, nil},
		{"string 4001", String("ns", "k", strings.Repeat("x", 4000)), V2, ErrValueTooLong},
		{"string v1 1985", String("ns", "k", strings.Repeat("x", 1984)), V1, ErrValueTooLong},
		{"blob v1 1984", Blob("ns", "k", make([]byte, 1984)), V1, nil},
		{"blob device limit", Blob("ns", "k", make([]byte, MaxBlob+1)), V2, ErrValueTooLong},
		{"bad type", Item{Namespace: "ns", Key: "k", Type: TypeBlobIndex}, V2, ErrBadType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.it.Check(tc.v)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Check() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCheckSize(t *testing.T) {
	for size, ok := range map[int]bool{0: false, 0x800: false, 0x1000: true, 0x2000: true, 0x3000: true, 0x3800: false, 0x100000: true} {
		if err := CheckSize(size); (err == nil) != ok || (err != nil && !errors.Is(err, ErrBadSize)) {
			t.Errorf("CheckSize(0x%x) = %v", size, err)
		}
	}
}

func TestTooManyNamespaces(t *testing.T) {
	b, _ := NewBuilder(Options{Size: 0x10000})
	for i := 0; i < MaxNamespaces; i++ {
		if err := b.Add(Namespace(fmt.Sprintf("ns%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(Namespace("one_more")); !errors.Is(err, ErrTooManyNamespaces) {
		t.Errorf("namespace 255: %v", err)
	}
}

// fill adds n one-slot items so the current page has n more slots used.
func fill(t *testing.T, b *Builder, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := b.Add(Uint("ns", fmt.Sprintf("f%d", i), TypeU8, 1)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLayout checks where items land, page by page, on the reference's page-filling rules.
func TestLayout(t *testing.T) {
	tests := []struct {
		name     string
		pre      int  // one-slot items before (the namespace takes one slot too)
		item     Item // the item under test
		wantPage int  // page where the item's (first) entry lands
		wantSlot int
	}{
		{"scalar in last slot", 124, Uint("ns", "k", TypeU8, 1), 0, 125},
		{"scalar on full page", 125, Uint("ns", "k", TypeU8, 1), 1, 0},
		{"string never takes the last slot", 123, String("ns", "k", "x"), 1, 0},
		{"string just fits", 122, String("ns", "k", "x"), 0, 123},
		{"4000-byte string fills an empty page", 0, String("ns", "k", strings.Repeat("x", 3999)), 1, 0},
		{"blob with one slot left gets a zero chunk", 124, Blob("ns", "k", []byte{1, 2}), 0, 125},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := NewBuilder(Options{Size: 0x6000})
			b.Add(Namespace("ns"))
			fill(t, b, tc.pre)
			if err := b.Add(tc.item); err != nil {
				t.Fatal(err)
			}
			img, err := b.Image()
			if err != nil {
				t.Fatal(err)
			}
			p, s := findKey(img, "k")
			if p != tc.wantPage || s != tc.wantSlot {
				t.Errorf("k at page %d slot %d, want page %d slot %d", p, s, tc.wantPage, tc.wantSlot)
			}
		})
	}
}

// findKey returns the page and slot of the first entry with key k.
func findKey(img []byte, k string) (int, int) {
	for p := 0; p*PageSize < len(img); p++ {
		for s := 0; s < EntriesPerPage; s++ {
			off := p*PageSize + FirstEntryOff + s*EntrySize
			if BitmapState(img[p*PageSize+HeaderSize:], s) != EntryWritten {
				continue
			}
			e := DecodeEntry(img[off:])
			if e.KeyString() == k && EntryCRC(img[off:off+EntrySize]) == e.CRC {
				return p, s
			}
		}
	}
	return -1, -1
}

func TestZeroChunkQuirk(t *testing.T) {
	b, _ := NewBuilder(Options{Size: 0x6000})
	b.Add(Namespace("ns"))
	fill(t, b, 124)
	b.Add(Blob("ns", "k", []byte{1, 2}))
	img, _ := b.Image()
	e := DecodeEntry(img[FirstEntryOff+125*EntrySize:])
	if e.Type != TypeBlobData || e.VarSize() != 0 || e.Span != 1 || e.VarCRC() != 0xFFFFFFFF {
		t.Errorf("slot 125: %s size %d span %d crc %08x; want an empty BLOB_DATA", e.Type, e.VarSize(), e.Span, e.VarCRC())
	}
	idx := DecodeEntry(img[PageSize+FirstEntryOff+2*EntrySize:])
	if size, count, start := idx.BlobIndex(); idx.Type != TypeBlobIndex || size != 2 || count != 2 || start != 0 {
		t.Errorf("index: %s size %d count %d start %d", idx.Type, size, count, start)
	}
}

func TestPartitionFull(t *testing.T) {
	_, err := Build([]Item{Blob("ns", "k", make([]byte, 9000))}, Options{Size: 0x3000})
	var se *SizeError
	if !errors.As(err, &se) || !errors.Is(err, ErrPartitionFull) {
		t.Fatalf("err = %v, want a SizeError", err)
	}
	if se.PagesNeeded != 3 || se.MinSize() != 0x4000 {
		t.Errorf("needs %d pages, min size 0x%x; want 3 and 0x4000", se.PagesNeeded, se.MinSize())
	}
	if _, err := Build([]Item{Blob("ns", "k", make([]byte, 9000))}, Options{Size: se.MinSize()}); err != nil {
		t.Errorf("the suggested size does not fit: %v", err)
	}
}

// TestStatsLargest checks the space report against the builder itself: the largest blob and
// string it reports fit, and one byte more does not.
func TestStatsLargest(t *testing.T) {
	for _, v := range []Version{V1, V2} {
		for _, size := range []int{0x1000, 0x3000, 0x5000} {
			for _, pre := range []int{0, 1, 60, 122, 123, 124, 125, 200} {
				name := fmt.Sprintf("v%d/0x%x/%d", v, size, pre)
				mk := func() *Builder {
					b, _ := NewBuilder(Options{Size: size, Version: v})
					b.Add(Namespace("ns"))
					for i := 0; i < pre; i++ {
						b.Add(Uint("ns", fmt.Sprintf("f%d", i), TypeU8, 1))
					}
					return b
				}
				st := mk().Stats()
				if st.PagesUsed > st.UsablePages {
					continue
				}
				fits := func(it Item) bool {
					b := mk()
					if err := b.Add(it); err != nil {
						return false
					}
					_, err := b.Image()
					return err == nil
				}
				if st.LargestBlob > 0 && !fits(Blob("ns", "k", make([]byte, st.LargestBlob))) {
					t.Errorf("%s: LargestBlob %d does not fit", name, st.LargestBlob)
				}
				if fits(Blob("ns", "k", make([]byte, st.LargestBlob+1))) {
					t.Errorf("%s: LargestBlob %d, but one byte more fits too", name, st.LargestBlob)
				}
				if st.LargestString > 0 && !fits(Item{Namespace: "ns", Key: "k", Type: TypeString, Data: cString(st.LargestString)}) {
					t.Errorf("%s: LargestString %d does not fit", name, st.LargestString)
				}
				if fits(Item{Namespace: "ns", Key: "k", Type: TypeString, Data: cString(st.LargestString + 1)}) {
					t.Errorf("%s: LargestString %d, but one byte more fits too", name, st.LargestString)
				}
			}
		}
	}
}

// cString is a string's stored bytes of n bytes in all: n-1 letters and the NUL.
func cString(n int) []byte {
	b := bytes.Repeat([]byte{'a'}, n)
	b[n-1] = 0
	return b
}
