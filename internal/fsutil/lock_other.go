//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly || windows)

package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// tryLockFile cannot lock an open file on this system: a file counts as free once it has not
// been written for ten minutes.
func tryLockFile(f *os.File) (unlock func(), ok bool) {
	if st, err := f.Stat(); err == nil && time.Since(st.ModTime()) > 10*time.Minute {
		return func() {}, true
	}
	return nil, false
}

// acquire creates the lock file ".NAME.lock" next to path without waiting; the lock is held
// while it exists. One older than ten minutes is the leftover of a killed run.
func acquire(path string) (release func(), err error) {
	name := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".lock")
	if st, err := os.Stat(name); err == nil && time.Since(st.ModTime()) > 10*time.Minute {
		os.Remove(name)
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, errBusy
	}
	if err != nil {
		return nil, err
	}
	f.Close()
	return func() { os.Remove(name) }, nil
}
