//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package fsutil

import (
	"errors"
	"os"
	"syscall"
)

// tryLockFile takes an exclusive advisory lock (flock) on f without waiting.
func tryLockFile(f *os.File) (unlock func(), ok bool) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, false
		}
		return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, true
	}
}

// acquire takes the lock on path itself without waiting: flock locks are advisory and do not
// stop the rename that replaces the file. When the file was replaced between the open and the
// lock, the lock is on the old file and acquire reports errStale.
func acquire(path string) (release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	unlock, ok := tryLockFile(f)
	if !ok {
		f.Close()
		return nil, errBusy
	}
	held, err1 := f.Stat()
	now, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(held, now) {
		unlock()
		f.Close()
		return nil, errStale
	}
	return func() { unlock(); f.Close() }, nil
}
