package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/nvscsv"
)

// genFlags are the flags generate and encrypt share.
type genFlags struct {
	version int
	outdir  string
	baseDir string
}

func (f *genFlags) register(c *cobra.Command) {
	c.Flags().IntVar(&f.version, "version", 2, "NVS format version: 1 (single-page blobs) or 2 (multi-page blobs)")
	c.Flags().StringVar(&f.outdir, "outdir", "", "directory for the output files (default: the current directory)")
	c.Flags().StringVar(&f.baseDir, "base-dir", "", "directory that file rows are relative to (default: the current directory)")
}

func newGenerateCmd(env *Env) *cobra.Command {
	var f genFlags
	var pf partitionFlags
	var of outFlags
	c := &cobra.Command{
		Use:   "generate INPUT.csv [INPUT.csv...] OUTPUT.bin (SIZE | --partition-table TABLE --partition NAME)",
		Short: "Make an NVS partition image from a CSV (drop-in for nvs_partition_gen.py generate)",
		Long: `Make an NVS partition image from one or more CSV files, byte for byte as
nvs_partition_gen.py generate does. SIZE is the partition size in bytes, decimal
or 0x hex, a multiple of 4096; sizes below 0x3000 make a read-only partition.
With --partition-table and --partition, SIZE comes from the partition table.

The CSV has the columns key,type,encoding,value. Type is namespace, data or file
(file rows name a file whose content is the value, relative to the current
directory or --base-dir). Encodings: u8 i8 u16 i16 u32 i32 u64 i64 string
hex2bin base64 binary blob_fill(N;0xPP) blob_sz_fill(N;0xPP).`,
		Example: `  nvskit generate nvs.csv nvs.bin 0x6000
  nvskit generate --version 1 nvs.csv nvs.bin 0x3000
  nvskit generate nvs.csv nvs.bin --partition-table partitions.csv --partition nvs`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			inputs, output, size, err := pf.splitArgs(c, env, args)
			if err != nil {
				return err
			}
			job, err := f.prepare(env, inputs, output, size)
			if err != nil {
				return err
			}
			job.sizeFrom = pf.partitionSource()
			if job.opts, err = of.options(); err != nil {
				return err
			}
			if err := job.checkOutput(job.output); err != nil {
				return err
			}
			if err := checkNew(job.opts, job.output); err != nil {
				return err
			}
			img, err := job.build()
			if err != nil {
				return err
			}
			return job.write(img)
		},
	}
	f.register(c)
	pf.register(c)
	of.register(c, env, fsutil.DefaultMode, nil)
	return c
}

// genJob is one CSV-to-image run, shared by generate and encrypt.
type genJob struct {
	env     *Env
	inputs  []string // CSV paths as given
	output  string   // resolved output path
	size    int
	version nvs.Version
	baseDir string
	files   []string // files read by file rows, resolved
	stats   nvs.Stats
	opts    fsutil.Options // how the image is written
	// sizeFrom names the partition the size came from ("" when it is the SIZE argument), so
	// that advice on a size says where to change it.
	sizeFrom string
}

func (f *genFlags) prepare(env *Env, inputs []string, output string, size int) (*genJob, error) {
	if f.version != 1 && f.version != 2 {
		return nil, usagef("--version %d: must be 1 or 2", f.version)
	}
	if err := nvs.CheckSize(size); err != nil {
		return nil, usageError{err}
	}
	warnLargeSize(env, size)
	if ext := filepath.Ext(output); !strings.Contains(strings.ToLower(ext), ".bin") {
		return nil, usagef("output %q must have a .bin extension", output)
	}
	j := &genJob{env: env, inputs: inputs, size: size, version: nvs.Version(f.version)}
	j.output = outPath(env, f.outdir, output)
	j.baseDir = env.Path(f.baseDir)
	return j, nil
}

// outPath places name under outdir (unless name is absolute), relative to the working directory.
func outPath(env *Env, outdir, name string) string {
	if outdir != "" && !filepath.IsAbs(name) {
		name = filepath.Join(outdir, name)
	}
	return env.Path(name)
}

