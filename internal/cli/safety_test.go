//go:build linux || darwin

package cli

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/internal/fsutil"
)

const safetyCSV = "key,type,encoding,value\nwifi,namespace,,\nssid,data,string,Net\n"

const safetyTable = "# Name, Type, SubType, Offset, Size\nnvs, data, nvs, 0x9000, 0x6000\nphy_init, data, phy, 0xf000, 0x1000\nfactory, app, factory, 0x10000, 1M\n"

// safetyFixture makes a folder with the inputs every writing command needs.
func safetyFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nvs.csv"), []byte(safetyCSV), 0o644)
	os.WriteFile(filepath.Join(dir, "table.csv"), []byte(safetyTable), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.csv"), []byte("wifi,namespace,\nssid,data,string\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "values.csv"), []byte("ssid\nNet1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "flash_key.bin"), bytes.Repeat([]byte{7}, 32), 0o600)
	os.WriteFile(filepath.Join(dir, "data.bin"), bytes.Repeat([]byte{0xA5}, 4096), 0o644)
	for _, args := range [][]string{
		{"generate", "nvs.csv", "nvs.bin", "0x6000"},
		{"generate-key", "--keyfile", "k.bin"},
		{"encrypt", "nvs.csv", "enc.bin", "0x6000", "--inputkey", "keys/k.bin"},
	} {
		if code, _, stderr := runIn(t, dir, args...); code != 0 {
			t.Fatalf("fixture %v: %s", args, stderr)
		}
	}
	return dir
}

// writer is one way a command writes a file: args with ARG where the output's name goes, and
// the file that name becomes.
type writer struct {
	cmd    string // command path, as in the tree
	args   []string
	arg    string                         // the output's name in args
	fileOf func(arg string) string        // the output file (relative to the folder) for arg
	secret bool                           // the file holds secrets: 0600 under umask 022
	device bool                           // needs a simulated device: PORT in args
	setup  func(t *testing.T, dir string) // optional extra preparation
}

func (w writer) file(arg string) string {
	if w.fileOf == nil {
		return arg
	}
	return w.fileOf(arg)
}

func inKeys(arg string) string { return filepath.Join("keys", arg) }

// writers lists every command that writes files, each with its outputs. TestWritersCoverTree
// checks the list against the command tree, so a new writing command cannot be forgotten.
var writers = []writer{
	{cmd: "generate", args: []string{"generate", "nvs.csv", "ARG", "0x6000"}, arg: "out.bin", secret: true},
	{cmd: "encrypt", args: []string{"encrypt", "nvs.csv", "ARG", "0x6000", "--inputkey", "keys/k.bin"}, arg: "out.bin", secret: true},
	{cmd: "encrypt", args: []string{"encrypt", "nvs.csv", "e.bin", "0x6000", "--keygen", "--keyfile", "ARG"}, arg: "kk.bin", fileOf: inKeys, secret: true},
	{cmd: "encrypt", args: []string{"encrypt", "nvs.csv", "e.bin", "0x6000", "--keygen", "--key_protect_hmac", "--kp_hmac_keygen", "--kp_hmac_keyfile", "ARG"}, arg: "hm.bin", fileOf: inKeys, secret: true},
	{cmd: "generate-key", args: []string{"generate-key", "--keyfile", "ARG"}, arg: "x.bin", fileOf: inKeys, secret: true},
	{cmd: "generate-key", args: []string{"generate-key", "--keyfile", "ARG", "--key_protect_hmac", "--kp_hmac_keygen"}, arg: "h.bin",
		fileOf: func(a string) string { return filepath.Join("keys", filepath.Dir(a), "hmac-"+filepath.Base(a)) }, secret: true},
	{cmd: "decrypt", args: []string{"decrypt", "enc.bin", "keys/k.bin", "ARG"}, arg: "plain.bin", secret: true},
	{cmd: "get", args: []string{"get", "nvs.bin", "wifi", "ssid", "-o", "ARG"}, arg: "ssid.txt", secret: true},
	{cmd: "set", args: []string{"set", "nvs.bin", "wifi", "n", "--type", "u8", "--value", "1", "-o", "ARG"}, arg: "set.bin", secret: true},
	{cmd: "rm", args: []string{"rm", "nvs.bin", "wifi", "ssid", "-o", "ARG"}, arg: "rm.bin", secret: true},
	{cmd: "export", args: []string{"export", "nvs.bin", "ARG"}, arg: "exp", fileOf: func(a string) string { return filepath.Join(a, "nvs.csv") }, secret: true,
		setup: func(t *testing.T, dir string) { os.Mkdir(filepath.Join(dir, "exp"), 0o755) }},
	{cmd: "partitions convert", args: []string{"partitions", "convert", "table.csv", "ARG"}, arg: "pt.bin"},
	{cmd: "read", args: []string{"read", "--port", "PORT", "--partition", "nvs", "-o", "ARG"}, arg: "dump.bin", secret: true, device: true},
	{cmd: "provision", args: []string{"provision", "nvs.csv", "--port", "PORT", "--partition", "nvs", "--save", "ARG"}, arg: "saved.bin", secret: true, device: true},
	{cmd: "encrypt-flash-data", args: []string{"encrypt-flash-data", "--keyfile", "flash_key.bin", "--address", "0x10000", "--output", "ARG", "data.bin"}, arg: "enc-data.bin", secret: true},
	{cmd: "decrypt-flash-data", args: []string{"decrypt-flash-data", "--keyfile", "flash_key.bin", "--address", "0x10000", "--output", "ARG", "data.bin"}, arg: "plain-data.bin", secret: true},
	{cmd: "mfg generate", args: []string{"mfg", "generate", "conf.csv", "values.csv", "node", "0x6000", "--outdir", "ARG"}, arg: "m",
		fileOf: func(a string) string { return filepath.Join(a, "bin", "node-1.bin") }, secret: true,
		setup: func(t *testing.T, dir string) { os.MkdirAll(filepath.Join(dir, "m", "bin"), 0o755) }},
}

