package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/mfg"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/nvscsv"
)

func newMfgCmd(env *Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "mfg",
		Short: "Mass manufacturing: one NVS image per device (drop-in for mfg_gen.py)",
	}
	c.AddCommand(newMfgGenerateCmd(env))
	return c
}

type mfgFlags struct {
	outdir, fileid                 string
	version                        int
	keygen                         bool
	keyfile, inputkey              string
	hmac, hmacKeygen               bool
	hmacKeyfile, hmacInputkey      string
	resume, force, keepGoing, sync bool
	mode                           string
	jobs                           int
	json                           bool
	exportKeys                     string
	caFlags
}

func newMfgGenerateCmd(env *Env) *cobra.Command {
	var f mfgFlags
	c := &cobra.Command{
		Use:   "generate CONFIG.csv VALUES.csv PREFIX SIZE",
		Short: "Make one NVS image per device from a config and a values table",
		Long: `Make one NVS partition image per row of VALUES.csv, laid out by CONFIG.csv, with
the inputs, options and output layout of ESP-IDF's mfg_gen.py generate and
byte-identical images: <outdir>/bin/PREFIX-<id>.bin, and with --keygen
<outdir>/keys/keys-PREFIX-<id>.bin. <id> is the --fileid column's value, or
1, 2, 3... No per-device CSV is written. A manifest (<outdir>/manifest.csv)
lists every device with the SHA-256 of its image.

CONFIG.csv rows are key,type,encoding[,REPEAT]; type is namespace, data or file,
or x509_cert, x509_key, x509_ca for values issued per device with --ca-cert and
--ca-key (encoding string = PEM, binary = DER). VALUES.csv has a header of keys
and one row per device. All encodings of nvskit generate are accepted.

The batch is all or nothing: files are written into a staging directory and
moved into place only when every device succeeded (with --keep-going, the
devices that succeeded are kept and the manifest records the failures). The
commit is journaled and moves keys before images, so an image never exists
without its keys; the next run into the same --outdir finishes a commit that
was interrupted, and removes the staging directory of a run that was killed
before it. Images and keys are created 0600 (--mode sets the images' mode),
never wider than the umask allows; a file this run did not make is replaced
only with --force.

File rows name regular files, read up to the most their encoding can use;
VALUES.csv may also be a FIFO or a pipe. Ctrl-C stops the run at once.`,
		Example: `  nvskit mfg generate config.csv values.csv node 0x6000 --outdir out --fileid serial
  nvskit mfg generate config.csv values.csv node 0x6000 --keygen
  nvskit mfg generate config.csv values.csv node 0x6000 --ca-cert ca.pem --ca-key ca.key`,
		Args: cobra.ExactArgs(4),
		RunE: func(c *cobra.Command, args []string) error {
			return runMfgGenerate(c.Context(), env, &f, args)
		},
	}
	markWrites(c)
	fl := c.Flags()
	fl.StringVar(&f.outdir, "outdir", ".", "output directory")
	fl.StringVar(&f.fileid, "fileid", "", "VALUES.csv column whose value names each device's files (default: 1, 2, 3...)")
	fl.IntVar(&f.version, "version", 2, "NVS format version: 1 (single-page blobs) or 2 (multi-page blobs)")
	fl.BoolVar(&f.keygen, "keygen", false, "encrypt with fresh keys for every device, saved as keys/keys-PREFIX-<id>.bin")
	fl.StringVar(&f.keyfile, "keyfile", "", "ignored, as by mfg_gen.py (key files are named after the device)")
	fl.StringVar(&f.inputkey, "inputkey", "", "encrypt every image with the keys in this file")
	fl.BoolVar(&f.hmac, "key_protect_hmac", false, "derive the encryption keys from an HMAC key (the HMAC-based scheme)")
	fl.BoolVar(&f.hmacKeygen, "kp_hmac_keygen", false, "make a fresh HMAC key for every device (keys/hmac-keys-PREFIX-<id>.bin)")
	fl.StringVar(&f.hmacKeyfile, "kp_hmac_keyfile", "", "not supported by mfg (one HMAC key file per device is written instead)")
	fl.StringVar(&f.hmacInputkey, "kp_hmac_inputkey", "", "derive the keys of every device from the 32-byte HMAC key in this file")
	fl.BoolVar(&f.resume, "resume", false, "skip devices whose image on disk matches the existing manifest")
	fl.BoolVar(&f.force, "force", false, "replace existing files that differ from the new ones (images, keys files, certificates, a manifest.csv nvskit did not write); identical files stay as they are")
	fl.BoolVar(&f.keepGoing, "keep-going", false, "keep the devices that succeeded when others fail (the manifest records failures)")
	fl.StringVar(&f.mode, "mode", "0600", "permissions of the images, in octal; the umask still applies (keys files are always 0600)")
	fl.BoolVar(&f.sync, "sync", false, "flush the batch to disk before committing it (one file system sync), so that a power loss after success loses nothing")
	fl.IntVar(&f.jobs, "jobs", 0, "worker goroutines (default: one per CPU)")
	fl.BoolVar(&f.json, "json", false, "print a JSON summary")
	f.caFlags.register(c)
	fl.StringVar(&f.exportKeys, "export-keys", "", "also write each device's private key and certificate into this directory (keys mode 0600)")
	fl.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		switch name {
		case "key-protect-hmac", "kp-hmac-keygen", "kp-hmac-keyfile", "kp-hmac-inputkey":
			name = strings.ReplaceAll(name, "-", "_")
		}
		return pflag.NormalizedName(name)
	})
	return c
}

