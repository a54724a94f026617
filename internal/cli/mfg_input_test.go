package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fleetConfig = `fleet,namespace,
serial,data,string
hw_rev,data,u8
batch,data,u16,REPEAT
cal,data,i64
cert,file,string
`

// writeFleet writes config.csv, values.csv (header + rows) and the files the rows name.
func writeFleet(t *testing.T, rows ...string) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "config.csv"), []byte(fleetConfig), 0o644))
	must(os.MkdirAll(filepath.Join(dir, "certs"), 0o755))
	for _, n := range []string{"a", "b", "c"} {
		must(os.WriteFile(filepath.Join(dir, "certs", n+".pem"), []byte("-----CERT "+n+"-----\n"), 0o644))
	}
	values := "id,serial,hw_rev,batch,cal,cert\n" + strings.Join(rows, "\n") + "\n"
	must(os.WriteFile(filepath.Join(dir, "values.csv"), []byte(values), 0o644))
	return dir
}

var goodRows = []string{
	"1,SN-1,3,42,-9000000000,certs/a.pem",
	"2,SN-2,3,,1,certs/b.pem",
	"3,SN-3,4,,2,certs/c.pem",
}

func TestMfgBadInput(t *testing.T) {
	tests := []struct {
		name string
		rows []string
		want []string // substrings of the error
	}{
		{"too few values", []string{goodRows[0], "2,SN-2,3,,1"},
			[]string{"values.csv:3:", "has 5 values but the header has 6", "column 6 (cert)"}},
		{"too many values", []string{goodRows[0], "2,SN-2,3,,1,certs/b.pem,x"},
			[]string{"values.csv:3:", "column 7 is extra"}},
		{"duplicate id", []string{goodRows[0], goodRows[1], "3,SN-1,4,,2,certs/c.pem"},
			[]string{"values.csv:4:", "column 2 (serial)", "duplicate file id \"SN-1\"", "row 1"}},
		{"u8 out of range", []string{goodRows[0], "2,SN-2,300,,1,certs/b.pem"},
			[]string{"values.csv:3:", "column 3 (hw_rev)", "out of range for u8"}},
		{"not a number", []string{goodRows[0], "2,SN-2,3,,x1,certs/b.pem"},
			[]string{"values.csv:3:", "column 5 (cal)", "not a decimal integer"}},
		{"missing file", []string{goodRows[0], "2,SN-2,3,,1,certs/nope.pem"},
			[]string{"values.csv:3:", "column 6 (cert)", "certs/nope.pem"}},
		{"id is a path", []string{goodRows[0], "2,../x,3,,1,certs/b.pem"},
			[]string{"values.csv:3:", "column 2 (serial)", "file name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFleet(t, tc.rows...)
			code, _, stderr := runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "n", "0x3000",
				"--outdir", "out", "--fileid", "serial")
			if code == 0 {
				t.Fatal("exit 0, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error %q does not contain %q", stderr, w)
				}
			}
			if !strings.Contains(stderr, "nothing was written") {
				t.Errorf("error %q does not say nothing was written", stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
				t.Errorf("out/ exists after a failed run: %v", listFiles(t, filepath.Join(dir, "out")))
			}
		})
	}
}

func TestMfgBadInputKeepsExistingOutdir(t *testing.T) {
	dir := writeFleet(t, goodRows[0], "2,SN-2,300,,1,certs/b.pem")
	os.MkdirAll(filepath.Join(dir, "out"), 0o755)
	code, _, _ := runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--outdir", "out", "--fileid", "serial")
	if code == 0 {
		t.Fatal("exit 0")
	}
	if files := listFiles(t, filepath.Join(dir, "out")); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "out")); len(ents) != 0 {
		t.Errorf("entries left in out/: %v", ents)
	}
}

func TestMfgKeepGoing(t *testing.T) {
	dir := writeFleet(t, goodRows[0], "2,SN-2,300,,1,certs/b.pem", goodRows[2], "4,SN-4,3")
	code, _, stderr := runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "n", "0x3000",
		"--outdir", "out", "--fileid", "serial", "--keep-going")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	got := listFiles(t, filepath.Join(dir, "out"))
	want := []string{"bin/n-SN-1.bin", "bin/n-SN-3.bin", "manifest.csv"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v", got, want)
	}
	recs := checkManifest(t, dir, "out", 0)
	status := map[string]string{}
	for _, r := range recs[1:] {
		status[r[0]] = r[2]
		if r[2] == "failed" && !strings.Contains(r[7], "values.csv:") {
			t.Errorf("failed row without a located error: %v", r)
		}
	}
	if len(recs) != 5 || status["SN-1"] != "written" || status["SN-2"] != "failed" || status["SN-3"] != "written" || status["SN-4"] != "failed" {
		t.Errorf("manifest %v", recs)
	}
}