// build parses the CSVs and lays out the image; notices go to stderr.
func (j *genJob) build() ([]byte, error) {
	p := nvscsv.NewParser(nvscsv.Options{
		Version: j.version,
		ReadFile: func(name string) ([]byte, error) {
			path := name
			if !filepath.IsAbs(path) {
				if j.baseDir != "" {
					path = filepath.Join(j.baseDir, path)
				} else {
					path = j.env.Path(path)
				}
			}
			j.files = append(j.files, path)
			return fsutil.ReadFile(path, fsutil.MaxFileRow, "a file row's value (a blob holds at most 508000 bytes)")
		},
	})
	for _, in := range j.inputs {
		if err := j.env.ctx().Err(); err != nil {
			return nil, err
		}
		fh, err := fsutil.Open(j.env.Path(in), fsutil.MaxCSV, "an NVS CSV")
		if err != nil {
			return nil, fmt.Errorf("cannot read the CSV: %w", err)
		}
		err = p.Parse(in, fh)
		fh.Close()
		if err != nil {
			return nil, err
		}
	}
	printNotices(j.env, p.Notices())
	b, err := nvs.NewBuilder(nvs.Options{Size: j.size, Version: j.version})
	if err != nil {
		return nil, usageError{err}
	}
	if b.ReadOnly() {
		fmt.Fprintf(j.env.Stderr, "note: a 0x%x partition is read-only NVS (below 0x3000); mark it readonly in the partition table\n", j.size)
	}
	for _, r := range p.Rows() {
		if err := b.Add(r.Item); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", r.File, r.Line, err)
		}
	}
	img, err := b.Image()
	j.stats = b.Stats()
	var se *nvs.SizeError
	if errors.As(err, &se) {
		return nil, fmt.Errorf("%s: %w; %s", strings.Join(j.inputs, ", "), err, j.sizeAdvice(se))
	}
	return img, err
}

// sizeAdvice says how to make room: a larger SIZE argument, or a larger partition in the
// table the size came from; a read-only size too when one would hold the data.
func (j *genJob) sizeAdvice(se *nvs.SizeError) string {
	ro := ""
	if n := se.MinReadOnlySize(); n > 0 {
		ro = fmt.Sprintf(" (or 0x%x for a read-only partition)", n)
		if j.sizeFrom != "" {
			ro = fmt.Sprintf(" (or 0x%x with the readonly flag)", n)
		}
	}
	if j.sizeFrom != "" {
		return fmt.Sprintf("enlarge %s to 0x%x or more%s", j.sizeFrom, se.MinSize(), ro)
	}
	return fmt.Sprintf("pass SIZE 0x%x or larger%s", se.MinSize(), ro)
}

// partitionSource describes the table partition a size came from, for sizeAdvice.
func (p *partitionFlags) partitionSource() string {
	if p.table == "" {
		return ""
	}
	return fmt.Sprintf("partition %q in %s", p.name, p.table)
}

// printNotices prints the parser's notices to stderr, warnings as "warning:".
func printNotices(env *Env, ns []nvscsv.Notice) {
	for _, n := range ns {
		kind := "note:"
		if n.Warning {
			kind = "warning:"
		}
		fmt.Fprintln(env.Stderr, kind, n)
	}
}

// write stores the image atomically, refusing to overwrite an input or an existing file
// (unless --force), and prints the summary.
func (j *genJob) write(img []byte) error {
	if err := j.checkOutput(j.output); err != nil {
		return err
	}
	if err := j.env.ctx().Err(); err != nil {
		return err
	}
	if err := writeOutput(j.output, img, j.opts); err != nil {
		return err
	}
	fmt.Fprintf(j.env.Stdout, "Created %s: %s\n", j.output, summary(j.stats))
	return nil
}

func (j *genJob) checkOutput(path string) error {
	ins := append([]string(nil), j.files...)
	for _, in := range j.inputs {
		ins = append(ins, j.env.Path(in))
	}
	return fsutil.CheckNotInput(path, ins...)
}

// summary is the one line a person can act on after a generate.
func summary(s nvs.Stats) string {
	reserve := ""
	if s.Pages > s.UsablePages {
		reserve = ", 1 kept free for the device"
	}
	return fmt.Sprintf("%d of %d pages used%s; %d entries used, %d free (%s of free space); the largest new value that fits: a blob of %d bytes or a string of %d characters",
		s.PagesUsed, s.Pages, reserve, s.EntriesUsed, s.EntriesFree, humanBytes(s.EntriesFree*nvs.EntrySize), s.LargestBlob, max(s.LargestString-1, 0))
}
