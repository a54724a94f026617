package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
	"github.com/nvskit/nvskit/partition"
)

func writeTemp(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const testTable = `# Name,   Type, SubType, Offset,  Size, Flags
nvs,      data, nvs,     ,        0x6000,
phy_init, data, phy,     ,        0x1000,
factory,  app,  factory, ,        1M,
`

func TestPartitionsCheck(t *testing.T) {
	tests := []struct {
		name     string
		csv      string
		args     []string
		wantCode int
		want     []string
	}{
		{"ok", testTable, nil, 0, []string{"OK: 3 partitions"}},
		{"nvs encrypted", "nvs, data, nvs, , 0x6000, encrypted\n", nil, 1,
			[]string{"ESP_ERR_NVS_WRONG_ENCRYPTION", "[nvs-encrypted]"}},
		{"keys not encrypted", "nvs, data, nvs, , 0x6000\nkeys, data, nvs_keys, , 0x1000\n", nil, 0,
			[]string{"ESP_ERR_NVS_CORRUPT_KEY_PART", "[nvs-keys-not-encrypted]"}},
		{"keys encrypted", "nvs, data, nvs, , 0x6000\nkeys, data, nvs_keys, , 0x1000, encrypted\n", nil, 0,
			[]string{"OK"}},
		{"small nvs rw", "nvs, data, nvs, , 0x2000\n", nil, 1, []string{"must be flagged as 'readonly'", "[nvs-too-small]"}},
		{"small nvs ro", "nvs, data, nvs, , 0x2000, readonly\n", nil, 0, []string{"read-only NVS", "[nvs-read-only]"}},
		{"large nvs", "nvs, data, nvs, , 1M\n", nil, 0, []string{"RAM use and mount time", "[nvs-large]", "1 partition: 0 errors, 1 warning or note"}},
		{"large nvs threshold", "nvs, data, nvs, , 1M\n", []string{"--nvs-large", "2M"}, 0, []string{"OK"}},
		{"flash size", testTable, []string{"--flash-size", "1MB"}, 1, []string{"does not fit in a flash of 1MB", "factory", "3 partitions: 1 error, 0 warnings"}},
		{"one partition", "nvs, data, nvs, , 0x6000\n", nil, 0, []string{"OK: 1 partition, no problems"}},
		{"name warning", "app, data, nvs, , 0x6000\n", nil, 0, []string{"warning:", "is a partition type"}},
		{"overlap", "a, data, nvs, 0x9000, 0x6000\nb, data, 0x40, 0xa000, 0x1000\n", nil, 1, []string{"partitions overlap"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTemp(t, dir, "p.csv", tt.csv)
			code, out, errOut := runIn(t, dir, append([]string{"partitions", "check", "p.csv"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.wantCode, out, errOut)
			}
			flat := strings.Join(strings.Fields(out+errOut), " ")
			for _, w := range tt.want {
				if !strings.Contains(flat, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errOut)
				}
			}
			for _, l := range strings.Split(out, "\n") {
				if len(l) > 80 {
					t.Errorf("line over 80 columns: %q", l)
				}
			}
		})
	}
}

func TestPartitionsCheckJSON(t *testing.T) {
	dir := t.TempDir()
	writeTemp(t, dir, "p.csv", "nvs, data, nvs, , 0x6000, encrypted\n")
	code, out, _ := runIn(t, dir, "partitions", "check", "--json", "p.csv")
	if code != 1 {
		t.Errorf("exit %d", code)
	}
	var got struct {
		OK       bool
		Findings []struct {
			Severity, Code, Partition string
			Line                      int
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.OK || len(got.Findings) != 1 || got.Findings[0].Code != "nvs-encrypted" || got.Findings[0].Severity != "error" ||
		got.Findings[0].Partition != "nvs" || got.Findings[0].Line != 1 {
		t.Errorf("got %+v", got)
	}
}

func TestPartitionsShow(t *testing.T) {
	dir := t.TempDir()
	writeTemp(t, dir, "p.csv", testTable)
	code, out, errOut := runIn(t, dir, "partitions", "show", "p.csv", "--flash-size", "4MB")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{"nvs       data  nvs      0x9000   0xf000    24K\n", "0x00009000-0x0000efff     24K  nvs (data/nvs)",
		"0x00110000-0x003fffff    2.9M  (free)", "(not in the table"} {
		if !strings.Contains(out, w) {
			t.Errorf("show lacks %q:\n%s", w, out)
		}
	}
	// The same table as a binary, and inside a flash dump.
	t0, err := partition.Parse([]byte(testTable), partition.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := t0.MarshalBinary()
	dump := bytes.Repeat([]byte{0xFF}, 0x20000)
	copy(dump[0x8000:], bin)
	os.WriteFile(filepath.Join(dir, "p.bin"), bin, 0o644)
	os.WriteFile(filepath.Join(dir, "dump.bin"), dump, 0o644)
	for _, args := range [][]string{{"p.bin"}, {"dump.bin"}, {"dump.bin", "--offset", "0x8000"}} {
		code, out2, errOut := runIn(t, dir, append([]string{"partitions", "show", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var got struct {
			TableOffset uint32 `json:"table_offset"`
			Partitions  []partitionJSON
			Valid       bool
		}
		if err := json.Unmarshal([]byte(out2), &got); err != nil {
			t.Fatal(err)
		}
		if !got.Valid || got.TableOffset != 0x8000 || len(got.Partitions) != 3 || got.Partitions[2].Name != "factory" ||
			got.Partitions[2].Offset != 0x10000 || got.Partitions[2].End != 0x110000 || got.Partitions[0].SubtypeName != "nvs" {
			t.Errorf("%v: %+v", args, got)
		}
	}
	code, _, errOut = runIn(t, dir, "partitions", "show", "dump.bin", "--offset", "0x9000")
	if code == 0 || !strings.Contains(errOut, "no partition table at 0x9000") {
		t.Errorf("wrong offset in a dump: exit %d %s", code, errOut)
	}
}

func TestPartitionsConvertArgs(t *testing.T) {
	dir := t.TempDir()
	writeTemp(t, dir, "p.csv", testTable)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"stdout", []string{"p.csv"}, 0, ""},
		{"dash", []string{"p.csv", "-"}, 0, ""},
		{"secure bare at end", []string{"p.csv", "o1.bin", "--secure"}, 0, ""},
		{"secure bad value", []string{"--secure", "p.csv", "o2.bin"}, 2, "choose v1 or v2"},
		{"flash-size bare", []string{"p.csv", "o3.bin", "--flash-size"}, 0, ""},
		{"flash-size bad", []string{"p.csv", "o4.bin", "--flash-size", "3MB"}, 2, "choose one of"},
		{"offset hex", []string{"-o", "0x9000", "p.csv", "o5.bin"}, 0, ""},
		{"offset suffix", []string{"--offset", "36K", "p.csv", "o6.bin"}, 2, "(36K is 0x9000)"},
		{"verify no-op", []string{"-v", "-q", "p.csv", "o7.bin"}, 0, ""},
		{"too many args", []string{"p.csv", "a.bin", "b.bin"}, 2, "3 arguments given; usage: nvskit partitions convert INPUT [OUTPUT]"},
		{"same file", []string{"p.csv", "p.csv"}, 2, "overwrite an input"},
		{"missing input", []string{"nope.csv"}, 1, "nope.csv"},
		{"extra bad", []string{"p.csv", "o8.bin", "--extra-partition-subtypes", "dat, x, 40"}, 2, "is not one of"},
		{"bootloader above table", []string{"p.csv", "o9.bin", "--primary-bootloader-offset", "0x8000"}, 2, "must be below the partition table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runIn(t, dir, append([]string{"partitions", "convert"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, tt.wantCode, errOut)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr lacks %q: %s", tt.want, errOut)
			}
			if tt.name == "stdout" && len(out) != partition.MaxLength {
				t.Errorf("stdout has %d bytes, want the binary table", len(out))
			}
		})
	}
}

// TestPartitionsShowWidth runs show and check on every golden input: no crash, and text that
// fits 80 columns.
func TestPartitionsShowWidth(t *testing.T) {
	unsetPartitionEnv(t)
	cases, err := golden.Load("partition")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		for _, in := range []string{"input.csv", "input.bin"} {
			if _, err := os.Stat(filepath.Join(c.Dir, in)); err != nil {
				continue
			}
			for _, cmd := range []string{"show", "check"} {
				code, out, errOut := runIn(t, c.Dir, "partitions", cmd, in, "--primary-bootloader-offset", "0x1000", "--recovery-bootloader-offset", "0x400000")
				if code != 0 && !strings.Contains(errOut, "nvskit: ") && !(cmd == "check" && strings.Contains(out, " error")) {
					t.Errorf("%s %s %s: exit %d without a message: %q", c.Name, cmd, in, code, errOut)
				}
				for _, l := range strings.Split(out, "\n") {
					if len(l) > 80 {
						t.Errorf("%s %s: line over 80 columns: %q", c.Name, cmd, l)
					}
				}
			}
		}
	}
}

func TestNVSPartition(t *testing.T) {
	dir := t.TempDir()
	writeTemp(t, dir, "p.csv", testTable)
	env := &Env{Dir: dir}
	p, err := nvsPartition(env, "p.csv", "nvs")
	if err != nil || p.Offset != 0x9000 || p.Size != 0x6000 {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := nvsPartition(env, "p.csv", "factory"); err == nil || !strings.Contains(err.Error(), "not an NVS partition") {
		t.Errorf("factory: %v", err)
	}
	if _, err := nvsPartition(env, "p.csv", "nv"); !errors.Is(err, partition.ErrNotFound) || !strings.Contains(err.Error(), "nvs, phy_init, factory") {
		t.Errorf("missing: %v", err)
	}
}

func TestPartitionsCheckNVSData(t *testing.T) {
	dir := t.TempDir()
	writeTemp(t, dir, "nvs.csv", "key,type,encoding,value\nns,namespace,,\nk1,data,u8,1\nk2,data,string,hello\n")
	var many strings.Builder
	many.WriteString("key,type,encoding,value\nns,namespace,,\n")
	for i := 0; i < 300; i++ {
		many.WriteString("k" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ",data,string," + strings.Repeat("v", 60) + "\n")
	}
	writeTemp(t, dir, "many.csv", many.String())
	writeTemp(t, dir, "big.csv", "nvs,data,nvs,,1M\nfactory,app,factory,,1M\nfctry,data,nvs,,0x10000\nro,data,nvs,,0x10000,readonly\n")
	writeTemp(t, dir, "small.csv", "store,data,nvs,,0x3000\nfactory,app,factory,,1M\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"main nvs: no size advice", []string{"big.csv", "--nvs-csv", "nvs.csv"}, 0, "the data in nvs.csv fills 1 of the 256 pages of NVS partition \"nvs\""},
		{"main nvs: asked", []string{"big.csv", "--nvs-csv", "nvs.csv", "--nvs-csv-only"}, 0, "has 256 pages but the data in nvs.csv fills 1, and the partition holds nothing else"},
		{"factory partition", []string{"big.csv", "--nvs-csv", "nvs.csv", "--partition", "fctry"}, 0, "so 0x4000 (4 pages, room to grow) would do"},
		{"read-only partition", []string{"big.csv", "--nvs-csv", "nvs.csv", "--partition", "ro"}, 0, "so 0x4000 (4 pages, room to grow) would do"},
		{"fits", []string{"small.csv", "--nvs-csv", "nvs.csv"}, 0, "OK: 2 partitions"},
		{"too full", []string{"small.csv", "--nvs-csv", "many.csv"}, 1, "[nvs-data-too-large]"},
		{"not nvs", []string{"small.csv", "--nvs-csv", "nvs.csv", "--partition", "factory"}, 1, "not an NVS partition"},
		{"no such partition", []string{"small.csv", "--nvs-csv", "nvs.csv", "--partition", "nvs"}, 1, "no partition \"nvs\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runIn(t, dir, append([]string{"partitions", "check"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.wantCode, out, errOut)
			}
			if flat := strings.Join(strings.Fields(out), " "); !strings.Contains(flat, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}
