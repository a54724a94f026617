//go:build unix

package fsutil

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// umaskInit is the mask at start, read before any goroutine could create a file.
var umaskInit os.FileMode

func init() {
	// Setting the mask is the only portable way to read it; it is restored at once.
	m := syscall.Umask(0o077)
	syscall.Umask(m)
	umaskInit = os.FileMode(m) & 0o777
}

// Umask returns the process's file mode creation mask. On Linux it is read from
// /proc/self/status, which also sees a change made after start; elsewhere it is the mask
// the process started with.
func Umask() os.FileMode {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if v, ok := strings.CutPrefix(s.Text(), "Umask:"); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return os.FileMode(n) & 0o777
				}
			}
		}
	}
	return umaskInit
}

// syncDir flushes a directory's entries (a rename into it) to disk.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
