package fsutil

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// ErrSameFile is returned when an output path names one of the command's inputs.
var ErrSameFile = errors.New("output would overwrite an input")

// ErrExists is returned when an output exists already and was not made in this run: nvskit
// replaces a file only with --force (Options.Force) or when updating it is the command's job
// (Options.Replace).
var ErrExists = errors.New("already exists")

// DefaultMode is the mode of every file nvskit writes unless told otherwise: images, keys and
// exported values hold secrets more often than not.
const DefaultMode os.FileMode = 0o600

// Options say how Write may treat an existing file and what mode a new one gets.
type Options struct {
	// Mode is the file's permission bits before the umask is applied; 0 means DefaultMode.
	// The umask is always honoured: nvskit never makes a file more open than it allows.
	Mode os.FileMode
	// Force replaces an existing file (the user passed --force).
	Force bool
	// Replace marks the write as the command's job being to update this file in place (set
	// and rm without -o): an existing file is replaced and keeps its mode.
	Replace bool
	// DirMode is the mode of missing parent directories that Write creates; 0 means 0755.
	DirMode os.FileMode
	// Context, when set, stops the write: once it is done, Write removes what it wrote and
	// returns its error instead of moving the file into place.
	Context context.Context
	// Made records a write that made a new file, so that the same run may write the path
	// again and can undo its writes when it fails. Optional.
	Made *Made
}

// ExistsError says which output exists and how to replace it.
type ExistsError struct{ Path string }

// Error names the file and the ways out.
func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s exists already and nvskit replaces no file unasked: choose another name, remove it, or pass --force to replace it", e.Path)
}

// Is makes errors.Is(err, ErrExists) true.
func (e *ExistsError) Is(target error) bool { return target == ErrExists }

// WriteFile writes data to a new file at path with mode perm (see Write with Options{Mode:
// perm}): an existing file is refused with ErrExists.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, data, Options{Mode: perm})
}

// Write writes data to path atomically: into a temporary file (mode 0600) in the target's
// directory, synced, then moved to path and the directory synced. Missing parent directories
// are created. A symbolic link at path is followed: its target is written and the link stays.
//
// An existing file is refused with an *ExistsError unless o.Force or o.Replace is set or
// o.Made records that this run made it; without either, the move itself refuses to replace a
// file created meanwhile. On any error nothing is left behind: no temporary file, no new
// directory, an existing file untouched. Leftover temporary files of an earlier run that was
// killed are removed first. Errors name path, never the temporary file.
func Write(path string, data []byte, o Options) (err error) {
	if err := o.stopped(); err != nil {
		return err
	}
	target, err := Resolve(path)
	if err != nil {
		return err
	}
	replace := o.Force || o.Replace || o.Made.has(target)
	if !replace {
		if err := CheckNew(target, o); err != nil {
			return err
		}
	}
	created, err := mkdirAll(filepath.Dir(target), o.dirMode())
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			removeDirs(created)
		}
	}()
	mode := o.mode()
	if o.Replace {
		if st, err := os.Stat(target); err == nil {
			mode = st.Mode().Perm()
		}
	}
	t, err := createTemp(target)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			t.discard()
		}
	}()
	if _, err := t.f.Write(data); err != nil {
		return renamePathError(err, target)
	}
	if err := t.f.Chmod(mode); err != nil {
		return renamePathError(err, target)
	}
	if err := t.f.Sync(); err != nil {
		return renamePathError(err, target)
	}
	if err := o.stopped(); err != nil {
		return err
	}
	_, statErr := os.Lstat(target)
	existed := statErr == nil
	if err := t.commit(target, replace); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &ExistsError{Path: path}
		}
		return renamePathError(err, target)
	}
	committed = true
	if !existed {
		o.Made.add(target, created)
	}
	return nil
}

func (o Options) stopped() error {
	if o.Context == nil {
		return nil
	}
	return o.Context.Err()
}

func (o Options) mode() os.FileMode {
	m := o.Mode.Perm()
	if m == 0 {
		m = DefaultMode
	}
	return m &^ Umask()
}

func (o Options) dirMode() os.FileMode {
	if o.DirMode == 0 {
		return 0o755
	}
	return o.DirMode.Perm()
}

// CheckNew returns an *ExistsError when path exists (as anything, a dangling link included)
// and the write may not replace it: neither o.Force nor o.Replace, and o.Made does not hold it.
// Commands call it for all their outputs before they write the first one.
func CheckNew(path string, o Options) error {
	if o.Force || o.Replace {
		return nil
	}
	if t, err := Resolve(path); err == nil && o.Made.has(t) {
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return &ExistsError{Path: path}
	}
	return nil
}

