package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
	"github.com/nvskit/nvskit/nvs"
)

// TestMfgGolden runs every mfg-gen golden case through nvskit mfg generate. Success cases must
// produce every expected image and keys file byte for byte (the reference's per-device CSVs,
// aux_files, are deliberately not produced); error cases must fail and leave no output.
func TestMfgGolden(t *testing.T) {
	cases, err := golden.Load("mfg-gen")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			dir := t.TempDir()
			if err := c.CopyTo(dir); err != nil {
				t.Fatal(err)
			}
			before := listFiles(t, dir)
			args := append([]string{"mfg"}, c.Args...)
			code, stdout, stderr := runIn(t, dir, args...)
			if c.Name == "mfg_err_u64_not_allowed" {
				// Deliberate departure: mfg_gen.py refuses i16, u64 and i64 in the config
				// ("has invalid encoding at line no:2") although its generator supports them.
				// nvskit accepts every generator type, so this case succeeds: each device's
				// image holds the u64 as nvskit generate would store it.
				if code != 0 {
					t.Fatalf("exit %d, want 0 (nvskit accepts u64 in mfg configs)\n%s%s", code, stdout, stderr)
				}
				for i, v := range []uint64{1, 2} {
					img, err := os.ReadFile(filepath.Join(dir, "out", "bin", "u-"+string(rune('1'+i))+".bin"))
					if err != nil {
						t.Fatal(err)
					}
					want, err := nvs.Build([]nvs.Item{nvs.Namespace("dev"), nvs.Uint("dev", "big", nvs.TypeU64, v)},
						nvs.Options{Size: 0x3000})
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(img, want) {
						t.Errorf("device %d: the image is not the u64 %d in namespace dev", i+1, v)
					}
				}
				return
			}
			if c.Expect.Error {
				if code == 0 {
					t.Fatalf("exit 0, want an error (reference: %q)\n%s", c.Expect.MessageContains, stdout)
				}
				if after := listFiles(t, dir); strings.Join(after, "\n") != strings.Join(before, "\n") {
					t.Errorf("the failed run left files behind: %v", diffList(after, before))
				}
				if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
					t.Errorf("the failed run created the output directory")
				}
				t.Logf("error (reference: %q): %s", c.Expect.MessageContains, strings.TrimSpace(stderr))
				return
			}
			if code != c.Expect.ExitCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, c.Expect.ExitCode, stdout, stderr)
			}
			for out, exp := range c.Expect.Files {
				got, err := os.ReadFile(filepath.Join(dir, out))
				if err != nil {
					t.Errorf("%s: %v", out, err)
					continue
				}
				want, err := os.ReadFile(filepath.Join(c.Dir, exp))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from %s", out, exp)
				}
				if strings.Contains(out, "/keys/") {
					if st, _ := os.Stat(filepath.Join(dir, out)); st.Mode().Perm() != 0o600 {
						t.Errorf("%s has mode %v, want 0600", out, st.Mode().Perm())
					}
				}
			}
			// No plaintext per-device CSV, no *_tmp.csv next to the inputs.
			for _, f := range listFiles(t, dir) {
				if strings.HasSuffix(f, ".csv") && f != "out/manifest.csv" && !contains(before, f) {
					t.Errorf("unexpected CSV %s", f)
				}
			}
			checkManifest(t, dir, "out", len(c.Expect.Files))
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func diffList(a, b []string) []string {
	var d []string
	for _, x := range a {
		if !contains(b, x) {
			d = append(d, x)
		}
	}
	return d
}

// checkManifest checks that the manifest lists every image with its SHA-256.
func checkManifest(t *testing.T, dir, outdir string, minRows int) [][]string {
	t.Helper()
	f, err := os.ReadFile(filepath.Join(dir, outdir, "manifest.csv"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(f)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "file_id,row,status,image,sha256,keys,cert,error" {
		t.Fatalf("manifest header %v", recs[0])
	}
	for _, r := range recs[1:] {
		if r[2] == "failed" {
			continue
		}
		img, err := os.ReadFile(filepath.Join(dir, outdir, r[3]))
		if err != nil {
			t.Errorf("manifest row %v: %v", r, err)
			continue
		}
		if got := sha256hex(img); got != r[4] {
			t.Errorf("manifest says %s has sha256 %s, it has %s", r[3], r[4], got)
		}
	}
	return recs
}

func TestMfgJSONSummary(t *testing.T) {
	cases, _ := golden.Load("mfg-gen")
	for _, c := range cases {
		if c.Name != "mfg_fleet_basic" {
			continue
		}
		dir := t.TempDir()
		c.CopyTo(dir)
		code, stdout, stderr := runIn(t, dir, append(append([]string{"mfg"}, c.Args...), "--json")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var s mfgSummary
		if err := json.Unmarshal([]byte(stdout), &s); err != nil {
			t.Fatalf("%v\n%s", err, stdout)
		}
		if !s.OK || s.Devices != 5 || s.Written != 5 || s.Manifest != filepath.Join("out", "manifest.csv") {
			t.Errorf("summary %+v", s)
		}
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
