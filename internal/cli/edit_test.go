package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
)

// cliOp turns an ops.txt line into nvskit arguments (files for string and blob values).
func cliOp(t *testing.T, dir, img string, keys []string, op golden.Op, n int) []string {
	switch op.Kind {
	case "set":
		args := []string{"set", img, op.NS, op.Key, "--type", op.Type}
		switch op.Type {
		case "string", "blob":
			f := filepath.Join(dir, "value"+strconv.Itoa(n))
			if err := os.WriteFile(f, op.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--file", f)
		default:
			v := strconv.FormatUint(op.Int, 10)
			if op.Type[0] == 'i' {
				v = strconv.FormatInt(int64(op.Int), 10)
			}
			args = append(args, "--value", v)
		}
		return append(args, keys...)
	case "erase":
		return append([]string{"rm", img, op.NS, op.Key}, keys...)
	case "erase_all":
		return append([]string{"rm", img, op.NS, "--all"}, keys...)
	}
	return nil // reboot: every nvskit run mounts the image afresh
}

// TestSetRmDeviceHistories replays every device history through the set and rm commands (one
// nvskit run per operation, so every operation starts with a fresh mount) and checks that the
// result reads, through inspect --json, as the library's own view of expected.bin.
func TestSetRmDeviceHistories(t *testing.T) {
	for _, c := range deviceCases(t) {
		if c.Powercut != nil {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			if ops, _ := c.Ops(); testing.Short() && len(ops) > 200 {
				t.Skip("long history; run without -short")
			}
			dir := t.TempDir()
			start, err := c.StartImage()
			if err != nil {
				t.Fatal(err)
			}
			img := filepath.Join(dir, "nvs.bin")
			if err := os.WriteFile(img, start, 0o644); err != nil {
				t.Fatal(err)
			}
			var keys []string
			if c.Encrypted {
				keys = []string{"--keys", c.File("keys")}
			}
			ops, err := c.Ops()
			if err != nil {
				t.Fatal(err)
			}
			fails := map[int]bool{}
			for _, f := range c.ExpectedFailures {
				fails[f.Line] = true
			}
			for i, op := range ops {
				args := cliOp(t, dir, img, keys, op, i)
				if args == nil {
					continue
				}
				before, _ := os.ReadFile(img)
				code, _, stderr := run(t, "", args...)
				switch {
				case fails[op.Line]:
					if code == 0 {
						t.Errorf("line %d: succeeded, the device failed it", op.Line)
					}
					if after, _ := os.ReadFile(img); !bytes.Equal(before, after) {
						t.Errorf("line %d: a failed command changed the image", op.Line)
					}
				case code != 0 && op.Kind == "erase" && strings.Contains(stderr, "has no"):
					// erase of a missing key: the device returns NOT_FOUND too.
				case code != 0 && op.Kind == "erase_all" && strings.Contains(stderr, "has no namespace"):
					// nvs_erase_all of a namespace that does not exist creates it and
					// erases nothing; rm --all refuses instead. No key changes either way.
				case code != 0:
					t.Fatalf("line %d: nvskit %s: exit %d: %s", op.Line, strings.Join(args, " "), code, stderr)
				}
			}
			args := append([]string{"inspect", "--json", "--show-secrets", img}, keys...)
			code, out, stderr := run(t, "", args...)
			if code != 0 {
				t.Fatalf("inspect: %s", stderr)
			}
			var doc inspectJSON
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatal(err)
			}
			role := "expected_view"
			if c.Encrypted {
				role = "expected_plain_view"
			}
			v, err := c.ReadView(role)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := inspectLines(t, &doc), viewLines(t, v); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("live content differs:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if len(doc.Findings) != 0 {
				t.Errorf("findings: %v", doc.Findings)
			}
		})
	}
}

func TestEditCLI(t *testing.T) {
	dir := t.TempDir()
	var src golden.DeviceCase
	for _, c := range deviceCases(t) {
		if c.Name == "ints_all_types_0x3000" {
			src = c
		}
	}
	orig, err := os.ReadFile(src.File("expected"))
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "nvs.bin")
	if err := os.WriteFile(img, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		out  string // substring of stdout (code 0) or stderr
	}{
		{"set u32", []string{"set", "nvs.bin", "app", "count", "--type", "u32", "--value", "600"}, 0, "added"},
		{"same value", []string{"set", "nvs.bin", "app", "count", "--type", "u32", "--value", "600"}, 0, "unchanged"},
		{"hex int", []string{"set", "nvs.bin", "app", "count", "--type", "u32", "--value", "0x10"}, 0, "changed"},
		{"string", []string{"set", "nvs.bin", "app", "name", "--type", "string", "--value", "hello"}, 0, "added"},
		{"blob hex", []string{"set", "nvs.bin", "app", "cal", "--type", "blob", "--value", "00a1ff"}, 0, "added"},
		{"-o", []string{"set", "nvs.bin", "app", "x", "--type", "i8", "--value", "-5", "-o", "other.bin"}, 0, "other.bin"},
		{"out of range", []string{"set", "nvs.bin", "app", "x", "--type", "u8", "--value", "256"}, 2, "out of range"},
		{"no value", []string{"set", "nvs.bin", "app", "x", "--type", "u8"}, 2, "exactly one"},
		{"bad type", []string{"set", "nvs.bin", "app", "x", "--type", "float", "--value", "1"}, 2, "--type"},
		{"long key", []string{"set", "nvs.bin", "app", "a_key_that_is_too_long", "--type", "u8", "--value", "1"}, 1, "15 bytes"},
		{"long string", []string{"set", "nvs.bin", "app", "s", "--type", "string", "--value", strings.Repeat("x", 4000)}, 1, "too long"},
		{"rm missing", []string{"rm", "nvs.bin", "app", "nope"}, 1, "its keys are: count, name, cal"},
		{"rm", []string{"rm", "nvs.bin", "app", "name"}, 0, "erased app/name"},
		{"rm all missing ns", []string{"rm", "nvs.bin", "nons", "--all"}, 1, "no namespace"},
		{"rm all", []string{"rm", "nvs.bin", "ints", "--all"}, 0, "erased"},
		{"rm args", []string{"rm", "nvs.bin", "ints"}, 2, "--all"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := run(t, dir, tc.args...)
			text := out
			if tc.code != 0 {
				text = stderr
			}
			if code != tc.code || !strings.Contains(text, tc.out) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, stderr, tc.code, tc.out)
			}
		})
	}
	code, out, _ := run(t, dir, "get", "nvs.bin", "app", "count")
	if code != 0 || out != "16\n" {
		t.Errorf("get count: %d %q", code, out)
	}
	code, out, _ = run(t, dir, "get", "other.bin", "app", "x")
	if code != 0 || out != "-5\n" {
		t.Errorf("get x from -o output: %d %q", code, out)
	}
	if code, out, _ := run(t, dir, "inspect", "--view", "minimal", "nvs.bin"); code != 0 || out != "app:count = 16\napp:cal = 00a1ff\n" {
		t.Errorf("after edits: %q", out)
	}
	if code, out, stderr := run(t, dir, "check", "nvs.bin"); code != 0 {
		t.Errorf("check after edits: %s%s", out, stderr)
	}
}
