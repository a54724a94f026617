package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEncryptPartitionTable: encrypt takes SIZE from the table as generate does (the generate
// cases are in partitionsize_test.go).
func TestEncryptPartitionTable(t *testing.T) {
	kd := seedCase(t, "encrypt_seed_0x5000")
	os.WriteFile(filepath.Join(kd, "p.csv"), []byte("nvs,data,nvs,0x9000,0x5000,\n"), 0o644)
	if code, _, stderr := runIn(t, kd, "encrypt", "input.csv", "e.bin", "--partition-table", "p.csv", "--partition", "nvs", "--inputkey", "nvs_keys.bin"); code != 0 {
		t.Fatal(stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(kd, "e.bin")), mustRead(t, filepath.Join(kd, "expected.bin"))) {
		t.Error("encrypt with --partition-table differs")
	}
	if code, _, _ := runIn(t, kd, "encrypt", "input.csv", "f.bin", "0x6000", "--partition-table", "p.csv", "--partition", "nvs", "--inputkey", "nvs_keys.bin"); code == 0 {
		t.Error("a SIZE that differs from the table was accepted")
	}
}

func TestGenerateSummaryAndNoOverwrite(t *testing.T) {
	dir := seedCase(t, "seed_certs_0x6000")
	code, stdout, _ := runIn(t, dir, "generate", "input.csv", "o.bin", "0x6000")
	if code != 0 || !strings.Contains(stdout, "of 6 pages used") || !strings.Contains(stdout, "free") {
		t.Errorf("summary: %q", stdout)
	}
	csv := mustRead(t, filepath.Join(dir, "input.csv"))
	os.WriteFile(filepath.Join(dir, "input.bin"), csv, 0o644)
	if code, _, stderr := runIn(t, dir, "generate", "input.bin", "input.bin", "0x6000"); code == 0 || !strings.Contains(stderr, "overwrite") {
		t.Errorf("overwriting the input: exit %d %q", code, stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "input.bin")), csv) {
		t.Error("input overwritten")
	}
	if code, _, _ := runIn(t, dir, "generate", "input.csv", "sub/o.bin", "0x6000", "--outdir", "out"); code != 0 {
		t.Error("--outdir with a subdirectory failed")
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "sub", "o.bin")); err != nil {
		t.Error(err)
	}
}

// TestUsageExitCodes: mistakes in the command line itself exit 2, other failures 1.
func TestUsageExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"bogus"}, 2},
		{[]string{"generate", "a.csv"}, 2},
		{[]string{"decrypt", "x.bin", "y.bin"}, 2},
		{[]string{"generate", "--nope", "a.csv", "b.bin", "0x3000"}, 2},
		{[]string{"keys", "check"}, 2},
		{[]string{"generate", "missing.csv", "b.bin", "0x3000"}, 1},
	} {
		if code, _, stderr := runIn(t, dir, tc.args...); code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, stderr)
		}
	}
}
