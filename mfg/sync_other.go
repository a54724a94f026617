//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly || solaris || illumos)

package mfg

// syncFS does nothing here: the files reach the disk when the operating system writes them.
func syncFS(string) error { return nil }
