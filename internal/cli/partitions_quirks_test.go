package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
)

// publicPartitionCases is the size of the public golden partition corpus.
const publicPartitionCases = 115

// TestPartitionQuirkDecisions asserts, case by case, what nvskit does with every golden case
// marked as a quirk of gen_esp32part.py (and the crash cases): match the reference byte for
// byte, or refuse the table with a clear error.
func TestPartitionQuirkDecisions(t *testing.T) {
	unsetPartitionEnv(t)
	const (
		match  = "match"  // accepted, same bytes as the reference (and a warning where noted)
		refuse = "refuse" // a clean error mentioning the phrase
	)
	decisions := []struct {
		name, decision, phrase string
	}{
		// Names over 16 bytes: cut as the reference cuts them, with a warning.
		{"name_truncated_quirk", match, "the binary keeps only the first 16"},
		{"name_utf8_cut_quirk", match, "the cut splits a character"},
		// Two names equal after the cut: the reference accepts, nvskit refuses.
		{"name_truncation_collision_quirk", refuse, "both become \"storage_partitio\""},
		{"err_bin_truncated_names_collide_quirk", refuse, "partition names must be unique"},
		// Refused, like the reference, with an error that says the fix.
		{"err_flag_spaces_quirk", refuse, "without spaces around ':'"},
		{"err_offset_suffix_quirk", refuse, "without a k or m suffix (36k is 0x9000)"},
		{"err_inline_comment_quirk", refuse, "move the comment to a line of its own"},
		// Where the reference crashes with a traceback (exit 1): a clean error.
		{"err_type_out_of_range_quirk", refuse, "outside 0..255"},
		{"err_extra_subtype_duplicate_quirk", refuse, "choose a free value"},
		{"err_bin_bad_magic_first_quirk", refuse, "instead of aa 50"},
		{"err_bin_md5_with_disable_flag_quirk", refuse, "without that option"},
		{"err_bin_empty_table_quirk", refuse, "cannot read such a table either"},
		{"err_bin_name_not_utf8_quirk", refuse, "cut in the middle of a character"},
		// Other reference rules that nvskit keeps.
		{"err_leading_zero_decimal_quirk", refuse, "cannot have leading zeros"},
		{"err_subtype_leading_zero_quirk", refuse, "cannot have leading zeros"},
		{"err_out_of_order_quirk", refuse, "increasing address order"},
		{"err_duplicate_line_quirk", refuse, "repeats the first partition"},
		{"err_unknown_variable", refuse, "unknown variable"},
		{"numeric_literals_quirk", match, ""},
		{"custom_type_0xff_quirk", match, ""},
		{"undefined_variable_literal_quirk", match, ""},
		{"extra_subtypes", match, ""},
		{"name_empty_quirk", match, ""},
		{"zero_size_quirk", match, ""},
		{"bin2csv_out_of_order_quirk", match, ""},
		{"bin2csv_zero_size_quirk", match, ""},
	}
	cases, err := golden.Load("partition")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*golden.Case{}
	for i := range cases {
		byName[cases[i].Name] = &cases[i]
	}
	covered := map[string]bool{}
	for _, d := range decisions {
		covered[d.name] = true
		t.Run(d.name, func(t *testing.T) {
			c, ok := byName[d.name]
			if !ok {
				t.Fatalf("no golden case %s", d.name)
			}
			r := runPartitionCase(t, c)
			switch d.decision {
			case refuse:
				checkPartitionError(t, r, d.phrase)
			case match:
				if r.code != 0 {
					t.Fatalf("exit %d:\n%s", r.code, r.stderr)
				}
				for out, exp := range c.Expect.Files {
					got, _ := os.ReadFile(filepath.Join(r.dir, out))
					want, _ := os.ReadFile(filepath.Join(c.Dir, exp))
					if !bytes.Equal(got, want) {
						t.Errorf("%s differs from the reference", out)
					}
				}
				if !strings.Contains(r.stderr, d.phrase) {
					t.Errorf("stderr lacks %q:\n%s", d.phrase, r.stderr)
				}
			}
		})
	}
	// Every public quirk case and every case where the reference crashed has a decision above.
	// (Cases kept aside are judged by TestPartitionGolden: they must match the reference, or be
	// a clean error where the reference fails.)
	for _, c := range cases {
		if (c.Quirk != "" || c.Expect.ReferenceExitCode == 1) && !covered[c.Name] {
			if len(cases) == publicPartitionCases {
				t.Errorf("quirk case %s has no decision", c.Name)
			} else {
				t.Logf("quirk case %s has no explicit decision", c.Name)
			}
		}
	}
}