// mfgSummary is the --json output.
type mfgSummary struct {
	OK              bool        `json:"ok"`
	Outdir          string      `json:"outdir"`
	Manifest        string      `json:"manifest,omitempty"`
	Devices         int         `json:"devices"`
	Written         int         `json:"written"`
	Replaced        int         `json:"replaced"`
	Unchanged       int         `json:"unchanged"`
	Skipped         int         `json:"skipped"`
	Failed          int         `json:"failed"`
	Seconds         float64     `json:"seconds"`
	ImagesPerSecond float64     `json:"images_per_second"`
	Error           string      `json:"error,omitempty"`
	Failures        []mfgFailed `json:"failures,omitempty"`
}

type mfgFailed struct {
	FileID string `json:"file_id"`
	Row    int    `json:"row"`
	Line   int    `json:"line"`
	Error  string `json:"error"`
}

const maxJSONFailures = 100

// mfgMemoryLimit is the soft memory limit of a run.
const mfgMemoryLimit = 64 << 20

func runMfgGenerate(ctx context.Context, env *Env, f *mfgFlags, args []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	// The context ends on Ctrl-C and SIGTERM (see Main); the deferred Abort then removes what
	// was staged.
	confName, valuesName, prefix := args[0], args[1], args[2]
	size, err := parseSize(args[3])
	if err != nil {
		return err
	}
	if err := nvs.CheckSize(size); err != nil {
		return usageError{err}
	}
	warnLargeSize(env, size)
	if f.version != 1 && f.version != 2 {
		return usagef("--version %d: must be 1 or 2", f.version)
	}
	if prefix == "" || strings.ContainsAny(prefix, "/\\") {
		return usagef("PREFIX %q must be a plain file name part", prefix)
	}
	if f.jobs < 0 {
		return usagef("--jobs %d: must be positive", f.jobs)
	}
	mode, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(f.mode, "0o"), "0O"), 8, 32)
	if err != nil || mode == 0 || mode > 0o777 {
		return usagef("--mode %q: give the permission bits in octal, such as 0600 or 0644", f.mode)
	}
	enc, err := f.encryption(env)
	if err != nil {
		return err
	}
	opts := mfg.Options{Size: size, Version: nvs.Version(f.version), FileID: f.fileid, Jobs: f.jobs,
		Encryption: enc, ReadFile: newFileCache(env).read}
	is, err := f.issuer(env)
	if err != nil {
		return err
	}
	opts.Issuer = is
	if is == nil && f.exportKeys != "" {
		return usagef("--export-keys needs --ca-cert and --ca-key")
	}

	cfg, err := loadMfgConfig(env, confName)
	if err != nil {
		return err
	}
	gen, err := mfg.New(cfg, opts)
	if err != nil {
		return usageError{err}
	}
	vf, err := openStream(ctx, env.Path(valuesName))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("cannot read the values: %w", err)
	}
	defer vf.Close()
	total := 0
	if st, err := vf.Stat(); err == nil && st.Mode().IsRegular() && env.Terminal {
		total = countRows(ctx, vf)
		if _, err := vf.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	exportDir := ""
	if f.exportKeys != "" {
		exportDir = env.Path(f.exportKeys)
	}
	out, err := mfg.OpenOutput(mfg.OutputOptions{Dir: env.Path(f.outdir), Prefix: prefix, Resume: f.resume,
		Force: f.force, KeepGoing: f.keepGoing, ExportKeys: exportDir, ImageMode: os.FileMode(mode), Sync: f.sync})
	if err != nil {
		return err
	}
	defer out.Abort()
	for _, s := range out.Recovered.Finished {
		fmt.Fprintf(env.Stderr, "note: finished the commit that an earlier run was interrupted in (%s)\n", s)
	}
	for _, s := range out.Recovered.Removed {
		fmt.Fprintf(env.Stderr, "note: removed the staging directory of an earlier run that never committed (%s)\n", s)
	}
	var failures []mfgFailed
	var mu sync.Mutex
	sink := &mfgSink{Output: out, record: func(d *mfg.Device) {
		if d.Err != nil && f.keepGoing {
			fmt.Fprintf(env.Stderr, "nvskit: device %s failed: %v\n", d.ID, d.Err)
			mu.Lock()
			if len(failures) < maxJSONFailures {
				failures = append(failures, mfgFailed{FileID: d.ID, Row: d.Row, Line: d.Line, Error: d.Err.Error()})
			}
			mu.Unlock()
		}
	}}
	start := time.Now()
	stopProgress := func() {}
	if env.Terminal {
		stopProgress = startProgress(env.Stderr, out, total, start)
	}
	// Keep the heap small however many devices there are: the live data is a few MiB plus
	// about 12 bytes per device (36 with --resume), and by default the GC lets the heap grow to twice that before
	// collecting. A soft limit (unless GOMEMLIMIT is set) makes it collect earlier instead.
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(mfgMemoryLimit))
	}
	runErr := gen.Run(ctx, valuesName, vf, sink)
	stopProgress()
	if runErr == nil {
		runErr = ctx.Err() // interrupted after the last device: commit nothing
	}
	if runErr == nil {
		done := env.writing(fmt.Sprintf("the commit into %s had begun; the next nvskit mfg run into that folder finishes it", f.outdir))
		runErr = out.Commit()
		done()
	}
	elapsed := time.Since(start).Seconds()
	c := out.Counts()
	sum := mfgSummary{OK: runErr == nil && c.Failed == 0, Outdir: f.outdir, Devices: c.Total(), Written: c.Written,
		Replaced: c.Replaced, Unchanged: c.Unchanged, Skipped: c.Skipped, Failed: c.Failed,
		Seconds: elapsed, Failures: failures}
	if elapsed > 0 {
		sum.ImagesPerSecond = float64(c.Written+c.Replaced+c.Unchanged) / elapsed
	}
	if runErr == nil {
		sum.Manifest = filepath.Join(f.outdir, mfg.ManifestName)
	} else {
		sum.Error = runErr.Error()
		if !f.keepGoing {
			sum.Devices, sum.Written, sum.Replaced, sum.Unchanged, sum.Skipped = 0, 0, 0, 0, 0
		}
	}
	if f.json {
		e := json.NewEncoder(env.Stdout)
		e.SetIndent("", "  ")
		e.Encode(sum)
	}
	if runErr != nil {
		if !f.keepGoing && !errors.Is(runErr, mfg.ErrCommitInterrupted) {
			return fmt.Errorf("%w\nnothing was written", runErr)
		}
		return runErr
	}
	if !f.json {
		fmt.Fprintf(env.Stdout, "%d devices: %d written, %d replaced, %d unchanged, %d skipped, %d failed; %s in %.2fs (%.0f images/s)\n",
			c.Total(), c.Written, c.Replaced, c.Unchanged, c.Skipped, c.Failed, filepath.Join(f.outdir, "bin"), elapsed, sum.ImagesPerSecond)
		fmt.Fprintf(env.Stdout, "manifest: %s\n", filepath.Join(f.outdir, mfg.ManifestName))
	}
	if c.Failed > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("%d of %d devices failed; see the manifest", c.Failed, c.Total())}
	}
	return nil
}

