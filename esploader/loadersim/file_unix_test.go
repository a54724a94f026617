//go:build unix

package loadersim

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A new flash file holds what provisioning writes (NVS keys, private keys): it is created
// 0600 under the usual umask 022, not world-readable; an existing file keeps its mode.
func TestFlashFileMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "flash.bin")
	s, err := New(Config{File: path, FlashSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new flash file: %v, %v; want mode 0600", st.Mode().Perm(), err)
	}
	os.Chmod(path, 0o640)
	s, err = New(Config{File: path, FlashSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("existing flash file: %v, %v; want its mode 0640 kept", st.Mode().Perm(), err)
	}
}
