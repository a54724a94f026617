//go:build unix && !nofactory

package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvskit/nvskit/esploader/loadersim"
)

// Every input of the factory and diagnosis commands is read through fsutil: a FIFO (which
// would block) and a device (/dev/zero never ends) are refused at once, naming the file, and
// nothing is written.
func TestFactoryInputsRefuseSpecialFiles(t *testing.T) {
	port, _ := simPort(t, loadersim.Config{Chip: "esp32c3"}, false)
	dir := ledgerDir(t)
	os.WriteFile(filepath.Join(dir, "key32.bin"), bytes.Repeat([]byte{7}, 32), 0o600)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	for _, tc := range []struct {
		name string
		args []string // SPECIAL is replaced by the FIFO, then by /dev/zero
	}{
		{"ledger import VALUES", []string{"ledger", "import", "SPECIAL", "--config", "config.csv", "--fileid", "serial"}},
		{"ledger import --config", []string{"ledger", "import", "values.csv", "--config", "SPECIAL", "--fileid", "serial"}},
		{"ledger add --config", []string{"ledger", "add", "--serial-format", "S%03d", "--count", "1", "--config", "SPECIAL"}},
		{"station --config", []string{"station", "--config", "SPECIAL", "--partition", "nvs", "--chip", "esp32c3", "--port", port, "--once"}},
		{"station --inputkey", []string{"station", "--config", "config.csv", "--partition", "nvs", "--chip", "esp32c3", "--port", port, "--once", "--inputkey", "SPECIAL"}},
		{"station --ca-cert", []string{"station", "--config", "config.csv", "--partition", "nvs", "--chip", "esp32c3", "--port", port, "--once", "--ca-cert", "SPECIAL", "--ca-key", "key32.bin"}},
		{"station --ca-key", []string{"station", "--config", "config.csv", "--partition", "nvs", "--chip", "esp32c3", "--port", port, "--once", "--ca-cert", "key32.bin", "--ca-key", "SPECIAL"}},
		{"station --partition-table", []string{"station", "--config", "config.csv", "--partition", "nvs", "--chip", "esp32c3", "--port", port, "--once", "--partition-table", "SPECIAL"}},
		{"doctor --keys", []string{"doctor", "--port", port, "--keys", "SPECIAL"}},
		{"doctor --flash-key", []string{"doctor", "--port", port, "--flash-key", "SPECIAL"}},
		{"doctor --csv", []string{"doctor", "--port", port, "--csv", "SPECIAL"}},
		{"doctor --partition-table", []string{"doctor", "--port", port, "--partition-table", "SPECIAL"}},
		{"read --decrypt --flash-key", []string{"read", "--port", port, "--partition", "nvs", "-o", "out.bin", "--decrypt", "--flash-key", "SPECIAL"}},
		{"simulate --flash-key", []string{"simulate", "--listen", "127.0.0.1:0", "--flash-encryption", "development", "--flash-key", "SPECIAL"}},
		{"encrypt-flash-data --keyfile", []string{"encrypt-flash-data", "-k", "SPECIAL", "-a", "0", "-o", "out.bin", "key32.bin"}},
	} {
		for _, special := range []string{"fifo", "/dev/zero"} {
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "SPECIAL", special)
			}
			before := listFiles(t, dir)
			type result struct {
				code   int
				stderr string
			}
			done := make(chan result, 1)
			go func() {
				var out, errb bytes.Buffer
				code := Run(args, Env{Dir: dir, Stdout: &out, Stderr: &errb})
				done <- result{code, errb.String()}
			}()
			select {
			case r := <-done:
				if r.code == 0 || !strings.Contains(r.stderr, "not a regular file") || !strings.Contains(r.stderr, special) {
					t.Errorf("%s %s: exit %d: %s", tc.name, special, r.code, r.stderr)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s %s: still running after 10 s", tc.name, special)
			}
			if after := listFiles(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("%s %s changed the folder: %v, was %v", tc.name, special, after, before)
			}
		}
	}
}
