//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package fsutil

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestWriteModeHonoursUmask(t *testing.T) {
	dir := t.TempDir()
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, c := range []struct {
		umask      int
		mode, want os.FileMode
	}{
		{0o022, 0, 0o600},
		{0o022, 0o644, 0o644},
		{0o077, 0o644, 0o600},
		{0o077, 0, 0o600},
		{0o027, 0o666, 0o640},
	} {
		syscall.Umask(c.umask)
		p := filepath.Join(dir, "f")
		os.Remove(p)
		if err := Write(p, []byte("x"), Options{Mode: c.mode}); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != c.want {
			t.Errorf("umask %03o mode %03o: got %03o, want %03o", c.umask, c.mode, st.Mode().Perm(), c.want)
		}
	}
}

// TestTempCreated0600 checks the temporary file's mode while the content is in it, under a
// permissive umask.
func TestTempCreated0600(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	tmp, err := createTemp(filepath.Join(dir, "x.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.discard()
	st, _ := tmp.f.Stat()
	if st.Mode().Perm() != 0o600 {
		t.Errorf("temporary file mode %03o", st.Mode().Perm())
	}
}

func TestCleanStale(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "nvs.bin")
	old := time.Now().Add(-time.Hour)
	mk := func(name string, age time.Time) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("plaintext"), 0o600)
		os.Chtimes(p, age, age)
		return p
	}
	stale := mk(".nvs.bin.tmp-1234", old)
	staleDir := filepath.Join(dir, ".nvs.bin.tmp-dir")
	os.Mkdir(staleDir, 0o700)
	os.WriteFile(filepath.Join(staleDir, "key.pem"), nil, 0o600)
	os.Chtimes(staleDir, old, old)
	young := mk(".nvs.bin.tmp-5678", time.Now())
	other := mk(".other.bin.tmp-1234", old)
	user := mk("nvs.bin.tmp-1234", old)
	held := mk(".nvs.bin.tmp-held", old)
	f, _ := os.Open(held)
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{stale, staleDir} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("leftover %s not removed", filepath.Base(p))
		}
	}
	for _, p := range []string{young, other, user, held} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed", filepath.Base(p))
		}
	}
}

func TestReadFileFIFOAndDevice(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	done := make(chan error, 2)
	go func() { _, err := ReadFile(fifo, 1<<20, "x"); done <- err }()
	go func() { _, err := ReadFile("/dev/zero", 1<<20, "x"); done <- err }()
	for i := 0; i < 2; i++ {
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("got %v", err)
			} else if !strings.Contains(err.Error(), "FIFO") && !strings.Contains(err.Error(), "device") {
				t.Errorf("message %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("ReadFile hangs on a FIFO or /dev/zero")
		}
	}
}

func TestLockFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "nvs.bin")
	os.WriteFile(p, []byte("0"), 0o600)
	l, err := LockFile(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second locker waits, then gives up with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	waited := false
	if _, err := LockFile(ctx, p, func() { waited = true }); !errors.Is(err, context.DeadlineExceeded) || !waited {
		t.Errorf("second lock: %v, waited %v", err, waited)
	}
	l.Unlock()
	// Counter updates under the lock, each replacing the file: none is lost.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := LockFile(context.Background(), p, nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer l.Unlock()
			b, _ := os.ReadFile(p)
			if err := Write(p, append(b, '+'), Options{Replace: true}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if b, _ := os.ReadFile(p); len(b) != 21 {
		t.Errorf("lost updates: %q", b)
	}
}
