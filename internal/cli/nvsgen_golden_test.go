package cli

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
	"github.com/nvskit/nvskit/nvs"
)

// caseDecision says how a golden case is judged when nvskit departs from the reference on
// purpose (the README lists the departures). Each is asserted here by the case's name.
type caseDecision func(t *testing.T, c golden.Case, dir string, code int, stdout, stderr string)

var nvsGenDecisions = map[string]caseDecision{
	// Do what the user meant: a2/a3 go back into the re-selected namespace "alpha", with a
	// warning that the reference would have put them into "beta".
	"namespace_reselect_quirk": func(t *testing.T, c golden.Case, dir string, code int, _, stderr string) {
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		img := mustRead(t, filepath.Join(dir, "out.bin"))
		ns := entriesByKey(img)
		alpha, beta := ns["\x00alpha"], ns["\x00beta"]
		if alpha.Uint() != 1 || beta.Uint() != 2 {
			t.Fatalf("namespace indices alpha=%d beta=%d, want 1 and 2", alpha.Uint(), beta.Uint())
		}
		for _, k := range []string{"a1", "a2", "a3"} {
			if e, ok := ns[k]; !ok || e.NS != 1 {
				t.Errorf("%s is in namespace index %d, want 1 (alpha)", k, e.NS)
			}
		}
		if e := ns["b1"]; e.NS != 2 {
			t.Errorf("b1 is in namespace index %d, want 2 (beta)", e.NS)
		}
		if !strings.Contains(stderr, `namespace "alpha" selected again`) || !strings.Contains(stderr, `"beta"`) {
			t.Errorf("no warning about the reference's behaviour: %q", stderr)
		}
		if bytes.Equal(img, mustRead(t, filepath.Join(c.Dir, "expected.bin"))) {
			t.Error("output equals the reference's, which misplaces a2/a3")
		}
	},
	// An error naming the row: the device would misread keys before any namespace.
	"first_row_not_namespace_quirk": expectError("input.csv:2:", `"orphan"`, "namespace"),
	// The full partition size, padded with 0xFF (the reference writes only the used pages).
	"readonly_0x2000_truncated_quirk": func(t *testing.T, c golden.Case, dir string, code int, _, stderr string) {
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		got := mustRead(t, filepath.Join(dir, "out.bin"))
		want := mustRead(t, filepath.Join(c.Dir, "expected.bin"))
		if len(want) != 0x1000 || len(got) != 0x2000 {
			t.Fatalf("got %d bytes (want 0x2000), reference %d", len(got), len(want))
		}
		if !bytes.Equal(got[:0x1000], want) || !bytes.Equal(got[0x1000:], bytes.Repeat([]byte{0xFF}, 0x1000)) {
			t.Error("output is not the reference's pages padded with 0xFF")
		}
		if !strings.Contains(stderr, "read-only") {
			t.Errorf("no read-only note: %q", stderr)
		}
	},
	// Encodings are case-insensitive: the image equals that of the lower-cased CSV.
	"encoding_uppercase_quirk": func(t *testing.T, c golden.Case, dir string, code int, _, stderr string) {
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		got := mustRead(t, filepath.Join(dir, "out.bin"))
		lines := strings.Split(string(mustRead(t, filepath.Join(dir, "input.csv"))), "\n")
		for i, l := range lines {
			if f := strings.SplitN(l, ",", 4); len(f) == 4 {
				f[2] = strings.ToLower(f[2])
				lines[i] = strings.Join(f, ",")
			}
		}
		lower := strings.Join(lines, "\n")
		want := generateFrom(t, lower, "0x3000")
		if !bytes.Equal(got, want) {
			t.Error("upper-case encodings do not mean the same as lower-case ones")
		}
		s := entriesByKey(got)["s"]
		if s.Type != nvs.TypeString || s.VarSize() != 4 {
			t.Errorf("STRING abc stored as %s of %d bytes, want string of 4 (with NUL)", s.Type, s.VarSize())
		}
	},
	// A data row with more fields than the header is an error that says to quote.
	"csv_short_and_long_rows": expectError("input.csv:3:", "quotes"),
	// Strings up to the device's 4000-byte limit are written; 4000 bytes fill a page.
	"err_string_pagefull_v2": func(t *testing.T, c golden.Case, dir string, code int, _, stderr string) {
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		img := mustRead(t, filepath.Join(dir, "out.bin"))
		k := entriesByKey(img)["k"]
		csv := string(mustRead(t, filepath.Join(dir, "input.csv")))
		n := len(strings.TrimSpace(csv[strings.Index(csv, "k,data,string,")+len("k,data,string,"):])) + 1
		if n < 3969 || n > nvs.MaxString {
			t.Fatalf("case string is %d bytes; the test expects one of 3969..4000", n)
		}
		if k.Type != nvs.TypeString || k.VarSize() != n || int(k.Span) != nvs.SlotsFor(n) {
			t.Errorf("k: %s size %d span %d, want string size %d span %d", k.Type, k.VarSize(), k.Span, n, nvs.SlotsFor(n))
		}
	},
	// A UTF-8 BOM is stripped.
	"err_utf8_bom_header": acceptedAs(func(csv string) string { return strings.TrimPrefix(csv, "\ufeff") }),
	// A whitespace-only line is skipped like a blank one.
	"err_whitespace_only_line": acceptedAs(func(csv string) string { return strings.Replace(csv, "   \n", "", 1) }),
}

