package nvs_test

import (
	"bytes"
	"testing"

	"github.com/nvskit/nvskit/nvs"
)

// A V1 image (single-entry blobs) is read, and the device's editor replaces a V1 blob by a
// multi-page blob and erases the old entry, as the library's "earlier versions" path does.
func TestV1BlobReadAndReplace(t *testing.T) {
	old := bytes.Repeat([]byte{0xAB}, 100)
	img, err := nvs.Build([]nvs.Item{
		nvs.Blob("app", "cal", old),
		nvs.String("app", "name", "v1"),
	}, nvs.Options{Size: 0x4000, Version: nvs.V1})
	if err != nil {
		t.Fatal(err)
	}
	im, err := nvs.Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	r := im.Get("app", "cal")
	if r == nil || !r.V1 || !bytes.Equal(r.Data, old) || len(im.Findings) != 0 {
		t.Fatalf("V1 blob: %+v, findings %v", r, im.Findings)
	}
	if im.FormatVersion() != nvs.V1 {
		t.Errorf("format version %v", im.FormatVersion())
	}
	e, err := nvs.NewEditor(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Set(nvs.Blob("app", "cal", old)); err != nil {
		t.Fatal(err)
	}
	im2, err := nvs.Parse(e.Image())
	if err != nil {
		t.Fatal(err)
	}
	r = im2.Get("app", "cal")
	if r == nil || r.V1 || !bytes.Equal(r.Data, old) || len(im2.Findings) != 0 {
		t.Fatalf("after set: %+v, findings %v", r, im2.Findings)
	}
	n := 0
	for _, rec := range im2.Records {
		if rec.Key == "cal" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d records for app/cal, want 1 (the V1 entry must be erased)", n)
	}
}
