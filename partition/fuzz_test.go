package partition

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/nvskit/nvskit/internal/golden"
)

// goldenInputs returns the inputs of the golden partition cases with the given extension.
func goldenInputs(f *testing.F, ext string) [][]byte {
	cases, err := golden.Load("partition")
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, c := range cases {
		for _, name := range []string{"input" + ext, "expected" + ext, "source" + ext} {
			if b, err := os.ReadFile(filepath.Join(c.Dir, name)); err == nil {
				out = append(out, b)
			}
		}
	}
	return out
}

func FuzzParseBinary(f *testing.F) {
	for _, b := range goldenInputs(f, ".bin") {
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, noMD5 bool) {
		if len(data) > 2*MaxLength {
			return // a table is at most MaxLength bytes; the rest is never read
		}
		opts := Options{DisableMD5: noMD5}
		tab, err := ParseBinary(data, opts)
		if err != nil {
			return
		}
		if tab.Verify(opts) != nil {
			return
		}
		var csv bytes.Buffer
		if err := tab.WriteCSV(&csv, opts); err != nil {
			t.Fatal(err)
		}
		bin, err := tab.EncodeBinary(opts)
		if err != nil {
			return // more rows than fit: possible after a table without MD5
		}
		back, err := ParseBinary(bin, opts)
		if err != nil {
			t.Fatalf("cannot read back its own binary: %v", err)
		}
		if !samePartitionsIgnoringLines(tab, back) {
			t.Fatalf("round trip changed the table:\n%+v\n%+v", tab.Partitions, back.Partitions)
		}
	})
}

func FuzzParseCSV(f *testing.F) {
	for _, b := range goldenInputs(f, ".csv") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return // larger inputs find nothing new and make the minimiser crawl
		}
		opts := Options{}
		tab, err := ParseCSV(bytes.NewReader(data), opts)
		if err != nil {
			return
		}
		if tab.Verify(opts) != nil {
			return
		}
		bin, err := tab.EncodeBinary(opts)
		if err != nil {
			return
		}
		if len(bin) != MaxLength {
			t.Fatalf("binary is %d bytes", len(bin))
		}
		for i := range tab.Partitions {
			if !utf8.Valid(tab.Partitions[i].Label()) {
				return // a name cut inside a character: unreadable, as with the reference
			}
		}
		back, err := Parse(bin, opts)
		if len(tab.Partitions) == 0 {
			if err == nil {
				t.Fatal("an empty table read back")
			}
			return
		}
		if err != nil {
			t.Fatalf("cannot read back its own binary: %v", err)
		}
		for i := range back.Partitions {
			p, q := tab.Partitions[i], back.Partitions[i]
			if p.Type != q.Type || p.SubType != q.SubType || p.Offset != q.Offset || p.Size != q.Size || p.Flags != q.Flags {
				t.Fatalf("row %d changed: %+v -> %+v", i, p, q)
			}
		}
	})
}