func expectError(substrings ...string) caseDecision {
	return func(t *testing.T, c golden.Case, dir string, code int, _, stderr string) {
		if code == 0 {
			t.Fatal("succeeded; want an error")
		}
		for _, s := range substrings {
			if !strings.Contains(stderr, s) {
				t.Errorf("error %q does not mention %q", stderr, s)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "out.bin")); err == nil {
			t.Error("out.bin left behind")
		}
	}
}

func acceptedAs(fix func(string) string) caseDecision {
	return func(t *testing.T, c golden.Case, dir string, code int, _, stderr string) {
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		got := mustRead(t, filepath.Join(dir, "out.bin"))
		want := generateFrom(t, fix(string(mustRead(t, filepath.Join(dir, "input.csv")))), c.Args[3])
		if !bytes.Equal(got, want) {
			t.Error("image differs from the one of the cleaned-up CSV")
		}
	}
}

func generateFrom(t *testing.T, csv, size string) []byte {
	t.Helper()
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "in.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runIn(t, d, "generate", "in.csv", "out.bin", size); code != 0 {
		t.Fatalf("generating the reference CSV: %s", stderr)
	}
	return mustRead(t, filepath.Join(d, "out.bin"))
}

// entriesByKey indexes the item headers of a plain generator image by key; namespace
// definitions are indexed as "\x00name".
func entriesByKey(img []byte) map[string]nvs.Entry {
	m := map[string]nvs.Entry{}
	for p := 0; p+nvs.PageSize <= len(img); p += nvs.PageSize {
		if nvs.PageState(binary.LittleEndian.Uint32(img[p:])) == nvs.PageEmpty {
			continue
		}
		for i := 0; i < nvs.EntriesPerPage; {
			if nvs.BitmapState(img[p+nvs.HeaderSize:], i) != nvs.EntryWritten {
				i++
				continue
			}
			e := nvs.DecodeEntry(img[p+nvs.FirstEntryOff+i*nvs.EntrySize:])
			k := e.KeyString()
			if e.NS == 0 {
				k = "\x00" + k
			}
			if e.Type != nvs.TypeBlobData {
				m[k] = e
			}
			i += max(int(e.Span), 1)
		}
	}
	return m
}

// TestNVSGenGolden runs every case of the reference generator's golden suite.
func TestNVSGenGolden(t *testing.T) {
	cases, err := golden.Load("nvs-gen")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.Tool != "nvs_partition_gen" {
				t.Fatalf("unexpected tool %q", c.Tool)
			}
			dir := t.TempDir()
			if err := c.CopyTo(dir); err != nil {
				t.Fatal(err)
			}
			before := listFiles(t, dir)
			code, stdout, stderr := runIn(t, dir, c.Args...)
			if d, ok := nvsGenDecisions[c.Name]; ok {
				seen[c.Name] = true
				d(t, c, dir, code, stdout, stderr)
				return
			}
			if c.Expect.Error {
				if code == 0 {
					t.Fatalf("succeeded; the reference failed with %q", c.Expect.MessageContains)
				}
				if after := listFiles(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
					t.Errorf("files left behind: before %v after %v", before, after)
				}
				if !strings.HasPrefix(stderr, "nvskit: ") || len(stderr) < 20 {
					t.Errorf("unclear error: %q", stderr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for out, exp := range c.Expect.Files {
				got := mustRead(t, filepath.Join(dir, out))
				want := mustRead(t, filepath.Join(c.Dir, exp))
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from %s (%d vs %d bytes)", out, exp, len(got), len(want))
				}
			}
		})
	}
	for name := range nvsGenDecisions {
		if !seen[name] {
			t.Errorf("decision for %s was not exercised: is the case gone from cases.json?", name)
		}
	}
}
