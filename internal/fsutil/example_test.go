package fsutil_test

import (
	"fmt"
	"os"
	"path/filepath"

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
