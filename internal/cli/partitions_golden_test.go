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

// partitionTopicPatterns judge error cases that partitionTopics does not name (such as the
// golden cases kept aside): the first pattern found in the reference's message_contains gives
// phrases, one of which nvskit's message must contain (lower case).
var partitionTopicPatterns = []struct {
	ref string
	nvs []string
}{
	{"does not fit in configured flash size", []string{"does not fit in a flash of"}},
	{"partitions tables occupies", []string{"does not fit in a flash of"}},
	{"but partition table occupies the whole sector", []string{"inside the partition table's sector", "repeats the first partition"}},
	{"previous partition ends", []string{"but the previous partition ends at"}},
	{"must be flagged as 'readonly'", []string{"must be flagged as 'readonly'"}},
	{"unknown flag", []string{"unknown flag"}},
	{"is always read-write", []string{"cannot be read-only"}},
	{"is not valid. known keywords", []string{"is not valid. known keywords"}},
	{"invalid field value", []string{"invalid field value", "too large", "suffixes"}},
	{"format requires", []string{"outside 0..255", "does not fit in 32 bits", "too large", "must be above the offset"}},
	{"argument out of range", []string{"does not fit in 32 bits", "too large", "must be above the offset"}},
	{"field 'type' can't be left empty", []string{"type column is empty"}},
	{"app partition cannot have an empty subtype", []string{"app partition needs a subtype"}},
	{"size field can't be empty", []string{"size column is empty"}},
	{"unknown variable", []string{"unknown variable"}},
	{"invalid literal for int()", []string{"give the offset in bytes", "not an offset", "leading zeros", "is not a hex number"}},
	{"primary bootloader offset is not defined", []string{"primary bootloader offset is not defined"}},
	{"recovery bootloader offset is not defined", []string{"recovery bootloader offset is not defined"}},
	{"primary bootloader must be below", []string{"must be below the partition table"}},
	{"is not aligned to", []string{"is not aligned to"}},
	{"found duplicate value in partition subtype", []string{"is already"}},
	{"error parsing custom subtypes", []string{"extra subtype"}},
	{"longer than max", []string{"longer than the maximum"}},
	{"invalid choice", []string{"choose"}},
	{"expected one argument", []string{"needs an argument"}},
	{"partition names must be unique", []string{"must be unique"}},
	{"tee otadata partition must have size", []string{"tee otadata (data/tee_ota) partition must have size"}},
	{"otadata partition must have size", []string{"otadata (data/ota) partition must have size"}},
	{"found multiple tee otadata", []string{"multiple tee otadata"}},
	{"found multiple otadata", []string{"multiple otadata"}},
	{"is below", []string{"is below"}},
	{"md5 checksums don't match", []string{"md5 checksums don't match"}},
	{"invalid magic bytes", []string{"invalid magic bytes"}},
	{"missing an end-of-table marker", []string{"no end-of-table marker"}},
	{"multiple of 32 bytes", []string{"multiple of 32"}},
	{"overlaps", []string{"partitions overlap"}},
	{"unicodedecodeerror", []string{"not utf-8", "not valid utf-8", "md5 rows are disabled", "no partitions", "instead of aa 50", "utf-16", "utf-32"}},
}

// partitionTopic returns the phrases nvskit's message must contain one of.
func partitionTopic(c *golden.Case) []string {
	if w, ok := partitionTopics[c.Name]; ok {
		return []string{w}
	}
	ref := strings.ToLower(c.Expect.MessageContains)
	for _, p := range partitionTopicPatterns {
		if strings.Contains(ref, p.ref) {
			return p.nvs
		}
	}
	return nil
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

// TestPartitionGoldenTopicPatterns checks the fallback patterns on the public cases: each
// error case's pattern-derived phrases must also accept nvskit's message.
func TestPartitionGoldenTopicPatterns(t *testing.T) {
	unsetPartitionEnv(t)
	cases, err := golden.Load("partition")
	if err != nil {
		t.Fatal(err)
	}
	for i := range cases {
		c := &cases[i]
		if !c.Expect.Error {
			continue
		}
		saved, had := partitionTopics[c.Name]
		delete(partitionTopics, c.Name)
		t.Run(c.Name, func(t *testing.T) {
			want := partitionTopic(c)
			if want == nil {
				t.Fatalf("no pattern for %q", c.Expect.MessageContains)
			}
			checkPartitionError(t, runPartitionCase(t, c), want...)
		})
		if had {
			partitionTopics[c.Name] = saved
		}
	}
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
				want := partitionTopic(c)
				if want == nil {
					t.Fatalf("no topic for error case (reference: %q); stderr:\n%s", c.Expect.MessageContains, r.stderr)
				}
				checkPartitionError(t, r, want...)
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

func checkPartitionError(t *testing.T, r partitionRun, want ...string) {
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
	msg := strings.ToLower(r.stderr)
	for _, w := range want {
		if strings.Contains(msg, strings.ToLower(w)) {
			return
		}
	}
	t.Errorf("message does not mention %q:\n%s", want, r.stderr)
}

func shorten(b []byte) []byte {
	if len(b) > 400 {
		return b[:400]
	}
	return b
}
