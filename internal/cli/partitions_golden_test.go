package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
)

// partitionTopics says, for every golden error case, a phrase nvskit's message must contain:
// the same problem as the reference's message_contains, in nvskit's words (compared in lower
// case).
var partitionTopics = map[string]string{
	"err_seed_flash_8mb":                    "does not fit in a flash of 8mb",
	"err_seed_offset_collides":              "inside the partition table's sector at 0xa000",
	"err_nvs_rw_too_small":                  "must be flagged as 'readonly'",
	"err_unknown_flag":                      "unknown flag 'encrypted'",
	"err_flag_spaces_quirk":                 "unknown flag 'encrypted '",
	"err_readonly_otadata":                  "cannot be read-only",
	"err_leading_zero_decimal_quirk":        "leading zeros",
	"err_subtype_leading_zero_quirk":        "subtype '02' is not valid. known keywords: ota, phy, nvs",
	"err_custom_type_subtype_name":          "invalid subtype nvs",
	"err_type_out_of_range_quirk":           "outside 0..255",
	"err_inline_comment_quirk":              "unknown flag '# main nvs'",
	"err_empty_type":                        "type column is empty",
	"err_app_empty_subtype":                 "app partition needs a subtype",
	"err_size_empty":                        "size column is empty",
	"err_unknown_type":                      "type 'dat' is not valid. known keywords: bootloader, partition_table, app, data",
	"err_unknown_subtype":                   "subtype 'spifs' is not valid. known keywords: ota, phy, nvs",
	"err_bad_size_syntax":                   "invalid size 1.5",
	"err_unknown_variable":                  "unknown variable 'nvskit_undefined_partition_name'",
	"err_offset_suffix_quirk":               "--offset 36k: give the offset in bytes",
	"err_bootloader_no_offset":              "primary bootloader offset is not defined",
	"err_bootloader_above_table":            "must be below the partition table",
	"err_secure_v1_app_size":                "size 0x101000 is not aligned to 0x10000",
	"err_extra_subtype_duplicate_quirk":     `data subtype 0x02 is already "nvs"`,
	"err_too_many_95_md5":                   "longer than the maximum",
	"err_beyond_flash_4mb":                  "does not fit in a flash of 4mb",
	"err_flash_size_choice":                 `flash size "3mb": choose one of`,
	"err_overlap_csv":                       "starts at 0xe000, but the previous partition ends at 0xf000",
	"err_first_below_table":                 "inside the partition table's sector at 0x8000; use a free offset 0x9000",
	"err_out_of_order_quirk":                "increasing address order",
	"err_duplicate_line_quirk":              "repeats the first partition",
	"err_duplicate_names":                   "partition names must be unique",
	"err_app_misaligned":                    "offset 0x18000 is not aligned to 0x10000",
	"err_data_misaligned":                   "offset 0x9800 is not aligned to 0x1000",
	"err_app_size_unaligned":                "size 0x100800 is not aligned to 0x1000",
	"err_otadata_size":                      "otadata (data/ota) partition must have size = 0x2000",
	"err_otadata_multiple":                  "multiple otadata",
	"err_tee_otadata_size":                  "tee otadata (data/tee_ota) partition must have size = 0x2000",
	"err_bootloader_ota_na_offset":          "invalid offset n/a",
	"err_bin_below_table":                   "offset 0x4000 is below 0x9000",
	"err_bin_bad_md5":                       "md5 checksums don't match",
	"err_bin_bad_magic_entry2":              "invalid magic bytes 55 aa",
	"err_bin_bad_magic_first_quirk":         "first entry is damaged",
	"err_bin_no_end_marker":                 "no end-of-table marker",
	"err_bin_length_not_multiple":           "multiple of 32",
	"err_bin_md5_with_disable_flag_quirk":   "md5 rows are disabled",
	"err_bin_empty_table_quirk":             "binary table with no partitions",
	"err_bin_overlap":                       "partitions overlap: it starts at 0xe000",
	"err_bin_truncated_names_collide_quirk": "partition names must be unique",
	"err_bin_name_not_utf8_quirk":           "not valid utf-8",
}

// partitionDeviations are the golden cases the reference accepts and nvskit refuses, by
// decision, with the phrase nvskit's error must contain.
var partitionDeviations = map[string]string{
	"name_truncation_collision_quirk": "collides with",
}

type partitionRun struct {
	code           int
	stdout, stderr string
	dir            string
	created        []string // files in dir that the case folder does not have
}

func runPartitionCase(t *testing.T, c *golden.Case) partitionRun {
	t.Helper()
	dir := t.TempDir()
	if err := c.CopyTo(dir); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	args := append([]string{"partitions", "convert"}, c.Args...)
	code := Run(args, Env{Dir: dir, Stdout: &stdout, Stderr: &stderr})
	r := partitionRun{code: code, stdout: stdout.String(), stderr: stderr.String(), dir: dir}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if _, err := os.Stat(filepath.Join(c.Dir, rel)); err != nil {
			r.created = append(r.created, rel)
		}
		return nil
	})
	return r
}

// unsetPartitionEnv removes the variable two golden cases need undefined, for this test only.
func unsetPartitionEnv(t *testing.T) {
	const v = "NVSKIT_UNDEFINED_PARTITION_NAME"
	t.Setenv(v, "")
	os.Unsetenv(v)
}

func TestPartitionGolden(t *testing.T) {
	unsetPartitionEnv(t)
	cases, err := golden.Load("partition")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 100 {
		t.Fatalf("only %d partition cases", len(cases))
	}
	for i := range cases {
		c := &cases[i]
		t.Run(c.Name, func(t *testing.T) {
			r := runPartitionCase(t, c)
			if want, ok := partitionDeviations[c.Name]; ok {
				if c.Expect.Error {
					t.Fatalf("deviation listed for an error case")
				}
				checkPartitionError(t, r, want)
				return
			}
			if c.Expect.Error {
				want, ok := partitionTopics[c.Name]
				if !ok {
					t.Fatalf("no topic for error case (reference: %q); stderr:\n%s", c.Expect.MessageContains, r.stderr)
				}
				checkPartitionError(t, r, want)
				return
			}
			if r.code != 0 {
				t.Fatalf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
			}
			for out, exp := range c.Expect.Files {
				got, err := os.ReadFile(filepath.Join(r.dir, out))
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(filepath.Join(c.Dir, exp))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from %s:\n got %q\nwant %q", out, exp, shorten(got), shorten(want))
				}
			}
			if c.Expect.Stdout != "" {
				want, err := os.ReadFile(filepath.Join(c.Dir, c.Expect.Stdout))
				if err != nil {
					t.Fatal(err)
				}
				if r.stdout != string(want) {
					t.Errorf("stdout differs from %s:\n got %q\nwant %q", c.Expect.Stdout, r.stdout, want)
				}
			}
		})
	}
}

func checkPartitionError(t *testing.T, r partitionRun, want string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("exit 0, want an error about %q", want)
	}
	if len(r.created) > 0 {
		t.Errorf("left files behind: %v", r.created)
	}
	if !strings.HasPrefix(r.stderr, "nvskit: ") && !strings.Contains(r.stderr, "\nnvskit: ") || strings.Contains(r.stderr, "goroutine") {
		t.Errorf("not a clean error message:\n%s", r.stderr)
	}
	if !strings.Contains(strings.ToLower(r.stderr), strings.ToLower(want)) {
		t.Errorf("message does not mention %q:\n%s", want, r.stderr)
	}
}

func shorten(b []byte) []byte {
	if len(b) > 400 {
		return b[:400]
	}
	return b
}
