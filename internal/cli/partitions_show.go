package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/partition"
)

// loadedTable is a table read for show and check, with where it came from.
type loadedTable struct {
	t      *partition.Table
	source string // "CSV", "binary table", "flash dump at 0x8000"
	opts   partition.Options
}

// loadTable reads TABLE as a CSV, a binary table, or a flash dump holding the table at
// --offset (0x8000 when not given and the file is a dump). It does not verify the table.
func loadTable(env *Env, path string, f *tableFlags, offsetGiven bool, warn func(string)) (*loadedTable, error) {
	opts, err := f.options(env)
	if err != nil {
		return nil, err
	}
	if warn != nil {
		opts.Warn = warn
	}
	data, err := fsutil.ReadFile(env.Path(path), fsutil.MaxImage, "a partition table or a flash dump holding one")
	if err != nil {
		return nil, err
	}
	lt := &loadedTable{opts: opts}
	off := opts.Offset
	inDump := func(o uint32) bool {
		return uint64(len(data)) > uint64(o)+2 && partition.IsBinary(data[o:])
	}
	switch {
	case partition.IsBinary(data):
		lt.source = "binary table"
		lt.t, err = partition.ParseBinary(data, opts)
	case offsetGiven && inDump(off):
		lt.source = fmt.Sprintf("flash dump, table at 0x%x", off)
		end := min(uint64(off)+partition.MaxLength, uint64(len(data)))
		lt.t, err = partition.ParseBinary(data[off:end], opts)
	case !offsetGiven && len(data) > partition.DefaultOffset && inDump(partition.DefaultOffset):
		lt.source = "flash dump, table at 0x8000"
		lt.t, err = partition.ParseBinary(data[partition.DefaultOffset:partition.DefaultOffset+partition.MaxLength], opts)
	case offsetGiven && uint64(len(data)) >= uint64(off)+2 && !utf8.Valid(data):
		return nil, fmt.Errorf("%s: no partition table at 0x%x: the bytes there are % x, not aa 50; pass the offset the table is at (CONFIG_PARTITION_TABLE_OFFSET)", path, off, data[off:off+2])
	case len(data) > 0x10000 && !offsetGiven:
		return nil, fmt.Errorf("%s: no partition table at 0x8000 in this %d-byte file; if it is a flash dump, pass the table's offset with --offset", path, len(data))
	default:
		lt.source = "CSV"
		lt.t, err = partition.ParseCSV(strings.NewReader(string(data)), opts)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return lt, nil
}

// partitionJSON is the stable JSON form of one partition (offsets and sizes in bytes; end is
// offset+size).
type partitionJSON struct {
	Name        string `json:"name"`
	Type        uint8  `json:"type"`
	TypeName    string `json:"type_name"`
	Subtype     uint8  `json:"subtype"`
	SubtypeName string `json:"subtype_name"`
	Offset      uint32 `json:"offset"`
	Size        uint32 `json:"size"`
	End         uint64 `json:"end"`
	Encrypted   bool   `json:"encrypted"`
	Readonly    bool   `json:"readonly"`
	Line        int    `json:"line,omitempty"`
}

func toJSON(t *partition.Table) []partitionJSON {
	ps := make([]partitionJSON, 0, len(t.Partitions))
	for i := range t.Partitions {
		p := &t.Partitions[i]
		ps = append(ps, partitionJSON{Name: p.Name, Type: p.Type, TypeName: partition.TypeName(p.Type),
			Subtype: p.SubType, SubtypeName: partition.SubtypeName(p.Type, p.SubType), Offset: p.Offset,
			Size: p.Size, End: p.End(), Encrypted: p.Encrypted(), Readonly: p.Readonly(), Line: p.Line})
	}
	return ps
}

func newPartitionsShowCmd(env *Env) *cobra.Command {
	var (
		f         tableFlags
		asJSON    bool
		flashSize string
	)
	c := &cobra.Command{
		Use:   "show TABLE",
		Short: "List a partition table's partitions and draw a flash map",
		Long: `List the partitions of a table: name, type, subtype, offset, end (offset+size),
size and flags, then a flash map with the gaps. TABLE is a CSV, a binary table,
or a whole flash dump (the table is read at --offset, 0x8000 by default).`,
		Example: `  nvskit partitions show partitions.csv
  nvskit partitions show --json build/partition_table/partition-table.bin
  nvskit partitions show --offset 0x8000 flash_dump.bin`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			lt, err := loadTable(env, args[0], &f, c.Flags().Changed("offset"), nil)
			if err != nil {
				return err
			}
			var flash uint64
			if flashSize != "" {
				if flash, err = partition.ParseFlashSize(flashSize); err != nil {
					return usageError{err}
				}
			}
			verr := lt.t.Verify(partition.Options{Offset: lt.t.Offset, Secure: lt.opts.Secure, ExtraSubtypes: lt.opts.ExtraSubtypes})
			if asJSON {
				out := struct {
					Source      string          `json:"source"`
					TableOffset uint32          `json:"table_offset"`
					Partitions  []partitionJSON `json:"partitions"`
					Valid       bool            `json:"valid"`
					Problem     string          `json:"problem,omitempty"`
				}{lt.source, lt.t.Offset, toJSON(lt.t), verr == nil, errString(verr)}
				return writeJSON(env.Stdout, out)
			}
			w := env.Stdout
			fmt.Fprintf(w, "%s%s, %d partitions, table at 0x%x\n\n", strings.ToUpper(lt.source[:1]), lt.source[1:], len(lt.t.Partitions), lt.t.Offset)
			if len(lt.t.Partitions) > 0 {
				printPartitions(w, lt.t)
				fmt.Fprintln(w)
			}
			printFlashMap(w, lt.t, flash)
			if verr != nil {
				fmt.Fprintln(w)
				fmt.Fprint(w, wrap("problem: "+verr.Error(), "  "))
				fmt.Fprintln(w, "(nvskit partitions check lists every problem)")
			}
			return nil
		},
	}
	f.register(c)
	c.Flags().StringVar(&f.secure, "secure", "", "app sizes for secure boot: v1 or v2")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringVar(&flashSize, "flash-size", "", "flash size, to show the free space at the end: "+strings.Join(partition.FlashSizes, ", "))
	return c
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printPartitions(w io.Writer, t *partition.Table) {
	var buf strings.Builder
	defer func() {
		for _, l := range strings.SplitAfter(buf.String(), "\n") {
			if l != "" {
				fmt.Fprintln(w, strings.TrimRight(l, " \n"))
			}
		}
	}()
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Name\tType\tSubtype\tOffset\tEnd\tSize\tFlags")
	for i := range t.Partitions {
		p := &t.Partitions[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t0x%x\t0x%x\t%s\t%s\n", p.Name, partition.TypeName(p.Type),
			partition.SubtypeName(p.Type, p.SubType), p.Offset, p.End(), partition.FormatSize(p.Size), p.Flags)
	}
	tw.Flush()
}

// printFlashMap lists the flash from 0 in address order: what is below the table, the table,
// each partition, and the gaps.
func printFlashMap(w io.Writer, t *partition.Table, flash uint64) {
	type region struct {
		start, end uint64
		what       string
	}
	var rs []region
	hasTableRow := false
	for i := range t.Partitions {
		p := &t.Partitions[i]
		if p.Type == partition.TypePartitionTable && p.SubType == partition.SubtypePrimary {
			hasTableRow = true
		}
		rs = append(rs, region{uint64(p.Offset), p.End(), fmt.Sprintf("%s (%s/%s)", p.Name, partition.TypeName(p.Type), partition.SubtypeName(p.Type, p.SubType))})
	}
	if !hasTableRow {
		rs = append(rs, region{uint64(t.Offset), uint64(t.Offset) + partition.SectorSize, "partition table"})
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	fmt.Fprintln(w, "Flash map:")
	line := func(s, e uint64, what string) {
		fmt.Fprintf(w, "  0x%08x-0x%08x %7s  %s\n", s, e-1, humanSize(e-s), what)
	}
	var cur uint64
	for _, r := range rs {
		switch {
		case r.start > cur && r.start <= uint64(t.Offset):
			line(cur, r.start, "(not in the table: bootloader, ...)")
		case r.start > cur:
			line(cur, r.start, "(free)")
		case r.start < cur:
			r.what += "  ** overlap **"
		}
		if r.end == r.start {
			fmt.Fprintf(w, "  0x%08x %18s  %s\n", r.start, "(empty)", r.what)
		} else {
			line(r.start, r.end, r.what)
		}
		cur = max(cur, r.end)
	}
	switch {
	case flash > cur:
		line(cur, flash, "(free)")
	case flash > 0 && flash < cur:
		fmt.Fprintf(w, "  ** the partitions end at 0x%x, beyond the %dMB flash **\n", cur, flash>>20)
	}
}

// humanSize prints a byte count as K or M, with a decimal when not whole.
func humanSize(n uint64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n%1024 == 0:
		return fmt.Sprintf("%dK", n>>10)
	case n >= 1024:
		return fmt.Sprintf("%.1fK", float64(n)/1024)
	}
	return fmt.Sprintf("%dB", n)
}

// wrap breaks s into lines of at most 80 columns, indenting continuation lines.
func wrap(s, indent string) string {
	var b strings.Builder
	col := 0
	for i, word := range strings.Fields(s) {
		if i > 0 && col+1+len(word) > 80 {
			b.WriteString("\n" + indent)
			col = len(indent)
		} else if i > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += len(word)
	}
	b.WriteByte('\n')
	return b.String()
}

func newPartitionsCheckCmd(env *Env) *cobra.Command {
	var (
		f         tableFlags
		asJSON    bool
		flashSize string
		nvsLarge  string
		nvsCSV    string
		nvsName   string
		csvOnly   bool
	)
	c := &cobra.Command{
		Use:   "check TABLE",
		Short: "Check a partition table: gen_esp32part.py's rules plus the NVS and encryption mistakes",
		Long: `Check a partition table (CSV, binary, or a flash dump with --offset) against
gen_esp32part.py's rules (alignment, overlaps, unique names, otadata, the flash
size with --flash-size) and for the mistakes it lets through:

  nvs-encrypted           an NVS partition flagged encrypted: the device fails
                          with ESP_ERR_NVS_WRONG_ENCRYPTION
  nvs-keys-not-encrypted  an nvs_keys partition without the encrypted flag: keys
                          flashed from the host read back as garbage
                          (ESP_ERR_NVS_CORRUPT_KEY_PART); a warning
  nvs-too-small           NVS under 0x3000 without readonly
  nvs-read-only           NVS under 0x3000 with readonly (a note)
  nvs-large               NVS above --nvs-large (RAM use and mount time grow);
                          with --nvs-csv, for a partition that holds only
                          generated data (readonly, a factory partition, or
                          --nvs-csv-only): over 4 times what its data needs
  nvs-data-size           with --nvs-csv, for a partition the firmware also
                          writes (such as the main "nvs"): how much of it the
                          CSV fills, when that is under a quarter (a note)
  nvs-data-too-large      with --nvs-csv: the data does not fit the partition

The exit status is 1 when an error is found, 0 when only warnings or notes are.`,
		Example: `  nvskit partitions check --flash-size 4MB partitions.csv
  nvskit partitions check --json build/partition_table/partition-table.bin`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var warnings []string
			collect := func(msg string) { warnings = append(warnings, msg) }
			lt, err := loadTable(env, args[0], &f, c.Flags().Changed("offset"), collect)
			if err != nil {
				return err
			}
			var flash uint64
			if flashSize != "" {
				if flash, err = partition.ParseFlashSize(flashSize); err != nil {
					return usageError{err}
				}
			}
			large := uint64(partition.DefaultNVSLargeSize)
			if nvsLarge != "" {
				n, err := parseSizeKM("--nvs-large", nvsLarge)
				if err != nil {
					return err
				}
				large = n
			}
			var findings []partition.Finding
			vopts := lt.opts
			vopts.Warn = collect
			if err := lt.t.Verify(vopts); err != nil {
				fd := partition.Finding{Severity: partition.Problem, Code: "gen_esp32part", Message: err.Error(), Index: -1}
				var pe *partition.Error
				if errors.As(err, &pe) {
					fd.Line = pe.Line
				}
				findings = append(findings, fd)
			}
			for _, w := range warnings {
				findings = append(findings, partition.Finding{Severity: partition.Warning, Code: "gen_esp32part-warning", Message: w, Index: -1})
			}
			if flash > 0 {
				if err := lt.t.CheckFlashSize(flash); err != nil {
					findings = append(findings, partition.Finding{Severity: partition.Problem, Code: "flash-size", Message: err.Error(), Index: -1})
				}
			}
			lint := lt.t.Lint(partition.LintOptions{NVSLargeSize: uint32(large)})
			if nvsCSV != "" {
				fd, p := checkNVSData(env, lt.t, nvsCSV, nvsName, csvOnly)
				findings = append(findings, fd...)
				// With the data at hand, the size judgement below replaces the rule of thumb.
				for _, l := range lint {
					if p == nil || l.Code != "nvs-large" || l.Index != p.Index {
						findings = append(findings, l)
					}
				}
			} else {
				findings = append(findings, lint...)
			}
			nerr := 0
			for _, fd := range findings {
				if fd.Severity == partition.Problem {
					nerr++
				}
			}
			if asJSON {
				if findings == nil {
					findings = []partition.Finding{}
				}
				out := struct {
					Table      string              `json:"table"`
					Source     string              `json:"source"`
					Partitions int                 `json:"partitions"`
					OK         bool                `json:"ok"`
					Findings   []partition.Finding `json:"findings"`
				}{args[0], lt.source, len(lt.t.Partitions), nerr == 0, findings}
				if err := writeJSON(env.Stdout, out); err != nil {
					return err
				}
			} else {
				w := env.Stdout
				for _, fd := range findings {
					msg := fd.Message
					if fd.Line > 0 && fd.Code != "gen_esp32part" {
						msg = fmt.Sprintf("line %d: %s", fd.Line, msg)
					}
					fmt.Fprint(w, wrap(fmt.Sprintf("%s: %s [%s]", fd.Severity, msg, fd.Code), "    "))
				}
				switch {
				case len(findings) == 0:
					fmt.Fprintf(w, "OK: %s, no problems found\n", plural(len(lt.t.Partitions), "partition"))
				default:
					others := fmt.Sprintf("%d warnings or notes", len(findings)-nerr)
					if len(findings)-nerr == 1 {
						others = "1 warning or note"
					}
					fmt.Fprintf(w, "%s: %s, %s\n", plural(len(lt.t.Partitions), "partition"), plural(nerr, "error"), others)
				}
			}
			if nerr > 0 {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	f.register(c)
	c.Flags().StringVar(&f.secure, "secure", "", "app sizes for secure boot: v1 or v2")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringVar(&flashSize, "flash-size", "", "check that the table fits: "+strings.Join(partition.FlashSizes, ", "))
	c.Flags().StringVar(&nvsLarge, "nvs-large", "0x40000", "warn about NVS partitions larger than this")
	c.Flags().StringVar(&nvsCSV, "nvs-csv", "", "the NVS CSV (as for generate): check that its data fits the NVS partition, and that the partition is not much larger")
	c.Flags().StringVar(&nvsName, "partition", "", `the NVS partition --nvs-csv is for (default: "nvs", else the first data/nvs)`)
	c.Flags().BoolVar(&csvOnly, "nvs-csv-only", false, "the partition holds only the --nvs-csv data (the firmware writes nothing to it): suggest a size for it")
	return c
}

// checkNVSData lays out the NVS CSV into the chosen NVS partition's size, as generate would,
// and judges the size: too small is an error. More than 4 times what the data needs (and over
// 8 pages) is a warning with a size to use only for a partition that holds nothing but the
// generated data (readonly, a factory partition, or csvOnly); a partition the firmware also
// writes at run time (the main "nvs": Wi-Fi, application data, Matter fabrics) gets a note
// saying how much the CSV fills, and no size. It returns the findings and the partition it
// judged.
func checkNVSData(env *Env, t *partition.Table, csvPath, name string, csvOnly bool) ([]partition.Finding, *partition.Partition) {
	problem := func(p *partition.Partition, sev partition.Severity, code, format string, args ...any) partition.Finding {
		fd := partition.Finding{Severity: sev, Code: code, Index: -1, Message: fmt.Sprintf(format, args...)}
		if p != nil {
			fd.Partition, fd.Line, fd.Index = p.Name, p.Line, p.Index
		}
		return fd
	}
	var p *partition.Partition
	switch {
	case name != "":
		q, err := t.Lookup(name)
		if err != nil {
			return []partition.Finding{problem(nil, partition.Problem, "nvs-data", "--partition: %v", err)}, nil
		}
		p = q
	default:
		if q, ok := t.Find("nvs"); ok && q.Type == partition.TypeData && q.SubType == partition.SubtypeNVS {
			p = q
		} else if q, ok := t.FindType(partition.TypeData, partition.SubtypeNVS); ok {
			p = q
		} else {
			return []partition.Finding{problem(nil, partition.Problem, "nvs-data", "--nvs-csv: the table has no NVS partition (data/nvs)")}, nil
		}
	}
	if p.Type != partition.TypeData || p.SubType != partition.SubtypeNVS {
		return []partition.Finding{problem(p, partition.Problem, "nvs-data", "partition %q is %s/%s, not an NVS partition (data/nvs)",
			p.Name, partition.TypeName(p.Type), partition.SubtypeName(p.Type, p.SubType))}, p
	}
	gf := genFlags{version: 2}
	job, err := gf.prepare(env, []string{csvPath}, "check.bin", int(p.Size))
	if err == nil {
		job.sizeFrom = fmt.Sprintf("partition %q", p.Name)
		_, err = job.build()
	}
	var se *nvs.SizeError
	switch {
	case errors.As(err, &se):
		return []partition.Finding{problem(p, partition.Problem, "nvs-data-too-large",
			"the data in %s does not fit NVS partition %q: %v", csvPath, p.Name, se)}, p
	case err != nil:
		return []partition.Finding{problem(p, partition.Problem, "nvs-data", "%s: %v", csvPath, err)}, p
	}
	st := job.stats
	need := st.PagesUsed + 1 // the data pages and the page the device keeps free
	if st.Pages > 8 && st.Pages > 4*need {
		if csvOnly || generatedOnly(p) {
			suggest := max(2*need, 3) * 0x1000
			return []partition.Finding{problem(p, partition.Warning, "nvs-large",
				"NVS partition %q has %d pages but the data in %s fills %d, and the partition holds nothing else; RAM use and mount time grow with the size, so 0x%x (%d pages, room to grow) would do",
				p.Name, st.Pages, csvPath, st.PagesUsed, suggest, suggest/0x1000)}, p
		}
		return []partition.Finding{problem(p, partition.Note, "nvs-data-size",
			"the data in %s fills %d of the %d pages of NVS partition %q (%d entries); the rest is for what the firmware writes there at run time (Wi-Fi, application data, Matter fabrics, ...), so nvskit suggests no size: size it for that too (if the partition holds only this CSV's data, --nvs-csv-only suggests one)",
			csvPath, st.PagesUsed, st.Pages, p.Name, st.EntriesUsed)}, p
	}
	return nil, p
}

// generatedOnly reports whether an NVS partition holds nothing but data generated on the host:
// flagged readonly, or named as a factory partition (fctry, factory_nvs, nvs_factory, mfg...).
// The firmware writes other NVS partitions at run time, the main "nvs" above all.
func generatedOnly(p *partition.Partition) bool {
	if p.Readonly() {
		return true
	}
	n := strings.ToLower(p.Name)
	for _, w := range []string{"fctry", "factory", "mfg"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// parseSizeKM parses a size in bytes, decimal or 0x hex, with an optional K or M suffix.
func parseSizeKM(flag, s string) (uint64, error) {
	t := strings.TrimSpace(s)
	mul := uint64(1)
	if n := len(t); n > 1 {
		switch t[n-1] | 0x20 {
		case 'k':
			mul, t = 1<<10, t[:n-1]
		case 'm':
			mul, t = 1<<20, t[:n-1]
		}
	}
	v, err := parseOffset(flag, t)
	if err != nil {
		return 0, usagef("%s %s: give a size in bytes, decimal or 0x hex, with an optional K or M suffix", flag, s)
	}
	return uint64(v) * mul, nil
}
