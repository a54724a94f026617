//go:build linux || darwin

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
)

// TestConcurrentSetKeepsBoth runs two set commands of different keys on one image at the
// same time, many times: both keys must be there every time.
func TestConcurrentSetKeepsBoth(t *testing.T) {
	dir := safetyFixture(t)
	base := mustRead(t, filepath.Join(dir, "nvs.bin"))
	trials := 60
	if testing.Short() {
		trials = 20
	}
	for i := 0; i < trials; i++ {
		img := filepath.Join(dir, "img.bin")
		if err := os.WriteFile(img, base, 0o600); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for j, key := range []string{"alpha", "beta"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[j], _, _ = runIn(t, dir, "set", "img.bin", "app", key, "--type", "u32", "--value", fmt.Sprint(j+1))
			}()
		}
		wg.Wait()
		if codes[0] != 0 || codes[1] != 0 {
			t.Fatalf("trial %d: exit codes %v", i, codes)
		}
		im, err := nvs.Parse(mustRead(t, img))
		if err != nil {
			t.Fatal(err)
		}
		if im.Get("app", "alpha") == nil || im.Get("app", "beta") == nil {
			t.Fatalf("trial %d: an update was lost: keys %v", i, im.Keys("app"))
		}
	}
}

// TestSetThroughSymlink edits the file a link names, keeps the link, and says so.
func TestSetThroughSymlink(t *testing.T) {
	dir := safetyFixture(t)
	os.Mkdir(filepath.Join(dir, "real"), 0o755)
	os.Rename(filepath.Join(dir, "nvs.bin"), filepath.Join(dir, "real", "nvs.bin"))
	os.Chmod(filepath.Join(dir, "real", "nvs.bin"), 0o640)
	os.Symlink(filepath.Join("real", "nvs.bin"), filepath.Join(dir, "link.bin"))
	code, out, stderr := runIn(t, dir, "set", "link.bin", "wifi", "ssid", "--type", "string", "--value", "New")
	if code != 0 {
		t.Fatal(stderr)
	}
	if st, _ := os.Lstat(filepath.Join(dir, "link.bin")); st.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	target := filepath.Join(dir, "real", "nvs.bin")
	im, _ := nvs.Parse(mustRead(t, target))
	if r := im.Get("wifi", "ssid"); r == nil || string(stringText(r)) != "New" {
		t.Error("the link's target was not edited")
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o640 {
		t.Errorf("the target's mode changed to %03o", st.Mode().Perm())
	}
	if !strings.Contains(out, target) || !strings.Contains(out, "symbolic link link.bin") {
		t.Errorf("does not say which file was edited: %s", out)
	}
	if left := tempLeft(dir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestBoundedInputs gives every reading command a FIFO, /dev/zero, a folder and an oversized
// file where it expects a regular file: each must refuse at once, naming the problem.
func TestBoundedInputs(t *testing.T) {
	dir := safetyFixture(t)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Skip("no FIFOs:", err)
	}
	big := filepath.Join(dir, "big.bin")
	f, _ := os.Create(big)
	f.Truncate(fsutil.MaxImage + 4096) // sparse: no disk used
	f.Close()
	bigCSV := filepath.Join(dir, "bigrow.bin")
	f, _ = os.Create(bigCSV)
	f.Truncate(fsutil.MaxFileRow + 1)
	f.Close()
	os.WriteFile(filepath.Join(dir, "row.csv"), []byte("key,type,encoding,value\nns,namespace,,\nb,file,binary,X\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bigrow.csv"), []byte("key,type,encoding,value\nns,namespace,,\nb,file,binary,bigrow.bin\n"), 0o644)
	cmds := []struct {
		args []string
		big  string // the oversized file to try, and the limit the message names
		lim  string
	}{
		{[]string{"inspect", "X"}, big, "128 MiB"},
		{[]string{"check", "X"}, big, "128 MiB"},
		{[]string{"get", "X", "wifi", "ssid"}, big, "128 MiB"},
		{[]string{"export", "X", "out"}, big, "128 MiB"},
		{[]string{"set", "X", "wifi", "a", "--type", "u8", "--value", "1"}, big, "128 MiB"},
		{[]string{"rm", "X", "wifi", "ssid"}, big, "128 MiB"},
		{[]string{"decrypt", "X", "keys/k.bin", "o.bin"}, big, "128 MiB"},
		{[]string{"decrypt", "enc.bin", "X", "o.bin"}, big, "4096 bytes"},
		{[]string{"encrypt", "nvs.csv", "o.bin", "0x6000", "--inputkey", "X"}, big, "4096 bytes"},
		{[]string{"keys", "check", "X"}, big, "64 KiB"},
		{[]string{"partitions", "show", "X"}, big, "128 MiB"},
		{[]string{"partitions", "check", "X"}, big, "128 MiB"},
		{[]string{"partitions", "convert", "X", "o.bin"}, big, "1 MiB"},
		{[]string{"generate", "X", "o.bin", "0x6000"}, big, "64 MiB"},
		{[]string{"generate", "nvs.csv", "o.bin", "--partition-table", "X", "--partition", "nvs"}, big, "128 MiB"},
		{[]string{"flash", "X", "--port", "socket://127.0.0.1:1", "--offset", "0x9000"}, big, "128 MiB"},
		{[]string{"set", "nvs.bin", "wifi", "a", "--type", "blob", "--file", "X"}, bigCSV, "4 MiB"},
	}
	for _, c := range cmds {
		for _, in := range []string{"fifo", "/dev/zero", ".", c.big} {
			args := make([]string, len(c.args))
			for i, a := range c.args {
				if a == "X" {
					a = in
				}
				args[i] = a
			}
			done := make(chan struct{})
			var code int
			var stderr string
			go func() { code, _, stderr = runIn(t, dir, args...); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%v hangs", args)
			}
			if code == 0 {
				t.Errorf("%v: exit 0", args)
				continue
			}
			want := map[string]string{"fifo": "FIFO", "/dev/zero": "device", ".": "directory"}[in]
			if in == c.big {
				want = c.lim
			}
			if !strings.Contains(stderr, want) {
				t.Errorf("%v: message does not say %q: %s", args, want, stderr)
			}
		}
	}
	// A file row naming a FIFO, /dev/zero or an oversized file.
	for _, name := range []string{"fifo", "/dev/zero", "bigrow.bin"} {
		csv := strings.Replace("key,type,encoding,value\nns,namespace,,\nb,file,binary,X\n", "X", name, 1)
		os.WriteFile(filepath.Join(dir, "row.csv"), []byte(csv), 0o644)
		done := make(chan struct{})
		var code int
		var stderr string
		go func() { code, _, stderr = runIn(t, dir, "generate", "row.csv", "row.bin", "0x6000"); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("file row %s hangs", name)
		}
		if code == 0 || !(strings.Contains(stderr, "FIFO") || strings.Contains(stderr, "device") || strings.Contains(stderr, "4 MiB")) {
			t.Errorf("file row %s: %d %s", name, code, stderr)
		}
	}
}

// TestKeyFilesNeverReplaced: generate-key twice, and two encrypt --keygen runs with the
// default name in the same minute, keep every key file.
func TestKeyFilesNeverReplaced(t *testing.T) {
	dir := safetyFixture(t)
	first := mustRead(t, filepath.Join(dir, "keys", "k.bin"))
	if code, _, stderr := runIn(t, dir, "generate-key", "--keyfile", "k.bin"); code == 0 || !strings.Contains(stderr, "--force") {
		t.Errorf("generate-key over an existing key file: %d %s", code, stderr)
	}
	if string(mustRead(t, filepath.Join(dir, "keys", "k.bin"))) != string(first) {
		t.Fatal("the key file was replaced")
	}
	var names []string
	for i := 0; i < 3; i++ {
		// --force is about the image; a default keys name is never replaced.
		code, out, stderr := runIn(t, dir, "encrypt", "nvs.csv", fmt.Sprintf("e%d.bin", i), "0x6000", "--keygen", "--force")
		if code != 0 {
			t.Fatal(stderr)
		}
		names = append(names, out)
	}
	keys, _ := filepath.Glob(filepath.Join(dir, "keys", "keys-*.bin"))
	if len(keys) < 3 {
		t.Errorf("three encrypt --keygen runs left %d key files: %v\n%v", len(keys), keys, names)
	}
	// The same for HMAC keys with default names.
	for i := 0; i < 2; i++ {
		if code, _, stderr := runIn(t, dir, "generate-key", "--key_protect_hmac", "--kp_hmac_keygen", "--force"); code != 0 {
			t.Fatal(stderr)
		}
	}
	if hmacs, _ := filepath.Glob(filepath.Join(dir, "keys", "hmac-keys-*.bin")); len(hmacs) < 2 {
		t.Errorf("two generate-key --kp_hmac_keygen runs left %d HMAC key files", len(hmacs))
	}
}

// TestMissingOutputDirs: every -o creates its folder, and no message names a temporary file.
func TestMissingOutputDirs(t *testing.T) {
	dir := safetyFixture(t)
	for _, args := range [][]string{
		{"get", "nvs.bin", "wifi", "ssid", "-o", "a/b/x.txt"},
		{"set", "nvs.bin", "wifi", "n", "--type", "u8", "--value", "1", "-o", "c/d/x.bin"},
		{"rm", "nvs.bin", "wifi", "ssid", "-o", "e/f/x.bin"},
		{"decrypt", "enc.bin", "keys/k.bin", "g/h/x.bin"},
		{"generate", "nvs.csv", "i/j/x.bin", "0x6000"},
	} {
		if code, _, stderr := runIn(t, dir, args...); code != 0 {
			t.Errorf("%v: %s", args, stderr)
		}
	}
}

// TestStaleTempsCleaned: the leftovers of a killed run next to an output are removed by the
// next write to it; unrelated files stay.
func TestStaleTempsCleaned(t *testing.T) {
	dir := safetyFixture(t)
	stale := filepath.Join(dir, ".out.bin.tmp-0123456789abcdef")
	os.WriteFile(stale, []byte("plaintext of a killed run"), 0o600)
	old := time.Now().Add(-time.Minute)
	os.Chtimes(stale, old, old)
	keep := filepath.Join(dir, ".other.bin.tmp-0123456789abcdef")
	os.WriteFile(keep, nil, 0o600)
	os.Chtimes(keep, old, old)
	if code, _, stderr := runIn(t, dir, "generate", "nvs.csv", "out.bin", "0x6000"); code != 0 {
		t.Fatal(stderr)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Error("stale temporary file not removed")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Error("another target's temporary file was removed")
	}
}

// TestFailedRunRemovesWhatItMade: encrypt --keygen whose image cannot be written leaves no
// keys file (and no keys folder) behind; generate-key whose file cannot be written leaves no
// empty folders.
func TestFailedRunRemovesWhatItMade(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nvs.csv"), []byte(safetyCSV), 0o644)
	os.WriteFile(filepath.Join(dir, "blocker"), nil, 0o644)
	code, _, stderr := runIn(t, dir, "encrypt", "nvs.csv", "blocker/enc.bin", "0x6000", "--keygen", "--keyfile", "k.bin")
	if code == 0 {
		t.Fatal("encrypt into a path under a file succeeded")
	}
	if got := listAll(dir); strings.Join(got, ",") != "blocker,nvs.csv" {
		t.Errorf("failed encrypt --keygen left %v (%s)", got, stderr)
	}
	long := strings.Repeat("k", 250) + ".bin"
	if code, _, _ := runIn(t, dir, "generate-key", "--outdir", "a/b", "--keyfile", long); code == 0 {
		t.Fatal("generate-key with an overlong name succeeded")
	}
	if got := listAll(dir); strings.Join(got, ",") != "blocker,nvs.csv" {
		t.Errorf("failed generate-key left %v", got)
	}
}

// TestExportStagesNewDir: a new DIR appears whole or not at all; a failure while filling it
// leaves neither DIR nor the staging folder.
func TestExportStagesNewDir(t *testing.T) {
	dir := t.TempDir()
	env := &Env{made: new(fsutil.Made)}
	files := map[string][]byte{"nvs.csv": []byte("x"), "key.pem": []byte("secret"), strings.Repeat("x", 300): nil}
	if err := writeDir(env, filepath.Join(dir, "out"), files, fsutil.Options{}); err == nil {
		t.Fatal("writeDir with an impossible name succeeded")
	}
	if got := listAll(dir); len(got) != 0 {
		t.Errorf("failed export left %v", got)
	}
	delete(files, strings.Repeat("x", 300))
	if err := writeDir(env, filepath.Join(dir, "out"), files, fsutil.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := listAll(dir); strings.Join(got, ",") != "out,out/key.pem,out/nvs.csv" {
		t.Errorf("export wrote %v", got)
	}
	if st, _ := os.Stat(filepath.Join(dir, "out", "key.pem")); st.Mode().Perm() != 0o600 {
		t.Errorf("key.pem mode %03o", st.Mode().Perm())
	}
}

// TestRunInterrupted: a run whose context is cancelled by a signal exits 128+signal with
// "interrupted; nothing was written", and leaves no output.
func TestRunInterrupted(t *testing.T) {
	dir := safetyFixture(t)
	for _, c := range []struct {
		sig  os.Signal
		code int
	}{{os.Interrupt, 130}, {syscall.SIGTERM, 143}} {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(Interrupt{Signal: c.sig})
		var out, errb bytes.Buffer
		code := Run([]string{"generate", "nvs.csv", "new.bin", "0x6000"}, Env{Dir: dir, Stdout: &out, Stderr: &errb, Context: ctx})
		if code != c.code || strings.TrimSpace(errb.String()) != "nvskit: interrupted; nothing was written" {
			t.Errorf("%v: exit %d, %q", c.sig, code, errb.String())
		}
		if _, err := os.Stat(filepath.Join(dir, "new.bin")); err == nil {
			t.Errorf("%v: the output was written", c.sig)
		}
	}
}
