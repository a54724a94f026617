package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestInspectJSONSnapshot pins the --json document of one small device image, so a change of
// the documented schema (docs/inspect-json.md) cannot go unnoticed. Rewrite the snapshot with
// NVSKIT_UPDATE_SNAPSHOT=1 only for a deliberate, documented change.
func TestInspectJSONSnapshot(t *testing.T) {
	var dir string
	for _, c := range deviceCases(t) {
		if c.Name == "powercut_raw_dup_0x3000" {
			dir = c.Dir
		}
	}
	for _, tc := range []struct {
		file string
		args []string
	}{
		{"inspect_powercut_raw_dup.json", []string{"inspect", "--json", "--show-secrets", "expected.bin"}},
		{"check_powercut_raw_dup.json", []string{"check", "--json", "expected.bin"}},
	} {
		_, out, stderr := run(t, dir, tc.args...)
		snap := filepath.Join("testdata", tc.file)
		if os.Getenv("NVSKIT_UPDATE_SNAPSHOT") != "" {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(snap, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(snap)
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want) {
			t.Errorf("%s changed (stderr %q):\n%s", tc.file, stderr, out)
		}
	}
}