// Resolve follows symbolic links at path (when it exists) to the file they name, so that a
// write through a link changes the file and keeps the link. A path that does not exist is
// returned cleaned; a link to a missing file gives that file's path.
func Resolve(path string) (string, error) {
	p := filepath.Clean(path)
	for i := 0; i < 40; i++ {
		st, err := os.Lstat(p)
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		dest, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(p), dest)
		}
		p = filepath.Clean(dest)
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// renamePathError makes an error from the temporary file name the target's.
func renamePathError(err error, target string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: target, Err: pe.Err}
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return &fs.PathError{Op: "write", Path: target, Err: le.Err}
	}
	return fmt.Errorf("%s: %w", target, err)
}

// mkdirAll creates dir and its missing parents and returns the ones it created, deepest last.
func mkdirAll(dir string, mode os.FileMode) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var created []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], mode); err != nil && !errors.Is(err, fs.ErrExist) {
			removeDirs(created)
			return nil, err
		} else if err == nil {
			created = append(created, missing[i])
		}
	}
	return created, nil
}

// removeDirs removes the directories that mkdirAll created, deepest first, if empty.
func removeDirs(created []string) {
	for i := len(created) - 1; i >= 0; i-- {
		os.Remove(created[i])
	}
}

// MkdirAll creates dir and its missing parents with mode (before the umask) and records the
// ones it created in made (optional), so that Made.Undo removes them again.
func MkdirAll(dir string, mode os.FileMode, made *Made) error {
	created, err := mkdirAll(dir, mode)
	if err != nil {
		return err
	}
	if made != nil {
		made.mu.Lock()
		made.dirs = append(made.dirs, created...)
		made.mu.Unlock()
	}
	return nil
}

// Made is what one run of a command wrote: the files it may write again, and what Undo
// removes when the run fails after a first write. The zero value is ready; a nil *Made records
// nothing.
type Made struct {
	mu    sync.Mutex
	files []string
	dirs  []string
	kept  bool
}

func (m *Made) has(path string) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.files {
		if f == path {
			return true
		}
	}
	return false
}

func (m *Made) add(path string, dirs []string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.files {
		if f == path {
			return
		}
	}
	m.files = append(m.files, path)
	m.dirs = append(m.dirs, dirs...)
}

// Add records a file written by other means (renamed into place by the caller) as made by
// this run.
func (m *Made) Add(path string) { m.add(path, nil) }

// Files returns the files made so far, in order.
func (m *Made) Files() []string {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.files...)
}

// Keep marks the run's outputs as wanted even if the run ends with an error (a command that
// wrote everything and then reports a problem with the data).
func (m *Made) Keep() {
	if m != nil {
		m.mu.Lock()
		m.kept = true
		m.mu.Unlock()
	}
}

// Undo removes the files and the (then empty) directories this run made, unless Keep was
// called. Files that this run replaced with Force or Replace are not brought back: only new
// files are removed.
func (m *Made) Undo() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kept {
		return
	}
	for i := len(m.files) - 1; i >= 0; i-- {
		os.Remove(m.files[i])
	}
	dirs := append([]string(nil), m.dirs...)
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		os.Remove(d)
	}
	m.files, m.dirs = nil, nil
}

// CheckNotInput returns an error wrapping ErrSameFile when out is the same file as one of
// inputs (by path or, for existing files, by identity).
func CheckNotInput(out string, inputs ...string) error {
	outAbs, _ := filepath.Abs(out)
	outInfo, outErr := os.Stat(out)
	for _, in := range inputs {
		if in == "" {
			continue
		}
		inAbs, _ := filepath.Abs(in)
		same := inAbs == outAbs
		if !same && outErr == nil {
			if inInfo, err := os.Stat(in); err == nil {
				same = os.SameFile(inInfo, outInfo)
			}
		}
		if same {
			return fmt.Errorf("%s: %w %s; choose another output path", out, ErrSameFile, in)
		}
	}
	return nil
}

// SameFile reports whether a and b name the same existing file, or the same path.
func SameFile(a, b string) bool {
	return errors.Is(CheckNotInput(a, b), ErrSameFile)
}

// isTempName reports whether name is one of nvskit's temporary names for base.
func isTempName(name, base string) bool {
	return strings.HasPrefix(name, "."+base+tempInfix)
}