// encryption turns the key options into mfg.Encryption, as mfg_gen.py combines them.
func (f *mfgFlags) encryption(env *Env) (*mfg.Encryption, error) {
	if f.hmacKeyfile != "" {
		return nil, usagef("--kp_hmac_keyfile: mfg writes one HMAC key file per device (keys/hmac-keys-PREFIX-<id>.bin); drop the option")
	}
	if f.keyfile != "" {
		fmt.Fprintln(env.Stderr, "note: --keyfile is ignored, as by mfg_gen.py: key files are named keys/keys-PREFIX-<id>.bin")
	}
	if !f.hmac && (f.hmacKeygen || f.hmacInputkey != "") {
		return nil, usagef("--kp_hmac_keygen and --kp_hmac_inputkey need --key_protect_hmac")
	}
	if f.inputkey != "" && (f.keygen || f.hmac) {
		return nil, usagef("--inputkey cannot be combined with --keygen or --key_protect_hmac")
	}
	if f.hmacKeygen && f.hmacInputkey != "" {
		return nil, usagef("--kp_hmac_keygen and --kp_hmac_inputkey exclude each other")
	}
	switch {
	case f.inputkey != "":
		b, err := readInput(env, f.inputkey, fsutil.MaxKeyFile, "a keys file (an nvs_keys partition is 4096 bytes)")
		if err != nil {
			return nil, fmt.Errorf("--inputkey: %w", err)
		}
		k, err := nvs.KeysFromBytes(b)
		if err != nil {
			return nil, fmt.Errorf("--inputkey %s: %w", f.inputkey, err)
		}
		return &mfg.Encryption{Keys: &k}, nil
	case f.hmac:
		if !f.hmacKeygen && f.hmacInputkey == "" {
			return nil, usagef("--key_protect_hmac needs --kp_hmac_keygen or --kp_hmac_inputkey")
		}
		if !f.keygen {
			fmt.Fprintln(env.Stderr, "note: --key_protect_hmac without --keygen: nvskit encrypts the images (mfg_gen.py would write them unencrypted) and writes no keys files")
		}
		if f.hmacKeygen {
			return &mfg.Encryption{HMACKeyGen: true}, nil
		}
		b, err := readInput(env, f.hmacInputkey, fsutil.MaxKeyFile, "an HMAC key file (32 bytes)")
		if err != nil {
			return nil, fmt.Errorf("--kp_hmac_inputkey: %w", err)
		}
		k, err := nvs.KeysFromHMAC(b)
		if err != nil {
			return nil, fmt.Errorf("--kp_hmac_inputkey %s: %w", f.hmacInputkey, err)
		}
		return &mfg.Encryption{Keys: &k, KeyGen: f.keygen}, nil
	case f.keygen:
		return &mfg.Encryption{KeyGen: true}, nil
	}
	return nil, nil
}