func TestMfgRerunResumeForce(t *testing.T) {
	dir := writeFleet(t, goodRows...)
	gen := func(extra ...string) (int, string) {
		args := append([]string{"mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--outdir", "out", "--fileid", "serial"}, extra...)
		code, out, errs := runIn(t, dir, args...)
		return code, out + errs
	}
	statuses := func() string {
		recs := checkManifest(t, dir, "out", 0)
		var s []string
		for _, r := range recs[1:] {
			s = append(s, r[2])
		}
		return strings.Join(s, ",")
	}
	if code, out := gen(); code != 0 {
		t.Fatal(out)
	}
	// Deterministic images: a plain rerun finds them identical and writes nothing.
	if code, out := gen(); code != 0 || statuses() != "unchanged,unchanged,unchanged" {
		t.Fatalf("rerun: %d %s %s", code, out, statuses())
	}
	// A different image on disk is refused without --force, and nothing changes.
	img := filepath.Join(dir, "out", "bin", "n-SN-2.bin")
	os.WriteFile(img, []byte("tampered"), 0o644)
	manifest, _ := os.ReadFile(filepath.Join(dir, "out", "manifest.csv"))
	if code, out := gen(); code == 0 || !strings.Contains(out, "already exists") || !strings.Contains(out, "--force") {
		t.Fatalf("rerun over a different image: %d %s", code, out)
	}
	if b, _ := os.ReadFile(img); string(b) != "tampered" {
		t.Fatal("the refused run overwrote the image")
	}
	if m, _ := os.ReadFile(filepath.Join(dir, "out", "manifest.csv")); string(m) != string(manifest) {
		t.Fatal("the refused run changed the manifest")
	}
	// --resume does not trust it either (its hash is not the manifest's).
	if code, _ := gen("--resume"); code == 0 {
		t.Fatal("--resume accepted a tampered image")
	}
	if code, out := gen("--force"); code != 0 || statuses() != "unchanged,replaced,unchanged" {
		t.Fatalf("--force: %d %s %s", code, out, statuses())
	}
	// Per-device keys: a rerun would make new keys; --resume keeps the devices done.
	os.RemoveAll(filepath.Join(dir, "out"))
	if code, out := gen("--keygen"); code != 0 {
		t.Fatal(out)
	}
	keys1, _ := os.ReadFile(filepath.Join(dir, "out", "keys", "keys-n-SN-1.bin"))
	if code, _ := gen("--keygen"); code == 0 {
		t.Fatal("a --keygen rerun overwrote encrypted images without --force")
	}
	if code, out := gen("--keygen", "--resume"); code != 0 || statuses() != "skipped,skipped,skipped" {
		t.Fatalf("--resume: %d %s %s", code, out, statuses())
	}
	keys2, _ := os.ReadFile(filepath.Join(dir, "out", "keys", "keys-n-SN-1.bin"))
	if string(keys1) != string(keys2) || len(keys1) != 4096 {
		t.Fatal("--resume changed the keys")
	}
	recs := checkManifest(t, dir, "out", 0)
	if recs[1][5] != "keys/keys-n-SN-1.bin" {
		t.Errorf("skipped row lost its keys file: %v", recs[1])
	}
}

func TestMfgProgressOnlyOnTerminal(t *testing.T) {
	for _, term := range []bool{false, true} {
		dir := writeFleet(t, goodRows...)
		var out, errb strings.Builder
		code := Run([]string{"mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--outdir", "out"},
			Env{Dir: dir, Stdout: &out, Stderr: &errb, Terminal: term})
		if code != 0 {
			t.Fatal(errb.String())
		}
		drew := strings.Contains(errb.String(), "3/3 devices")
		if drew != term {
			t.Errorf("terminal %v: stderr %q", term, errb.String())
		}
	}
}
