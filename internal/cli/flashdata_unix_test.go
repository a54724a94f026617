//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A FIFO or a device as input is refused at once, never read (it could block or never end).
func TestFlashDataRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "key.bin"), pattern(32))
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	for _, args := range [][]string{
		{"encrypt-flash-data", "-k", "key.bin", "-a", "0", "-o", "out.bin", "fifo"},
		{"encrypt-flash-data", "-k", "key.bin", "-a", "0", "-o", "out.bin", "/dev/zero"},
		{"encrypt-flash-data", "-k", "fifo", "-a", "0", "-o", "out.bin", "key.bin"},
		{"encrypt-flash-data", "-k", "/dev/zero", "-a", "0", "-o", "out.bin", "key.bin"},
	} {
		code, _, stderr := runIn(t, dir, args...)
		if code == 0 || !strings.Contains(stderr, "not a regular file") {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.bin")); err == nil {
		t.Fatal("out.bin written")
	}
}
