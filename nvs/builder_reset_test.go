package nvs

import (
	"bytes"
	"strings"
	"testing"
)

func TestBuilderReset(t *testing.T) {
	big := []Item{Namespace("a"), String("a", "s", strings.Repeat("x", 3000)), Blob("a", "b", make([]byte, 9000)),
		Namespace("b"), Uint("b", "n", TypeU8, 1)}
	small := []Item{Namespace("z"), Int("z", "i", TypeI32, -5)}
	b, err := NewBuilder(Options{Size: 0x6000})
	if err != nil {
		t.Fatal(err)
	}
	for _, items := range [][]Item{big, small, big} {
		b.Reset()
		for _, it := range items {
			if err := b.Add(it); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.Image()
		if err != nil {
			t.Fatal(err)
		}
		want, err := Build(items, Options{Size: 0x6000})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("image after Reset differs from a fresh build")
		}
	}
	// A builder that overflowed is usable again after Reset.
	b, _ = NewBuilder(Options{Size: 0x3000})
	for i := 0; i < 4; i++ {
		b.Add(Blob("a", "b"+string(rune('0'+i)), make([]byte, 4000)))
	}
	if _, err := b.Image(); err == nil {
		t.Fatal("overflow not reported")
	}
	b.Reset()
	b.Add(Uint("a", "n", TypeU8, 1))
	got, err := b.Image()
	want, _ := Build([]Item{Uint("a", "n", TypeU8, 1)}, Options{Size: 0x3000})
	if err != nil || !bytes.Equal(got, want) || len(got) != 0x3000 {
		t.Fatalf("after an overflow: %v", err)
	}
}
