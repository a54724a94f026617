package golden

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Root returns the absolute path of testdata/golden in this module.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "golden")
}

// SharedRoot returns the maintainers' master set of vectors, ../shared/golden next to the
// module's directory, and whether it exists (it does not in a clone of the repository).
func SharedRoot() (string, bool) {
	p := filepath.Join(Root(), "..", "..", "..", "shared", "golden")
	st, err := os.Stat(p)
	return p, err == nil && st.IsDir()
}

// Case is one entry of a suite's cases.json.
type Case struct {
	Name        string            `json:"name"`
	Tool        string            `json:"tool"`
	Args        []string          `json:"args"`
	Cwd         string            `json:"cwd"`
	Description string            `json:"description"`
	Quirk       string            `json:"quirk"`
	Direction   string            `json:"direction"`
	Expect      Expect            `json:"expect"`
	SHA256      map[string]string `json:"sha256"`
	// Dir is the case's folder (filled in by Load).
	Dir string `json:"-"`
	// Raw is the case's whole JSON object, for suite-specific fields.
	Raw json.RawMessage `json:"-"`
}

// Expect is what a case expects of the tool.
type Expect struct {
	ExitCode          int               `json:"exit_code"`
	Files             map[string]string `json:"files"`
	AuxFiles          map[string]string `json:"aux_files"`
	Bin               string            `json:"bin"`
	Output            string            `json:"output"`
	Stdout            string            `json:"stdout"`
	Error             bool              `json:"error"`
	MessageContains   string            `json:"message_contains"`
	ReferenceExitCode int               `json:"reference_exit_code"`
	ReferenceOutAfter string            `json:"reference_out_bin_after"`
	ReferenceWarnings []string          `json:"reference_warnings"`
}

// Load reads the cases.json of a suite ("nvs-gen", "mfg-gen", "partition").
func Load(suite string) ([]Case, error) {
	dir := filepath.Join(Root(), suite)
	data, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		return nil, err
	}
	var doc struct {
		Cases []json.RawMessage `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s/cases.json: %w", suite, err)
	}
	cases := make([]Case, len(doc.Cases))
	for i, raw := range doc.Cases {
		if err := json.Unmarshal(raw, &cases[i]); err != nil {
			return nil, fmt.Errorf("%s/cases.json case %d: %w", suite, i, err)
		}
		cases[i].Raw = raw
		cases[i].Dir = filepath.Join(dir, cases[i].Name)
	}
	return cases, nil
}

// CopyTo copies the case folder into dst (which must exist), so a tool can run there
// without touching the golden copy.
func (c *Case) CopyTo(dst string) error {
	return filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(c.Dir, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
