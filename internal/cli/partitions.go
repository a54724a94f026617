package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/partition"
)

func newPartitionsCmd(env *Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "partitions",
		Short: "Read, convert and check ESP-IDF partition tables (drop-in for gen_esp32part.py)",
		Long: `Read, convert and check ESP-IDF partition tables, in CSV or binary form.

  convert  CSV to binary or binary to CSV, as gen_esp32part.py does (same bytes)
  show     the partitions, their offsets and sizes, and a flash map
  check    gen_esp32part.py's rules plus the NVS and encryption mistakes`,
	}
	c.AddCommand(newPartitionsConvertCmd(env), newPartitionsShowCmd(env), newPartitionsCheckCmd(env))
	return c
}

// tableFlags are the gen_esp32part.py options that change how a table is read.
type tableFlags struct {
	offset, primary, recovery string
	secure                    string
	extra                     []string
	disableMD5                bool
}

func (f *tableFlags) register(c *cobra.Command) {
	c.Flags().StringVarP(&f.offset, "offset", "o", "0x8000", "flash offset of the partition table")
	c.Flags().StringVar(&f.primary, "primary-bootloader-offset", "", "offset of the primary bootloader (needed by bootloader rows)")
	c.Flags().StringVar(&f.recovery, "recovery-bootloader-offset", "", "offset of the recovery bootloader (needed by a bootloader/recovery row)")
	c.Flags().StringArrayVar(&f.extra, "extra-partition-subtypes", nil, `extra subtype keywords, each "<type>, <name>, <hex value>"`)
	c.Flags().BoolVar(&f.disableMD5, "disable-md5sum", false, "write no MD5 row (and read an MD5 row as an error)")
}

// options turns the flags into partition.Options.
func (f *tableFlags) options(env *Env) (partition.Options, error) {
	opts := partition.Options{DisableMD5: f.disableMD5, LookupEnv: os.LookupEnv}
	off, err := parseOffset("--offset", f.offset)
	if err != nil {
		return opts, err
	}
	opts.Offset = off
	if off == 0 {
		return opts, usagef("--offset 0: the partition table cannot be at 0")
	}
	if f.primary != "" {
		v, err := parseOffset("--primary-bootloader-offset", f.primary)
		if err != nil {
			return opts, err
		}
		opts.PrimaryBootloaderOffset = &v
	}
	if f.recovery != "" {
		v, err := parseOffset("--recovery-bootloader-offset", f.recovery)
		if err != nil {
			return opts, err
		}
		opts.RecoveryBootloaderOffset = &v
	}
	switch f.secure {
	case "":
	case "v1":
		opts.Secure = partition.SecureV1
	case "v2":
		opts.Secure = partition.SecureV2
	default:
		return opts, usagef("--secure %q: choose v1 or v2", f.secure)
	}
	for _, e := range f.extra {
		x, err := partition.ParseExtraSubtype(e)
		if err != nil {
			return opts, usageError{err}
		}
		opts.ExtraSubtypes = append(opts.ExtraSubtypes, x)
	}
	opts.Warn = func(msg string) { fmt.Fprintln(env.Stderr, "warning:", msg) }
	return opts, nil
}

// parseOffset parses an offset option as gen_esp32part.py does (Python int(x, 0)), refusing
// the K/M suffixes it crashes on, with the value they would mean.
func parseOffset(flag, s string) (uint32, error) {
	t := strings.TrimSpace(s)
	if n := len(t); n > 1 && strings.ContainsRune("kKmM", rune(t[n-1])) {
		hint := ""
		if v, err := parseOffset(flag, t[:n-1]); err == nil {
			mul := uint64(1024)
			if t[n-1]|0x20 == 'm' {
				mul <<= 10
			}
			hint = fmt.Sprintf(" (%s is 0x%x)", t, uint64(v)*mul)
		}
		return 0, usagef("%s %s: give the offset in bytes, decimal or 0x hex, without a K or M suffix%s", flag, s, hint)
	}
	if len(t) > 1 && t[0] == '0' && t[1] >= '0' && t[1] <= '9' {
		return 0, usagef("%s %s: decimal numbers cannot have leading zeros (write 0x%s for hex)", flag, s, t)
	}
	v, err := strconv.ParseInt(t, 0, 64)
	if err != nil || v < 0 || v > 0xFFFFFFFF {
		return 0, usagef("%s %s: not an offset; give bytes in decimal or 0x hex, e.g. 0x8000", flag, s)
	}
	return uint32(v), nil
}

// argparseArgs rewrites the argparse forms gen_esp32part.py accepts into pflag ones:
// "--secure" with an optional value, "--flash-size" with an optional value, and
// "--extra-partition-subtypes" taking every following word that is not an option.
func argparseArgs(args []string) []string {
	var out []string
	isValue := func(i int) bool { return i < len(args) && (!strings.HasPrefix(args[i], "-") || args[i] == "-") }
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "--":
			return append(out, args[i:]...)
		case "--secure", "--flash-size":
			// Options whose value is optional: "--secure" alone means v1.
			val := map[string]string{"--secure": "v1", "--flash-size": ""}[a]
			if isValue(i + 1) {
				val = args[i+1]
				i++
			}
			out = append(out, a+"="+val)
		case "--extra-partition-subtypes":
			for isValue(i + 1) {
				out = append(out, "--extra-partition-subtypes="+args[i+1])
				i++
			}
		default:
			out = append(out, a)
		}
	}
	return out
}

