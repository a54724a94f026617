package nvscsv_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/nvscsv"
)

// BenchmarkGenerateSeed makes the seed_certs_0x6000 golden image in memory: CSV parsing, file
// rows (already in memory) and layout.
func BenchmarkGenerateSeed(b *testing.B) {
	dir := filepath.Join("..", "testdata", "golden", "nvs-gen", "seed_certs_0x6000")
	csv, err := os.ReadFile(filepath.Join(dir, "input.csv"))
	if err != nil {
		b.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(dir, "expected.bin"))
	files := map[string][]byte{}
	opts := nvscsv.Options{ReadFile: func(name string) ([]byte, error) {
		if f, ok := files[name]; ok {
			return f, nil
		}
		f, err := os.ReadFile(filepath.Join(dir, name))
		files[name] = f
		return f, err
	}}
	var img []byte
	for b.Loop() {
		rows, _, err := nvscsv.ParseFile("input.csv", bytes.NewReader(csv), opts)
		if err != nil {
			b.Fatal(err)
		}
		items := make([]nvs.Item, len(rows))
		for i := range rows {
			items[i] = rows[i].Item
		}
		if img, err = nvs.Build(items, nvs.Options{Size: 0x6000}); err != nil {
			b.Fatal(err)
		}
	}
	if !bytes.Equal(img, want) {
		b.Fatal("image differs from the golden one")
	}
}