// notWriters are the commands that write no file, and those whose file is their job's storage.
var notWriters = map[string]string{
	"check": "", "inspect": "", "keys check": "", "partitions show": "", "partitions check": "",
	"flash": "", "erase": "", "device info": "", "doctor": "", "ports": "", "completion": "", "help": "",
	"completion bash": "", "completion zsh": "", "completion fish": "", "completion powershell": "",
	"simulate": "its --flash file is the simulated chip's flash, updated as the chip would; tested with simulate",
}

func leafCommands(c *cobra.Command, prefix string, out map[string]*cobra.Command) {
	for _, s := range c.Commands() {
		name := strings.TrimSpace(prefix + " " + s.Name())
		if len(s.Commands()) == 0 {
			out[name] = s
		}
		leafCommands(s, name, out)
	}
}

func TestWritersCoverTree(t *testing.T) {
	env := &Env{}
	root := NewRoot(env)
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	leaves := map[string]*cobra.Command{}
	leafCommands(root, "", leaves)
	listed := map[string]bool{}
	for _, w := range writers {
		listed[w.cmd] = true
	}
	var names []string
	for n := range leaves {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := leaves[n]
		_, other := notWriters[n]
		switch {
		case !listed[n] && !other:
			t.Errorf("command %q is in neither writers nor notWriters: add it to the list of the file rules' test", n)
		case listed[n] && c.Annotations[writesAnnotation] == "":
			t.Errorf("command %q writes files but is not marked (outFlags.register or markWrites)", n)
		case other && c.Annotations[writesAnnotation] != "":
			t.Errorf("command %q is marked as writing files but listed in notWriters", n)
		}
		if listed[n] && c.Flags().Lookup("force") == nil {
			t.Errorf("command %q writes files but has no --force", n)
		}
	}
	for n := range listed {
		if leaves[n] == nil {
			t.Errorf("writers names %q, which is not a command", n)
		}
	}
}

// listAll returns the files and folders under dir, relative and sorted.
func listAll(dir string) []string {
	var all []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			all = append(all, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(all)
	return all
}

// tempLeft returns nvskit's temporary files and staging folders under dir.
func tempLeft(dir string) []string {
	var left []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			left = append(left, p)
		}
		return nil
	})
	return left
}

func (w writer) run(t *testing.T, dir, arg string, extra ...string) (int, string) {
	t.Helper()
	return w.runCtx(t, nil, dir, arg, extra...)
}

// runCtx runs the command with ctx as the run's context.
func (w writer) runCtx(t *testing.T, ctx context.Context, dir, arg string, extra ...string) (int, string) {
	t.Helper()
	var port string
	if w.device {
		port, _ = simPort(t, loadersim.Config{Chip: "esp32"}, false)
	}
	var args []string
	for _, a := range w.args {
		switch a {
		case "ARG":
			a = arg
		case "PORT":
			a = port
		}
		args = append(args, a)
	}
	var out, errb bytes.Buffer
	code := Run(append(args, extra...), Env{Dir: dir, Stdout: &out, Stderr: &errb, Context: ctx})
	return code, errb.String()
}

