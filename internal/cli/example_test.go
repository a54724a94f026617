package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nvskit/nvskit/internal/cli"
)

// Run nvskit in-process, in a directory of its own.
func ExampleRun() {
	dir, _ := os.MkdirTemp("", "nvskit-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "nvs.csv"), []byte("key,type,encoding,value\nconfig,namespace,,\nboot_count,data,u32,0\n"), 0o644)
	var out, errs strings.Builder
	code := cli.Run([]string{"generate", "nvs.csv", "nvs.bin", "0x3000"}, cli.Env{Dir: dir, Stdout: &out, Stderr: &errs})
	fmt.Println(code, strings.HasPrefix(out.String(), "Created "))
	// Output: 0 true
}
