package fsutil

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// tempInfix is the part of a temporary file's name between "."+base and its random suffix:
// ".nvs.bin.tmp-1f2e3d4c5b6a7988". Only names of this form next to a target are ever
// removed as leftovers.
const tempInfix = ".tmp-"

// staleAge is how old a leftover temporary file must be before a later run removes it, so
// that a file another run is creating at this moment is never taken for a leftover.
const staleAge = 2 * time.Second

// live holds the temporary files and directories being written, for RemoveTemps.
var live sync.Map // path -> struct{}

// RemoveTemps removes every temporary file and staging directory this process is writing. It
// is for the last moment before a forced exit (a second Ctrl-C): the run's half-written files
// then do not stay behind.
func RemoveTemps() {
	live.Range(func(k, _ any) bool {
		os.RemoveAll(k.(string))
		return true
	})
}

// temp is a temporary file next to its target, locked while it is written so that another
// run does not take it for a leftover.
type temp struct {
	f      *os.File
	name   string
	unlock func()
}

func tempName(target string) (string, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+tempInfix+hex.EncodeToString(r[:])), nil
}

// createTemp creates a new temporary file (mode 0600) for target, after removing leftovers
// of killed runs next to target.
func createTemp(target string) (*temp, error) {
	CleanStale(target)
	for i := 0; ; i++ {
		name, err := tempName(target)
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) && i < 10 {
			continue
		}
		if err != nil {
			return nil, renamePathError(err, target)
		}
		live.Store(name, struct{}{})
		t := &temp{f: f, name: name, unlock: func() {}}
		if u, ok := tryLockFile(f); ok {
			t.unlock = u
		}
		return t, nil
	}
}

// discard closes and removes the temporary file.
func (t *temp) discard() {
	t.unlock()
	t.f.Close()
	os.Remove(t.name)
	live.Delete(t.name)
}

// commit closes the temporary file and moves it to target, then syncs the directory. Without
// replace it refuses (with an error wrapping fs.ErrExist) to replace a file that exists.
func (t *temp) commit(target string, replace bool) error {
	t.unlock()
	t.unlock = func() {}
	if err := t.f.Close(); err != nil {
		return err
	}
	if replace {
		if err := os.Rename(t.name, target); err != nil {
			return err
		}
	} else if err := renameNoReplace(t.name, target); err != nil {
		return err
	}
	live.Delete(t.name)
	syncDir(filepath.Dir(target))
	return nil
}

// renameNoReplace moves from to to unless to exists. A hard link makes the check and the move
// one step where the file system has links; elsewhere a check precedes the rename.
func renameNoReplace(from, to string) error {
	err := os.Link(from, to)
	if err == nil {
		os.Remove(from)
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(to); serr == nil {
		return &fs.PathError{Op: "rename", Path: to, Err: fs.ErrExist}
	}
	return os.Rename(from, to)
}

// CleanStale removes leftover temporary files and staging directories of target (nvskit's own
// ".NAME.tmp-*" names in target's directory) that no running nvskit holds and that are older
// than a moment. It is called before every write; a run killed with SIGKILL leaves such files
// with the full content that was being written.
func CleanStale(target string) {
	dir, base := filepath.Dir(target), filepath.Base(target)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !isTempName(e.Name(), base) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < staleAge {
			continue
		}
		if _, busy := live.Load(p); busy {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		unlock, ok := tryLockFile(f)
		if !ok {
			f.Close() // another nvskit is writing it
			continue
		}
		unlock()
		f.Close()
		if e.IsDir() {
			os.RemoveAll(p)
		} else {
			os.Remove(p)
		}
	}
}

// StagingDir is a temporary directory next to a target directory, filled and then moved into
// place, so that a target directory appears complete or not at all.
type StagingDir struct {
	// Path is the staging directory to write into.
	Path   string
	target string
	lock   *os.File
	unlock func()
	done   bool
}

// NewStagingDir creates a staging directory (mode 0700) for the directory target, which must
// not exist; leftovers of killed runs are removed first.
func NewStagingDir(target string) (*StagingDir, error) {
	target = filepath.Clean(target)
	created, err := mkdirAll(filepath.Dir(target), 0o755)
	if err != nil {
		return nil, err
	}
	CleanStale(target)
	name, err := tempName(target)
	if err != nil {
		removeDirs(created)
		return nil, err
	}
	if err := os.Mkdir(name, 0o700); err != nil {
		removeDirs(created)
		return nil, renamePathError(err, target)
	}
	live.Store(name, struct{}{})
	s := &StagingDir{Path: name, target: target, unlock: func() {}}
	if f, err := os.Open(name); err == nil {
		s.lock = f
		if u, ok := tryLockFile(f); ok {
			s.unlock = u
		}
	}
	_ = created // parents stay: the target directory goes there
	return s, nil
}

// Commit sets the directory's mode (before the umask) and moves it to its target, which must
// still not exist.
func (s *StagingDir) Commit(mode os.FileMode) error {
	s.release()
	if err := os.Chmod(s.Path, mode.Perm()&^Umask()); err != nil {
		return renamePathError(err, s.target)
	}
	if _, err := os.Lstat(s.target); err == nil {
		return &ExistsError{Path: s.target}
	}
	if err := os.Rename(s.Path, s.target); err != nil {
		return renamePathError(err, s.target)
	}
	live.Delete(s.Path)
	s.done = true
	syncDir(filepath.Dir(s.target))
	return nil
}

// Discard removes the staging directory unless it was committed.
func (s *StagingDir) Discard() {
	s.release()
	if !s.done {
		os.RemoveAll(s.Path)
		live.Delete(s.Path)
		s.done = true
	}
}

func (s *StagingDir) release() {
	s.unlock()
	s.unlock = func() {}
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}
