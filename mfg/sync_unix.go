//go:build darwin || freebsd || openbsd || netbsd || dragonfly || solaris || illumos

package mfg

import "syscall"

// syncFS flushes the file systems to disk: one system call for a whole batch instead of one
// fsync per file.
func syncFS(string) error {
	syscall.Sync()
	return nil
}