func newPartitionsConvertCmd(env *Env) *cobra.Command {
	var (
		f                       tableFlags
		flashSize               string
		noVerify, verify, quiet bool
		force                   bool
	)
	c := &cobra.Command{
		Use:   "convert INPUT [OUTPUT]",
		Short: "Convert a partition table CSV to binary or back (drop-in for gen_esp32part.py)",
		Long: `Convert a partition table between its CSV and binary forms, byte for byte as
ESP-IDF's gen_esp32part.py does, with the same arguments. The direction comes
from the input: a file starting with the bytes aa 50 is a binary table and
becomes CSV; anything else is CSV and becomes a binary. Without OUTPUT (or with
-), the result goes to stdout. An existing OUTPUT is replaced only with --force.

The table is verified as gen_esp32part.py verifies it (alignment, overlaps,
names, otadata) unless --no-verify; --flash-size checks that it fits.
--extra-partition-subtypes takes every following argument, so put it last.`,
		Example: `  nvskit partitions convert partitions.csv partition-table.bin
  nvskit partitions convert --offset 0x9000 --flash-size 4MB partitions.csv pt.bin
  nvskit partitions convert partition-table.bin          # print the CSV`,
		DisableFlagParsing: true,
		RunE: func(c *cobra.Command, raw []string) error {
			if err := c.Flags().Parse(argparseArgs(raw)); err != nil {
				return usageError{err}
			}
			if h, _ := c.Flags().GetBool("help"); h {
				return c.Help()
			}
			_ = verify
			args := c.Flags().Args()
			if len(args) < 1 || len(args) > 2 {
				return argCountError(c, len(args), "")
			}
			opts, err := f.options(env)
			if err != nil {
				return err
			}
			var flashBytes uint64
			if flashSize != "" {
				if flashBytes, err = partition.ParseFlashSize(flashSize); err != nil {
					return usageError{err}
				}
			}
			in := env.Path(args[0])
			data, err := fsutil.ReadFile(in, fsutil.MaxPartitionTable, "a partition table")
			if err != nil {
				return err
			}
			out := "-"
			if len(args) == 2 {
				out = args[1]
			}
			wo := fsutil.Options{Mode: 0o644, Force: force, Made: env.made, Context: env.ctx()}
			if out != "-" {
				if err := fsutil.CheckNotInput(env.Path(out), in); err != nil {
					return usageError{err}
				}
				if err := checkNew(wo, env.Path(out)); err != nil {
					return err
				}
			}
			binIn := partition.IsBinary(data)
			var t *partition.Table
			if binIn {
				t, err = partition.ParseBinary(data, opts)
			} else {
				t, err = partition.ParseCSV(strings.NewReader(string(data)), opts)
			}
			if errors.Is(err, partition.ErrOptions) {
				return usageError{fmt.Errorf("%s: %w", args[0], err)}
			}
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if !noVerify {
				if err := t.Verify(opts); err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
			}
			if flashBytes > 0 {
				if err := t.CheckFlashSize(flashBytes); err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
			}
			var result []byte
			if binIn {
				result, err = t.MarshalCSV(opts)
			} else {
				result, err = t.EncodeBinary(opts)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if out == "-" {
				_, err := env.Stdout.Write(result)
				return err
			}
			if err := writeOutput(env.Path(out), result, wo); err != nil {
				return err
			}
			if !quiet {
				what := "binary table"
				if binIn {
					what = "CSV"
				}
				fmt.Fprintf(env.Stderr, "Wrote %s (%s, %d partitions, table at 0x%x)\n", out, what, len(t.Partitions), t.Offset)
			}
			return nil
		},
	}
	f.register(c)
	c.Flags().StringVar(&flashSize, "flash-size", "", "check that the table fits: "+strings.Join(partition.FlashSizes, ", "))
	c.Flags().StringVar(&f.secure, "secure", "", "app sizes for secure boot: v1 (64 KiB multiples) or v2 (4 KiB); bare --secure means v1")
	c.Flags().BoolVar(&noVerify, "no-verify", false, "skip the table checks (placement and --flash-size still apply)")
	c.Flags().BoolVarP(&verify, "verify", "v", false, "no effect (verification is the default); kept for gen_esp32part.py compatibility")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print no status line")
	c.Flags().BoolVar(&force, "force", false, forceHelp)
	markWrites(c)
	c.Flags().BoolP("help", "h", false, "help for convert")
	return c
}

// nvsPartition reads the partition table at tablePath (a CSV, a binary table, or a flash dump
// holding the table at 0x8000), verifies it, and returns the partition named name, which must
// be an NVS data partition. It is the lookup behind --partition-table/--partition.
func nvsPartition(env *Env, tablePath, name string) (*partition.Partition, error) {
	f := tableFlags{offset: "0x8000"}
	lt, err := loadTable(env, tablePath, &f, false, nil)
	if err != nil {
		return nil, err
	}
	if err := lt.t.Verify(lt.opts); err != nil {
		return nil, fmt.Errorf("%s: %w", tablePath, err)
	}
	p, err := lt.t.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tablePath, err)
	}
	if p.Type != partition.TypeData || p.SubType != partition.SubtypeNVS {
		return nil, fmt.Errorf("%s: partition %q is %s/%s, not an NVS partition (data/nvs)", tablePath, p.Name,
			partition.TypeName(p.Type), partition.SubtypeName(p.Type, p.SubType))
	}
	// The table checks that concern this partition (an encrypted flag, a read-only size, ...)
	// are worth seeing before its image goes to a device.
	for _, f := range lt.t.Lint(partition.LintOptions{}) {
		if f.Partition == p.Name {
			fmt.Fprintf(env.Stderr, "%s: %s: %s\n", tablePath, f.Severity, f.Message)
		}
	}
	return p, nil
}
