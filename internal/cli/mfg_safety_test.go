//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMfgModes checks that images and keys are created 0600 by default, that --mode sets the
// images' mode, and that the umask is never widened.
func TestMfgModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, tc := range []struct {
		name      string
		umask     int
		args      []string
		img, keys os.FileMode
	}{
		{"default", 0o022, nil, 0o600, 0o600},
		{"--mode 0644", 0o022, []string{"--mode", "0644"}, 0o644, 0o600},
		{"--mode 0644 under umask 077", 0o077, []string{"--mode", "0644"}, 0o600, 0o600},
		{"--mode 0666 under umask 027", 0o027, []string{"--mode", "0666"}, 0o640, 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			syscall.Umask(tc.umask)
			defer syscall.Umask(0o022)
			dir := writeFleet(t, goodRows...)
			args := append([]string{"mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--outdir", "out", "--fileid", "serial", "--keygen"}, tc.args...)
			if code, _, stderr := runIn(t, dir, args...); code != 0 {
				t.Fatal(stderr)
			}
			for p, want := range map[string]os.FileMode{"bin/n-SN-1.bin": tc.img, "keys/keys-n-SN-1.bin": tc.keys} {
				st, err := os.Stat(filepath.Join(dir, "out", p))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != want {
					t.Errorf("%s has mode %v, want %v", p, st.Mode().Perm(), want)
				}
			}
		})
	}
	dir := writeFleet(t, goodRows...)
	if code, _, stderr := runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--mode", "rw"); code != 2 || !strings.Contains(stderr, "--mode") {
		t.Errorf("bad --mode: exit %d %s", code, stderr)
	}
}

// TestMfgNoClobber checks that files mfg did not make in this run are not replaced without
// --force: a keys file next to a new image, a certificate, and a manifest.csv that is not
// nvskit's (the default --outdir is the current directory).
func TestMfgNoClobber(t *testing.T) {
	gen := func(dir string, extra ...string) (int, string) {
		args := append([]string{"mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--fileid", "serial"}, extra...)
		code, out, errs := runIn(t, dir, args...)
		return code, out + errs
	}
	t.Run("keys file", func(t *testing.T) {
		dir := writeFleet(t, goodRows...)
		os.MkdirAll(filepath.Join(dir, "out", "keys"), 0o700)
		mine := filepath.Join(dir, "out", "keys", "keys-n-SN-2.bin")
		os.WriteFile(mine, []byte("my keys"), 0o600)
		if code, out := gen(dir, "--outdir", "out", "--keygen"); code == 0 || !strings.Contains(out, "keys-n-SN-2.bin") || !strings.Contains(out, "--force") {
			t.Fatalf("exit %d: %s", code, out)
		}
		if b, _ := os.ReadFile(mine); string(b) != "my keys" {
			t.Fatal("the keys file was replaced")
		}
		if _, err := os.Stat(filepath.Join(dir, "out", "bin")); err == nil {
			t.Error("bin/ written by a refused run")
		}
		if code, out := gen(dir, "--outdir", "out", "--keygen", "--force"); code != 0 {
			t.Fatal(out)
		}
		if b, _ := os.ReadFile(mine); len(b) != 4096 {
			t.Error("--force did not replace the keys file")
		}
	})
	t.Run("manifest not made by nvskit", func(t *testing.T) {
		dir := writeFleet(t, goodRows...)
		os.WriteFile(filepath.Join(dir, "manifest.csv"), []byte("part,qty\nR1,10\n"), 0o644)
		if code, out := gen(dir); code == 0 || !strings.Contains(out, "not an nvskit manifest") {
			t.Fatalf("exit %d: %s", code, out)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "manifest.csv")); string(b) != "part,qty\nR1,10\n" {
			t.Fatal("the manifest was replaced")
		}
		if _, err := os.Stat(filepath.Join(dir, "bin")); err == nil {
			t.Error("bin/ written by a refused run")
		}
		if code, out := gen(dir, "--force"); code != 0 {
			t.Fatal(out)
		}
		// Its own manifest is nvskit's to update.
		if code, out := gen(dir); code != 0 {
			t.Fatal(out)
		}
	})
}

// TestMfgRecoversKilledRun leaves the staging directory of a run that never committed and one
// whose commit was cut short, and checks that the next run (with and without --resume)
// cleans up or finishes them, saying so.
func TestMfgRecoversKilledRun(t *testing.T) {
	dir := writeFleet(t, goodRows...)
	stage := filepath.Join(dir, "out", ".nvskit-mfg-staging-123")
	os.MkdirAll(filepath.Join(stage, "bin"), 0o700)
	os.WriteFile(filepath.Join(stage, "bin", "n-SN-9.bin"), []byte("half"), 0o600)
	code, _, stderr := runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--outdir", "out", "--fileid", "serial", "--keygen")
	if code != 0 {
		t.Fatal(stderr)
	}
	if !strings.Contains(stderr, "removed the staging directory of an earlier run") {
		t.Errorf("stderr %q does not report the cleanup", stderr)
	}
	if _, err := os.Stat(stage); err == nil {
		t.Error("the dead run's staging directory is still there")
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "bin", "n-SN-9.bin")); err == nil {
		t.Error("an uncommitted image was moved into place")
	}
}

// TestMfgLocked checks that a second run into a directory that a run holds is refused.
func TestMfgLocked(t *testing.T) {
	dir := writeFleet(t, goodRows...)
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o755)
	fd, err := syscall.Open(out, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Skip("no flock here:", err)
	}
	code, _, stderr := runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--outdir", "out")
	if code == 0 || !strings.Contains(stderr, "another nvskit mfg run") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if files := listFiles(t, out); len(files) != 0 {
		t.Errorf("files written: %v", files)
	}
}
