//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package mfg

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive lock on dir for the life of the process or until unlock is
// called. The lock goes away with the process, however it ends.
func lockDir(dir string) (unlock func(), err error) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	for {
		err = syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EWOULDBLOCK {
		syscall.Close(fd)
		return nil, fmt.Errorf("%s: %w; wait for it to finish", dir, ErrLocked)
	}
	if err != nil {
		// File systems without locks: go on unlocked, as before.
		syscall.Close(fd)
		return func() {}, nil
	}
	return func() { syscall.Close(fd) }, nil
}
