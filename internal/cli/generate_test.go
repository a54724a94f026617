package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const genTestTable = `# Name,   Type, SubType, Offset,   Size, Flags
nvs,      data, nvs,     0x9000,   0x6000,
nvs_keys, data, nvs_keys,0xf000,   0x1000, encrypted
enc_nvs,  data, nvs,     ,         0x3000, encrypted
factory,  app,  factory, 0x20000,  1M,
`

func TestGeneratePartitionTable(t *testing.T) {
	dir := seedCase(t, "seed_certs_0x6000")
	os.WriteFile(filepath.Join(dir, "partitions.csv"), []byte(genTestTable), 0o644)
	want := mustRead(t, filepath.Join(dir, "expected.bin"))
	ok := [][]string{
		{"generate", "input.csv", "a.bin", "--partition-table", "partitions.csv", "--partition", "nvs"},
		{"generate", "input.csv", "a.bin", "--partition-table", "partitions.csv"},
		{"generate", "input.csv", "a.bin", "0x6000", "--partition-table", "partitions.csv", "--partition", "nvs"},
		{"generate", "input.csv", "a.bin", "24576", "--partition-table", "partitions.csv"},
	}
	for _, args := range ok {
		os.Remove(filepath.Join(dir, "a.bin"))
		if code, _, stderr := runIn(t, dir, args...); code != 0 {
			t.Errorf("%v: %s", args, stderr)
			continue
		}
		if !bytes.Equal(mustRead(t, filepath.Join(dir, "a.bin")), want) {
			t.Errorf("%v: image differs", args)
		}
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"input.csv", "b.bin", "0x5000", "--partition-table", "partitions.csv"}, "differs from partition"},
		{[]string{"input.csv", "b.bin", "--partition-table", "partitions.csv", "--partition", "nope"}, "nvs_keys"},
		{[]string{"input.csv", "b.bin", "--partition-table", "partitions.csv", "--partition", "factory"}, "not data/nvs"},
		{[]string{"input.csv", "b.bin", "--partition", "nvs"}, "--partition-table"},
		{[]string{"input.csv", "b.bin", "--partition-table", "missing.csv"}, "missing.csv"},
	}
	for _, tc := range bad {
		code, _, stderr := runIn(t, dir, append([]string{"generate"}, tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want an error mentioning %q", tc.args, code, stderr, tc.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "b.bin")); err == nil {
			t.Errorf("%v: b.bin written", tc.args)
		}
	}
	_, _, stderr := runIn(t, dir, "generate", "input.csv", "c.bin", "--partition-table", "partitions.csv", "--partition", "enc_nvs")
	if !strings.Contains(stderr, "ESP_ERR_NVS_WRONG_ENCRYPTION") {
		t.Errorf("no warning about an encrypted NVS partition: %q", stderr)
	}
	// encrypt takes the size from the table too.
	kd := seedCase(t, "encrypt_seed_0x5000")
	os.WriteFile(filepath.Join(kd, "p.csv"), []byte("nvs,data,nvs,0x9000,0x5000,\n"), 0o644)
	if code, _, stderr := runIn(t, kd, "encrypt", "input.csv", "e.bin", "--partition-table", "p.csv", "--inputkey", "nvs_keys.bin"); code != 0 {
		t.Fatal(stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(kd, "e.bin")), mustRead(t, filepath.Join(kd, "expected.bin"))) {
		t.Error("encrypt with --partition-table differs")
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
