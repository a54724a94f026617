package fsutil

import (
	"context"
	"errors"
	"os"
	"time"
)

var (
	errBusy  = errors.New("locked by another process")
	errStale = errors.New("replaced while locking")
)

// Lock is an exclusive lock on a file that a command updates in place (set, rm), held from
// before it reads the file until after the new content replaced it, so that two runs at once
// cannot lose each other's change. It is advisory: it binds nvskit runs, not other programs.
type Lock struct {
	// Path is the locked file (links resolved).
	Path    string
	release func()
}

// LockFile locks the existing regular file at path (following symbolic links) for an update in
// place, waiting while another nvskit holds it: waiting is called once when the wait begins.
// It returns ctx's error when ctx ends first.
func LockFile(ctx context.Context, path string, waiting func()) (*Lock, error) {
	target, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(target)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(path, st); err != nil {
		return nil, err // opening a FIFO to lock it would wait for a writer
	}
	told := false
	for {
		release, err := acquire(target)
		switch {
		case err == nil:
			return &Lock{Path: target, release: release}, nil
		case errors.Is(err, errStale):
			continue
		case !errors.Is(err, errBusy):
			return nil, err
		}
		if !told && waiting != nil {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	if l != nil && l.release != nil {
		l.release()
		l.release = nil
	}
}
