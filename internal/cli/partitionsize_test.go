package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGeneratePartitionTable(t *testing.T) {
	dir := t.TempDir()
	writeTemp(t, dir, "nvs.csv", "key,type,encoding,value\nns,namespace,,\nk1,data,u8,1\nk2,data,string,hello\n")
	writeTemp(t, dir, "p.csv", "nvs,data,nvs,,0x5000\nkeys,data,nvs_keys,,0x1000,encrypted\nfactory,app,factory,,1M\n")
	writeTemp(t, dir, "enc.csv", "nvs,data,nvs,,0x5000,encrypted\n")
	if code, _, errOut := runIn(t, dir, "generate", "nvs.csv", "want.bin", "0x5000"); code != 0 {
		t.Fatalf("plain generate: %s", errOut)
	}
	want, _ := os.ReadFile(filepath.Join(dir, "want.bin"))
	tests := []struct {
		name     string
		args     []string
		wantCode int
		stderr   string
	}{
		{"from table", []string{"nvs.csv", "a.bin", "--partition-table", "p.csv", "--partition", "nvs"}, 0, "offset 0x9000, size 0x5000"},
		{"same size", []string{"nvs.csv", "b.bin", "0x5000", "--partition-table", "p.csv", "--partition", "nvs"}, 0, ""},
		{"different size", []string{"nvs.csv", "c.bin", "0x6000", "--partition-table", "p.csv", "--partition", "nvs"}, 2, "differs from the size of partition \"nvs\""},
		{"table only", []string{"nvs.csv", "d.bin", "--partition-table", "p.csv"}, 2, "go together"},
		{"not nvs", []string{"nvs.csv", "e.bin", "--partition-table", "p.csv", "--partition", "keys"}, 2, "not an NVS partition"},
		{"missing", []string{"nvs.csv", "f.bin", "--partition-table", "p.csv", "--partition", "nv"}, 2, "the table has nvs, keys, factory"},
		{"encrypted flag", []string{"nvs.csv", "g.bin", "--partition-table", "enc.csv", "--partition", "nvs"}, 0, "ESP_ERR_NVS_WRONG_ENCRYPTION"},
		{"no size", []string{"nvs.csv", "h.bin"}, 2, "SIZE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runIn(t, dir, append([]string{"generate"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, tt.wantCode, errOut)
			}
			if !strings.Contains(errOut, tt.stderr) {
				t.Errorf("stderr lacks %q: %s", tt.stderr, errOut)
			}
			out := filepath.Join(dir, tt.args[1])
			got, err := os.ReadFile(out)
			if tt.wantCode != 0 {
				if err == nil {
					t.Errorf("%s written despite the error", tt.args[1])
				}
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the image made with SIZE", tt.args[1])
			}
		})
	}
}
