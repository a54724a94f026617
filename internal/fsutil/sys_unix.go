//go:build unix

package fsutil

import (
	"os"
	"sync/atomic"
	"syscall"
)

// umask is the process's file mode creation mask, read once at start (before any goroutine
// could create a file) and kept up to date by SetUmask.
var umask atomic.Uint32

func init() {
	// Setting the mask is the only portable way to read it; it is restored at once. Two
	// system calls, here rather than on every write (the other way to read it, Linux's
	// /proc/self/status, costs about 30 µs).
	m := syscall.Umask(0o077)
	syscall.Umask(m)
	umask.Store(uint32(m) & 0o777)
}

// Umask returns the process's file mode creation mask: the one it started with, or the last
// one set with SetUmask. nvskit never changes its mask; code that does must do it through
// SetUmask, or the modes of files written afterwards follow the old mask.
func Umask() os.FileMode { return os.FileMode(umask.Load()) }

// SetUmask sets the process's file mode creation mask to mask and returns the previous one,
// as syscall.Umask does, keeping Umask true.
func SetUmask(mask int) int {
	old := syscall.Umask(mask)
	umask.Store(uint32(mask) & 0o777)
	return old
}

// syncDir flushes a directory's entries (a rename into it) to disk.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// syncDirFile is syncDir for a directory that is open already.
func syncDirFile(d *os.File) { d.Sync() }
