package nvs_test

import (
	"fmt"
	"testing"

	"github.com/nvskit/nvskit/nvs"
)

// fullImage builds a 1 MiB image whose data pages are all used: integers, strings and
// multi-page blobs in 8 namespaces.
func fullImage(tb testing.TB) []byte {
	tb.Helper()
	const size = 1 << 20
	b, err := nvs.NewBuilder(nvs.Options{Size: size})
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; b.Stats().PagesUsed < size/nvs.PageSize-2; i++ {
		ns := fmt.Sprintf("ns%d", i%8)
		key := fmt.Sprintf("k%d", i)
		var it nvs.Item
		switch i % 4 {
		case 0:
			it = nvs.Uint(ns, key, nvs.TypeU32, uint64(i))
		case 1:
			it = nvs.String(ns, key, fmt.Sprintf("value %d of a string item", i))
		case 2:
			it = nvs.Int(ns, key, nvs.TypeI64, -int64(i))
		default:
			d := make([]byte, 50+i%3000)
			for k := range d {
				d[k] = byte(i + k)
			}
			it = nvs.Blob(ns, key, d)
		}
		if err := b.Add(it); err != nil {
			tb.Fatal(err)
		}
	}
	img, err := b.Image()
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// BenchmarkParse1MiB parses a full 1 MiB image (the quality bar is 2 ms per parse).
func BenchmarkParse1MiB(b *testing.B) {
	img := fullImage(b)
	b.SetBytes(int64(len(img)))
	b.ResetTimer()
	for b.Loop() {
		im, err := nvs.Parse(img)
		if err != nil || len(im.Records) == 0 || len(im.Findings) != 0 {
			b.Fatalf("%v, %d records, findings %v", err, len(im.Records), im.Findings)
		}
	}
}

func TestFullImageParses(t *testing.T) {
	img := fullImage(t)
	im, err := nvs.Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Findings) != 0 {
		t.Fatalf("findings: %v", im.Findings[:min(3, len(im.Findings))])
	}
	if im.Get("ns1", "k1") == nil {
		t.Fatal("ns1/k1 missing")
	}
}
