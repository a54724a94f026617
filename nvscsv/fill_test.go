package nvscsv

import (
	"math/rand"
	"regexp"
	"testing"
)

// fillOracle is the regular expression parseFill replaces.
var fillOracle = regexp.MustCompile(`^(blob_fill|blob_sz_fill)\((\d+);0x([0-9a-fA-F]{2})\)$`)

func checkFill(t *testing.T, e string) {
	t.Helper()
	name, n, pad, ok := parseFill(e)
	m := fillOracle.FindStringSubmatch(e)
	if ok != (m != nil) {
		t.Fatalf("%q: parseFill ok=%v, regexp match=%v", e, ok, m != nil)
	}
	if ok && (name != m[1] || n != m[2] || pad != m[3]) {
		t.Fatalf("%q: parseFill (%q %q %q), regexp %q", e, name, n, pad, m[1:])
	}
}

func TestParseFill(t *testing.T) {
	for _, e := range []string{
		"blob_fill(16;0xff)", "blob_sz_fill(4000;0x00)", "blob_fill(0;0xAb)", "blob_fill(16;0xfff)",
		"blob_fill(16;0xf)", "blob_fill(;0xff)", "blob_fill(16,0xff)", "blob_fill(16;0xff", "blob_fill16;0xff)",
		"blob_fill(16;0xff))", "blob_fill(1 6;0xff)", "blob_fill(16;0x0x)", "blob_fill(16;0xff;0xff)",
		"blob_fill(16;0x;0xff)", "blob_fill(16;0xgg)", "blob_fill(١;0xff)", "BLOB_FILL(16;0xff)",
		"blob_sz_fill(16;0xff) ", "xblob_fill(16;0xff)", "blob_fill(-1;0xff)", "", "blob_fill()",
	} {
		checkFill(t, e)
	}
	// Random strings over the pattern's alphabet.
	rng := rand.New(rand.NewSource(1))
	parts := []string{"blob_fill(", "blob_sz_fill(", "1", "23", ";", "0x", "f", "A", "g", ")", "(", "x", " "}
	for i := 0; i < 20000; i++ {
		e := ""
		for k := rng.Intn(8); k >= 0; k-- {
			e += parts[rng.Intn(len(parts))]
		}
		checkFill(t, e)
	}
}

func FuzzParseFill(f *testing.F) {
	for _, s := range []string{"blob_fill(16;0xff)", "blob_sz_fill(4000;0x00)", "blob_fill(16;0x;0xff)", "blob_fill(;0xff)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, e string) { checkFill(t, e) })
}
