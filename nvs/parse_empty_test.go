package nvs_test

import (
	"testing"

	"github.com/nvskit/nvskit/nvs"
)

// An empty string or blob reads back as an empty, non-nil value, whatever comes before it.
func TestParseEmptyValues(t *testing.T) {
	for _, items := range [][]nvs.Item{
		{nvs.Blob("ns", "eb", nil), nvs.String("ns", "es", "")},
		{nvs.Blob("ns", "b", []byte{1}), nvs.Blob("ns", "eb", nil), nvs.String("ns", "es", "")},
	} {
		img, err := nvs.Build(items, nvs.Options{Size: 0x3000})
		if err != nil {
			t.Fatal(err)
		}
		im, err := nvs.Parse(img)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"eb", "es"} {
			r := im.Get("ns", k)
			if r == nil || r.Data == nil {
				t.Errorf("%s: %+v, want an empty non-nil value", k, r)
			}
		}
	}
}
