package cli

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
)

// run runs nvskit in-process in dir and returns exit code, stdout and stderr.
func run(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(args, Env{Dir: dir, Stdout: &out, Stderr: &errb, Stdin: strings.NewReader("")})
	return code, out.String(), errb.String()
}

func deviceCases(t *testing.T) []golden.DeviceCase {
	t.Helper()
	cs, err := golden.LoadDevice()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func inspectLines(t *testing.T, doc *inspectJSON) []string {
	var out []string
	for _, it := range doc.Items {
		if it.V1 {
			continue // the library's iteration does not list V1 blobs
		}
		typ, val := it.Type, string(it.Value)
		switch it.Type {
		case "string":
			typ, val = "str", it.Hex
		case "blob":
			s, err := strconv.Unquote(val)
			if err != nil {
				t.Fatal(err)
			}
			val = s
		}
		out = append(out, fmt.Sprintf("%s/%s %s %s", it.Namespace, it.Key, typ, val))
	}
	sort.Strings(out)
	return out
}

// TestInspectJSONDevice: for every device case, inspect --json gives the same live keys, types
// and values as the library's own view (expected.jsonl; expected_plain.jsonl with --keys for
// encrypted images).
func TestInspectJSONDevice(t *testing.T) {
	for _, c := range deviceCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			args := []string{"inspect", "--json", "--show-secrets", c.File("expected")}
			if c.Encrypted {
				args = append(args, "--keys", c.File("keys"))
			}
			code, out, stderr := run(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var doc inspectJSON
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Schema != InspectSchema {
				t.Errorf("schema %q", doc.Schema)
			}
			for _, role := range []string{"expected_view", "expected_plain_view"} {
				if c.File(role) == "" {
					continue
				}
				v, err := c.ReadView(role)
				if err != nil {
					t.Fatal(err)
				}
				got, want := inspectLines(t, &doc), viewLines(t, v)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s: inspect --json gives\n%s\nwant\n%s", role, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			if u := v(doc.Space.EntriesUsed); c.Powercut == nil && len(doc.Findings) != 0 {
				t.Errorf("findings on a clean image: %v (used %v)", doc.Findings, u)
			}
		})
	}
}

func v(n int) float64 { return float64(n) }

func TestCheckDevice(t *testing.T) {
	for _, c := range deviceCases(t) {
		args := []string{"check", c.File("expected")}
		if c.Encrypted {
			args = append(args, "--keys", c.File("keys"))
		}
		code, out, stderr := run(t, "", args...)
		raw := c.Powercut != nil && c.Powercut.Kind == "raw"
		if raw != (code == 1) || (code != 0 && code != 1) {
			t.Errorf("%s: check exit %d (raw power cut: %v)\n%s%s", c.Name, code, raw, out, stderr)
		}
		for _, l := range strings.Split(out, "\n") {
			if len([]rune(l)) > 80 && !strings.Contains(l, c.File("expected")) {
				t.Errorf("%s: line longer than 80 columns: %q", c.Name, l)
			}
		}
	}
}

func TestInspectViewsFit80(t *testing.T) {
	gen, err := golden.Load("nvs-gen")
	if err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, c := range gen {
		if !c.Expect.Error && len(c.Args) > 0 && c.Args[0] != "encrypt" && c.Expect.Files["out.bin"] != "" {
			images = append(images, filepath.Join(c.Dir, c.Expect.Files["out.bin"]))
		}
	}
	for _, img := range images {
		for _, view := range []string{"", "minimal", "namespaces", "blobs", "storage", "all"} {
			code, out, stderr := run(t, "", "inspect", "--view", view, img)
			if view == "" {
				code, out, stderr = run(t, "", "inspect", img)
			}
			if code != 0 {
				t.Fatalf("%s %s: exit %d: %s", img, view, code, stderr)
			}
			for _, l := range strings.Split(out, "\n") {
				if len([]rune(l)) > 80 {
					t.Errorf("%s --view %q: line longer than 80 columns: %q", img, view, l)
				}
			}
		}
	}
	for _, c := range deviceCases(t) {
		for _, view := range []string{"", "minimal", "namespaces", "blobs", "storage", "all"} {
			args := []string{"inspect", c.File("expected")}
			if view != "" {
				args = append(args, "--view", view)
			}
			if c.Encrypted {
				args = append(args, "--keys", c.File("keys"))
			}
			code, out, stderr := run(t, "", args...)
			if code != 0 {
				t.Fatalf("%s %s: exit %d: %s", c.Name, view, code, stderr)
			}
			for _, l := range strings.Split(out, "\n") {
				if len([]rune(l)) > 80 {
					t.Errorf("%s --view %q: line longer than 80 columns: %q", c.Name, view, l)
				}
			}
		}
	}
}

