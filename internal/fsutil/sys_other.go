//go:build !unix

package fsutil

import "os"

// Umask returns 0: this system has no file mode creation mask.
func Umask() os.FileMode { return 0 }

// syncDir does nothing: directories cannot be synced here.
func syncDir(dir string) {}
