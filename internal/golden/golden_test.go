package golden

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestCopyMatchesShared fails when testdata/golden differs from the maintainers' master set
// of vectors (../shared/golden next to their checkout; see SharedRoot): run scripts/sync-golden
// to refresh the copy. In a clone of the repository the master set is absent and the test
// skips: the copy is then the vectors.
func TestCopyMatchesShared(t *testing.T) {
	shared, ok := SharedRoot()
	if !ok {
		t.Skip("../shared/golden not present; the copy under testdata/golden is used as is")
	}
	files := func(root string) map[string]bool {
		m := map[string]bool{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				m[rel] = true
			}
			return nil
		})
		return m
	}
	a, b := files(shared), files(Root())
	for f := range a {
		if !b[f] {
			t.Errorf("%s is in ../shared/golden but not in testdata/golden: run scripts/sync-golden", f)
			continue
		}
		x, _ := os.ReadFile(filepath.Join(shared, f))
		y, _ := os.ReadFile(filepath.Join(Root(), f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs from ../shared/golden: run scripts/sync-golden", f)
		}
	}
	for f := range b {
		if !a[f] {
			t.Errorf("%s is in testdata/golden but not in ../shared/golden: run scripts/sync-golden", f)
		}
	}
}

func TestLoadSuites(t *testing.T) {
	for _, s := range []string{"nvs-gen", "mfg-gen", "partition"} {
		cases, err := Load(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(cases) == 0 {
			t.Errorf("%s: no cases", s)
		}
		for _, c := range cases {
			if _, err := os.Stat(c.Dir); err != nil {
				t.Errorf("%s/%s: %v", s, c.Name, err)
			}
		}
	}
}