func TestInspectHidesSecrets(t *testing.T) {
	var c golden.DeviceCase
	for _, x := range deviceCases(t) {
		if x.Name == "seed_certs_update_cert_0x5000" {
			c = x
		}
	}
	_, out, _ := run(t, "", "inspect", c.File("expected"))
	if strings.Contains(out, "BEGIN CERTIFICATE") || !strings.Contains(out, "hidden") {
		t.Errorf("default view shows a secret-looking value:\n%s", out)
	}
	_, out, _ = run(t, "", "inspect", "--show-secrets", c.File("expected"))
	if strings.Contains(out, "hidden") {
		t.Errorf("--show-secrets still hides:\n%s", out)
	}
	_, out, _ = run(t, "", "inspect", "--json", c.File("expected"))
	if strings.Contains(out, "BEGIN CERTIFICATE") || !strings.Contains(out, `"redacted": true`) {
		t.Errorf("--json shows a secret-looking value")
	}
}

// TestGetDevice: get prints every value exactly as the library's view has it.
func TestGetDevice(t *testing.T) {
	for _, c := range deviceCases(t) {
		vw, err := c.ReadView("expected_view")
		if err != nil {
			t.Fatal(err)
		}
		if c.Encrypted {
			vw, _ = c.ReadView("expected_plain_view")
		}
		for _, k := range vw.Keys {
			args := []string{"get", c.File("expected"), k.NS, k.Key}
			if c.Encrypted {
				args = append(args, "--keys", c.File("keys"))
			}
			code, out, stderr := run(t, "", args...)
			if code != 0 {
				t.Fatalf("%s %s/%s: exit %d: %s", c.Name, k.NS, k.Key, code, stderr)
			}
			var want []byte
			switch k.Type {
			case "str":
				b, _ := hex.DecodeString(k.Hex)
				want = b[:len(b)-1]
			case "blob":
				s, _ := strconv.Unquote(string(k.Value))
				want, _ = hex.DecodeString(s)
			default:
				want = append(append([]byte(nil), k.Value...), '\n')
			}
			if out != string(want) {
				t.Errorf("%s %s/%s: got %q, want %q", c.Name, k.NS, k.Key, truncate(out, 60), truncate(string(want), 60))
			}
		}
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	var enc, plain golden.DeviceCase
	for _, c := range deviceCases(t) {
		switch c.Name {
		case "encrypted_history_0x5000":
			enc = c
		case "ints_all_types_0x3000":
			plain = c
		}
	}
	img, err := os.ReadFile(plain.File("expected"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"empty", []string{"inspect", write("empty.bin", nil)}, 1, "empty"},
		{"truncated", []string{"inspect", write("trunc.bin", img[:5000])}, 1, "not a multiple of 4096"},
		{"missing", []string{"check", "nope.bin"}, 1, "no such file"},
		{"encrypted without keys", []string{"inspect", enc.File("expected")}, 1, "looks encrypted"},
		{"encrypted check without keys", []string{"check", enc.File("expected")}, 1, "looks encrypted"},
		{"keys for a plain image", []string{"inspect", "--keys", enc.File("keys"), plain.File("expected")}, 1, "is not encrypted"},
		{"missing key", []string{"get", plain.File("expected"), "ints", "nope"}, 1, "its keys are: u8_zero"},
		{"missing namespace", []string{"get", plain.File("expected"), "nons", "x"}, 1, "its namespaces are: ints"},
		{"bad view", []string{"inspect", "--view", "bogus", plain.File("expected")}, 2, "--view"},
		{"get args", []string{"get", plain.File("expected"), "ints"}, 2, "NAMESPACE KEY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, dir, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
}

// viewLines renders the library's view for comparison (see golden.View.Lines).
func viewLines(t *testing.T, v *golden.View) []string {
	t.Helper()
	lines, err := v.Lines()
	if err != nil {
		t.Fatal(err)
	}
	return lines
}