// fileCache reads the files that file rows name, relative to the working directory, keeping
// the first few small ones in memory: rows that name the same file for every device (a root
// CA, a config blob) are then read once.
type fileCache struct {
	env   *Env
	mu    sync.RWMutex
	files map[string][]byte
	bytes int
}

const (
	fileCacheEntries = 256
	fileCacheMaxSize = 64 << 10 // largest file kept
	fileCacheBytes   = 4 << 20  // all files kept
)

func newFileCache(env *Env) *fileCache { return &fileCache{env: env, files: map[string][]byte{}} }

func (c *fileCache) read(name string, max int64) ([]byte, error) {
	c.mu.RLock()
	b, ok := c.files[name]
	c.mu.RUnlock()
	if ok {
		if int64(len(b)) > max {
			return nil, &nvscsv.LimitError{Size: int64(len(b)), Limit: max, Why: whyFile(max)}
		}
		return b, nil
	}
	b, err := readSmallFile(c.env.Path(name), max)
	if err != nil {
		return nil, err
	}
	if len(b) <= fileCacheMaxSize {
		c.mu.Lock()
		if len(c.files) < fileCacheEntries && c.bytes+len(b) <= fileCacheBytes {
			c.files[name] = b
			c.bytes += len(b)
		}
		c.mu.Unlock()
	}
	return b, nil
}

// countRows counts the lines of r minus the header, for the progress bar's total.
func countRows(ctx context.Context, r io.Reader) int {
	buf := make([]byte, 256<<10)
	n, last := 0, byte('\n')
	for ctx.Err() == nil {
		m, err := r.Read(buf)
		if m > 0 {
			n += bytes.Count(buf[:m], []byte{'\n'})
			last = buf[m-1]
		}
		if err != nil {
			break
		}
	}
	if last != '\n' {
		n++
	}
	return max(n-1, 0)
}

// startProgress draws a progress bar on w until the returned function is called.
func startProgress(w io.Writer, out *mfg.Output, total int, start time.Time) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	draw := func() {
		c := out.Counts()
		n := c.Total()
		rate := float64(n) / max(time.Since(start).Seconds(), 1e-9)
		const width = 30
		bar := ""
		if total > 0 {
			fill := min(n*width/total, width)
			bar = "[" + strings.Repeat("=", fill) + strings.Repeat(" ", width-fill) + "] "
			fmt.Fprintf(w, "\r%s%d/%d devices, %.0f/s, %d failed ", bar, n, total, rate, c.Failed)
		} else {
			fmt.Fprintf(w, "\r%d devices, %.0f/s, %d failed ", n, rate, c.Failed)
		}
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				draw()
				fmt.Fprintln(w)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// mfgSink is the Output with the command's own reporting of each device.
type mfgSink struct {
	*mfg.Output
	record func(d *mfg.Device)
}

// Record reports the device, then records it in the manifest.
func (s *mfgSink) Record(d *mfg.Device) error {
	s.record(d)
	return s.Output.Record(d)
}

// loadMfgConfig reads and parses an mfg CONFIG.csv through its limit; its warnings go to
// stderr.
func loadMfgConfig(env *Env, name string) (*nvscsv.MfgConfig, error) {
	b, err := readInput(env, name, fsutil.MaxCSV, "an mfg CONFIG.csv")
	if err != nil {
		return nil, fmt.Errorf("cannot read the config: %w", err)
	}
	cfg, err := nvscsv.ParseMfgConfig(name, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(env.Stderr, "warning:", w)
	}
	return cfg, nil
}
