package nvs_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
	"github.com/nvskit/nvskit/nvs"
)

// genImage is one image made by the reference generator: a case's output with the keys that
// decrypt it (nil for plain images).
type genImage struct {
	Case  golden.Case
	Path  string
	Keys  *nvs.Keys
	Quirk string
}

func genImages(t *testing.T) []genImage {
	t.Helper()
	cases, err := golden.Load("nvs-gen")
	if err != nil {
		t.Fatal(err)
	}
	var out []genImage
	for _, c := range cases {
		if c.Expect.Error || len(c.Args) == 0 || c.Args[0] == "generate-key" {
			continue
		}
		out1, ok := c.Expect.Files["out.bin"]
		if !ok {
			continue
		}
		g := genImage{Case: c, Path: filepath.Join(c.Dir, out1), Quirk: c.Quirk}
		if c.Args[0] == "encrypt" {
			var kb []byte
			if i := slices.Index(c.Args, "--inputkey"); i >= 0 {
				kb, err = os.ReadFile(filepath.Join(c.Dir, c.Args[i+1]))
			} else {
				kb, err = os.ReadFile(filepath.Join(c.Dir, c.Expect.Files["keys/derived_keys.bin"]))
			}
			if err != nil {
				t.Fatal(err)
			}
			k, err := nvs.ParseKeysPartition(kb)
			if err != nil {
				k, err = nvs.KeysFromBytes(kb)
				if err != nil {
					t.Fatal(err)
				}
			}
			g.Keys = &k
		}
		out = append(out, g)
	}
	if len(out) < 40 {
		t.Fatalf("only %d generator images", len(out))
	}
	return out
}

func parseGen(t *testing.T, g genImage) *nvs.Image {
	t.Helper()
	b, err := os.ReadFile(g.Path)
	if err != nil {
		t.Fatal(err)
	}
	var im *nvs.Image
	if g.Keys != nil {
		im, err = nvs.ParseWithKeys(b, *g.Keys)
	} else {
		im, err = nvs.Parse(b)
	}
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// genFindings lists, by case name, the finding codes a generator image is expected to have:
// the reference's quirks that leave something the device does not read as written.
var genFindings = map[string][]string{
	// Two rows with the same key: both entries are written; the device's mount keeps the
	// newer one and erases the older.
	"duplicate_keys": {"duplicate-key"},
	// Rows before any namespace row are written with namespace index 0: the device takes the
	// u8 among them for a namespace definition and ignores the others.
	"first_row_not_namespace_quirk": {"namespace-index-0"},
	// "STRING" (upper case) is stored without its NUL.
	"encoding_uppercase_quirk": {"string-no-nul"},
}

// TestGeneratorImagesParse: every image the reference generator made parses with no findings,
// except the quirk cases named in genFindings, which give exactly the findings listed.
func TestGeneratorImagesParse(t *testing.T) {
	for _, g := range genImages(t) {
		t.Run(g.Case.Name, func(t *testing.T) {
			im := parseGen(t, g)
			var codes []string
			for _, f := range im.Findings {
				if !slices.Contains(codes, f.Code) {
					codes = append(codes, f.Code)
				}
			}
			want := genFindings[g.Case.Name]
			if !slices.Equal(codes, want) {
				for _, f := range im.Findings {
					t.Log(f)
				}
				t.Errorf("finding codes %v, want %v", codes, want)
			}
			if len(im.Records) == 0 && g.Case.Name != "header_only_empty_image" {
				t.Errorf("no records")
			}
		})
	}
}
