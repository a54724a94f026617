//go:build !unix

package mfg

import "os"

// writeNew creates path, which must not exist, with data.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir does nothing: directories cannot be synced here.
func syncDir(string) error { return nil }

const syscallNonblock = 0