// TestFileRules walks every command that writes a file and checks the rules: an existing
// file is never replaced without --force; a failed run leaves no temporary file and no new
// folder; secret outputs are 0600 under umask 022, and nothing is wider than umask 077 allows.
func TestFileRules(t *testing.T) {
	old := fsutil.SetUmask(0o022)
	defer fsutil.SetUmask(old)
	for _, w := range writers {
		t.Run(strings.Join(w.args, "_"), func(t *testing.T) {
			fsutil.SetUmask(0o022)
			dir := safetyFixture(t)
			if w.setup != nil {
				w.setup(t, dir)
			}
			out := filepath.Join(dir, w.file(w.arg))
			os.MkdirAll(filepath.Dir(out), 0o755)
			user := []byte("a file the user wrote\n")
			os.WriteFile(out, user, 0o644)

			// 1. An existing file is refused, named, with --force as the way out.
			code, stderr := w.run(t, dir, w.arg)
			if code == 0 {
				t.Fatalf("replaced an existing file without --force")
			}
			if b, _ := os.ReadFile(out); string(b) != string(user) {
				t.Errorf("the existing file changed")
			}
			if !strings.Contains(stderr, filepath.Base(out)) || !strings.Contains(stderr, "--force") {
				t.Errorf("message names neither the file nor --force: %s", stderr)
			}
			if left := tempLeft(dir); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
			// 2. --force replaces it.
			if code, stderr = w.run(t, dir, w.arg, "--force"); code != 0 {
				t.Fatalf("--force: exit %d: %s", code, stderr)
			}
			if b, _ := os.ReadFile(out); string(b) == string(user) {
				t.Errorf("--force left the file as it was")
			}

			// 3. A failing write (a file where a folder must go) leaves nothing behind.
			dir = safetyFixture(t)
			if w.setup != nil {
				w.setup(t, dir)
			}
			blocked := filepath.Join("blocker", "sub", w.arg)
			os.WriteFile(filepath.Join(dir, strings.SplitN(w.file(blocked), string(filepath.Separator)+"sub", 2)[0]), nil, 0o644)
			before := listAll(dir)
			if code, stderr = w.run(t, dir, blocked); code == 0 {
				t.Fatalf("write under a file succeeded")
			}
			if strings.Contains(stderr, ".tmp-") {
				t.Errorf("message names a temporary file: %s", stderr)
			}
			if after := listAll(dir); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("failed run changed the folder:\nbefore %v\nafter  %v", before, after)
			}
			if left := tempLeft(dir); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}

			// 4. An interrupted run (SIGINT) writes nothing and leaves no temporary file.
			dir = safetyFixture(t)
			if w.setup != nil {
				w.setup(t, dir)
			}
			before = listAll(dir)
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(Interrupt{Signal: os.Interrupt})
			if code, stderr = w.runCtx(t, ctx, dir, w.arg); code != 130 || !strings.Contains(stderr, "interrupted; nothing was written") {
				t.Errorf("interrupted: exit %d: %s", code, stderr)
			}
			if after := listAll(dir); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("interrupted run changed the folder:\nbefore %v\nafter  %v", before, after)
			}

			// 5. Modes: secret outputs 0600 under umask 022; nothing wider than umask 077.
			for _, umask := range []int{0o022, 0o077} {
				fsutil.SetUmask(umask)
				dir := safetyFixture(t)
				if w.setup != nil {
					w.setup(t, dir)
				}
				if code, stderr = w.run(t, dir, w.arg); code != 0 {
					t.Fatalf("umask %03o: exit %d: %s", umask, code, stderr)
				}
				st, err := os.Stat(filepath.Join(dir, w.file(w.arg)))
				if err != nil {
					t.Fatal(err)
				}
				mode := st.Mode().Perm()
				if w.secret && umask == 0o022 && mode != 0o600 {
					t.Errorf("umask 022: secret output has mode %03o, want 0600", mode)
				}
				if mode&os.FileMode(umask) != 0 {
					t.Errorf("umask %03o: output has mode %03o", umask, mode)
				}
			}
		})
	}
}
