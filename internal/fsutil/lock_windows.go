//go:build windows

package fsutil

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// tryLockFile takes an exclusive lock (LockFileEx) on a byte range far beyond the data of f
// without waiting, so that the lock does not block reads of the file's content.
func tryLockFile(f *os.File) (unlock func(), ok bool) {
	h := windows.Handle(f.Fd())
	ol := new(windows.Overlapped)
	ol.Offset, ol.OffsetHigh = 0xFFFFFFFE, 0x7FFFFFFF
	err := windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if err != nil {
		return nil, false
	}
	return func() { windows.UnlockFileEx(h, 0, 1, 0, ol) }, true
}

// acquire takes the lock without waiting. Windows cannot replace a file that is open, so the
// lock is on a lock file next to path (".NAME.lock", left in place for the next run).
func acquire(path string) (release func(), err error) {
	name := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	unlock, ok := tryLockFile(f)
	if !ok {
		f.Close()
		return nil, errBusy
	}
	return func() { unlock(); f.Close() }, nil
}
