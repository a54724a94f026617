package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrSameFile is returned when an output path names one of the command's inputs.
var ErrSameFile = errors.New("output would overwrite an input")

// WriteFile writes data to path atomically: into a temporary file in the same directory,
// synced, then renamed over path. On any error no file is left at path (an existing one is
// untouched). perm applies to a new file; 0600 keeps secrets private.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
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
