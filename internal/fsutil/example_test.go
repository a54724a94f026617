package fsutil_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nvskit/nvskit/internal/fsutil"
)

// Write a keys file atomically, readable by its owner only, unless it would overwrite an input.
func ExampleWriteFile() {
	dir, _ := os.MkdirTemp("", "fsutil-example")
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "nvs_keys.bin")
	if err := fsutil.CheckNotInput(out, filepath.Join(dir, "nvs.csv")); err != nil {
		fmt.Println(err)
		return
	}
	if err := fsutil.WriteFile(out, make([]byte, 4096), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	st, _ := os.Stat(out)
	fmt.Println(st.Size(), st.Mode().Perm())
	// Output: 4096 -rw-------
}

// Read an input through the limit its format implies: a file that is too large, a FIFO or a
// device is refused with a message that says so.
func ExampleReadFile() {
	dir, _ := os.MkdirTemp("", "fsutil-example")
	defer os.RemoveAll(dir)
	keys := filepath.Join(dir, "keys.bin")
	os.WriteFile(keys, make([]byte, 8192), 0o600)
	_, err := fsutil.ReadFile(keys, 4096, "a keys partition image")
	fmt.Println(err != nil && strings.HasSuffix(err.Error(), "is larger than 4096 bytes, the limit for a keys partition image"))
	_, err = fsutil.ReadFile(dir, 4096, "a keys partition image")
	fmt.Println(errors.Is(err, fsutil.ErrNotRegular))
	// Output:
	// true
	// true
}
