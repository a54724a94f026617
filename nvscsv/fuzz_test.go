package nvscsv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/nvs"
)

// FuzzParse feeds random CSV text to the parser and builds whatever it accepts: neither may
// panic, and every accepted row must pass the item checks.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "testdata", "golden", "nvs-gen", "*", "*.csv"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil && len(b) < 8192 {
			f.Add(b)
		}
	}
	f.Add([]byte("key,type,encoding,value\nns,namespace,,\nk,data,\"u8\",\"1\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2048 {
			return // larger inputs find nothing new and make the minimiser crawl
		}
		rows, _, err := ParseFile("f.csv", strings.NewReader(string(data)), Options{
			ReadFile: func(string) ([]byte, error) { return []byte("42"), nil },
		})
		if err != nil {
			return
		}
		b, _ := nvs.NewBuilder(nvs.Options{Size: 0x10000})
		for _, r := range rows {
			if err := b.Add(r.Item); err != nil {
				t.Fatalf("%s:%d: accepted by the parser, refused by the builder: %v", r.File, r.Line, err)
			}
		}
		b.Image()
	})
}
