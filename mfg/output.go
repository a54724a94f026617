package mfg

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
)

// Device statuses in the manifest.
const (
	StatusWritten   = "written"   // a new image was written
	StatusReplaced  = "replaced"  // a different image was overwritten (--force)
	StatusUnchanged = "unchanged" // the image on disk was already identical; nothing written
	StatusSkipped   = "skipped"   // --resume: the image on disk matches the manifest; not rebuilt
	StatusFailed    = "failed"    // the device failed; see the error column
)

// ManifestName is the manifest's file name in the output directory.
const ManifestName = "manifest.csv"

// ManifestHeader is the manifest's header row.
var ManifestHeader = []string{"file_id", "row", "status", "image", "sha256", "keys", "cert", "error"}

// ErrExists: an image for the device already exists and differs from the new one.
var ErrExists = errors.New("a different image already exists")

// ErrLocked: another run holds the output directory (or the --export-keys directory).
var ErrLocked = errors.New("another nvskit mfg run is writing into this directory")

// ErrCommitInterrupted: a commit began and could not finish; the next run into the same
// directory finishes it.
var ErrCommitInterrupted = errors.New("the commit was interrupted")

// OutputOptions configure an Output.
type OutputOptions struct {
	// Dir is the output directory (mfg_gen --outdir).
	Dir string
	// Prefix starts every file name: bin/<Prefix>-<id>.bin, keys/keys-<Prefix>-<id>.bin.
	Prefix string
	// Resume skips devices whose image on disk matches the existing manifest.
	Resume bool
	// Force overwrites existing images that differ from the new ones.
	Force bool
	// KeepGoing commits the devices that succeeded even when others failed.
	KeepGoing bool
	// ExportKeys, when set, is a directory that receives each issued device key
	// (<Prefix>-<id>.key.pem, mode 0600) and certificate (<Prefix>-<id>.cert.pem).
	ExportKeys string
	// ImageMode is the mode images are created with, less the umask; zero means 0600
	// (images hold secrets more often than not). Keys files are always 0600.
	ImageMode os.FileMode
	// Sync flushes the staged files to disk (one sync of the file system per batch) before
	// the commit, so that a power loss after Commit returns loses nothing. Without it the
	// commit is safe against the process dying at any point, and the file data reaches the
	// disk when the operating system writes it.
	Sync bool
}

// Default modes of the outputs, less the umask.
const (
	DefaultImageMode os.FileMode = 0o600
	keyMode          os.FileMode = 0o600
	publicMode       os.FileMode = 0o644 // certificates, the manifest
)

// Output writes devices into the mfg_gen output layout: <Dir>/bin/<prefix>-<id>.bin,
// <Dir>/keys/keys-<prefix>-<id>.bin (per-device encryption keys, mode 0600),
// <Dir>/keys/hmac-keys-<prefix>-<id>.bin (per-device HMAC keys, 0600),
// <Dir>/certs/<prefix>-<id>.cert.pem (issued certificates) and <Dir>/manifest.csv.
//
// Nothing appears in those places until Commit: files are written into a staging directory
// inside Dir and moved into place by Commit (see the package's commit order: an image never
// exists without its keys, and a commit that is interrupted is finished by the next run).
// Abort removes them. An existing file that the run did not make is replaced only with Force.
type Output struct {
	opts      OutputOptions
	stage     string // staging directory inside Dir
	exStage   string // staging directory inside ExportKeys
	created   []string
	manifest  *os.File
	mw        *csv.Writer
	old       []oldEntry
	seed      maphash.Seed
	counts    [5]atomic.Int64
	committed bool
	journaled bool // the commit began: the staging directory must be finished, not removed
	unlock    []func()
	fresh     map[string]bool // per output subdirectory: it did not exist when opened
	// Recovered is what opening did about earlier runs' staging directories.
	Recovered Recovered
}

// oldEntry is one device of the previous manifest: the hash of its file id and the first 128
// bits of its image's SHA-256 (24 bytes per device instead of 40; still far beyond any chance
// of an accidental match).
type oldEntry struct {
	id  uint64
	sha [16]byte
}

// Counts are how many devices ended in each status.
type Counts struct {
	Written   int // new images
	Replaced  int // different images overwritten (Force)
	Unchanged int // identical images already on disk
	Skipped   int // skipped by Resume
	Failed    int // failed devices
}

// Total returns the number of devices.
func (c Counts) Total() int { return c.Written + c.Replaced + c.Unchanged + c.Skipped + c.Failed }

// OpenOutput prepares the output directory: it creates Dir if needed, a staging directory in
// it, and with Resume reads the existing manifest.
func OpenOutput(opts OutputOptions) (*Output, error) {
	if opts.Dir == "" {
		opts.Dir = "."
	}
	if opts.ImageMode == 0 {
		opts.ImageMode = DefaultImageMode
	}
	o := &Output{opts: opts, seed: maphash.MakeSeed(), fresh: map[string]bool{}}
	var err error
	if o.created, err = mkdirAll(opts.Dir); err != nil {
		return nil, err
	}
	if opts.ExportKeys != "" {
		c, err := mkdirAll(opts.ExportKeys)
		o.created = append(o.created, c...)
		if err != nil {
			o.Abort()
			return nil, err
		}
	}
	for _, d := range []string{opts.Dir, opts.ExportKeys} {
		if d == "" {
			continue
		}
		unlock, err := lockDir(d)
		if err != nil {
			o.Abort()
			return nil, err
		}
		o.unlock = append(o.unlock, unlock)
	}
	if o.Recovered, err = recoverStaging(opts.Dir, opts.ExportKeys); err != nil {
		o.Abort()
		return nil, err
	}
	for _, sub := range []string{"bin", "keys", "certs"} {
		o.fresh[sub] = !exists(filepath.Join(opts.Dir, sub))
	}
	if err := o.checkManifest(); err != nil {
		o.Abort()
		return nil, err
	}
	if opts.Resume {
		if err := o.readManifest(); err != nil {
			o.Abort()
			return nil, err
		}
	}
	if o.stage, err = os.MkdirTemp(opts.Dir, stagingPrefix); err != nil {
		o.Abort()
		return nil, err
	}
	for _, sub := range []string{"bin", "certs"} {
		if err := os.Mkdir(filepath.Join(o.stage, sub), 0o755); err != nil {
			o.Abort()
			return nil, err
		}
	}
	if err := os.Mkdir(filepath.Join(o.stage, "keys"), 0o700); err != nil {
		o.Abort()
		return nil, err
	}
	if opts.ExportKeys != "" {
		if o.exStage, err = os.MkdirTemp(opts.ExportKeys, stagingPrefix); err != nil {
			o.Abort()
			return nil, err
		}
		if abs, err := filepath.Abs(o.stage); err == nil {
			os.WriteFile(filepath.Join(o.exStage, ownerName), []byte(abs), 0o600)
		}
	}
	if o.manifest, err = os.OpenFile(filepath.Join(o.stage, ManifestName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, publicMode); err != nil {
		o.Abort()
		return nil, err
	}
	o.mw = csv.NewWriter(bufio.NewWriterSize(o.manifest, 64<<10))
	o.mw.Write(ManifestHeader)
	return o, nil
}

// mkdirAll creates dir and its missing parents, and returns those it created, deepest last.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	slices.Reverse(missing)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return missing, err
	}
	return missing, nil
}

// ImagePath returns the image path of device id, relative to Dir.
func (o *Output) ImagePath(id string) string {
	return filepath.Join("bin", o.opts.Prefix+"-"+id+".bin")
}

// KeysPath returns the per-device keys file of device id, relative to Dir.
func (o *Output) KeysPath(id string) string {
	return filepath.Join("keys", "keys-"+o.opts.Prefix+"-"+id+".bin")
}

// HMACKeyPath returns the per-device HMAC key file of device id, relative to Dir.
func (o *Output) HMACKeyPath(id string) string {
	return filepath.Join("keys", "hmac-keys-"+o.opts.Prefix+"-"+id+".bin")
}

// CertPath returns the certificate file of device id, relative to Dir.
func (o *Output) CertPath(id string) string {
	return filepath.Join("certs", o.opts.Prefix+"-"+id+".cert.pem")
}

func (o *Output) readManifest() error {
	path := filepath.Join(o.opts.Dir, ManifestName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	// Count the rows first so that the entries take exactly 24 bytes per device, not up to
	// twice that while a growing slice is copied.
	if n, err := countLines(f); err == nil {
		o.old = make([]oldEntry, 0, n)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := csv.NewReader(bufio.NewReader(f))
	r.ReuseRecord = true
	hdr, err := r.Read()
	if err != nil || len(hdr) < 5 || hdr[0] != "file_id" || hdr[4] != "sha256" {
		return fmt.Errorf("%s: not an nvskit manifest (header %q)", path, hdr)
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if rec[2] == StatusFailed {
			continue
		}
		var e oldEntry
		if b, err := hex.DecodeString(rec[4]); err != nil || len(b) != 32 {
			return fmt.Errorf("%s: device %q: bad sha256 %q", path, rec[0], rec[4])
		} else {
			copy(e.sha[:], b)
		}
		e.id = maphash.String(o.seed, rec[0])
		o.old = append(o.old, e)
	}
	slices.SortFunc(o.old, func(a, b oldEntry) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return nil
}

// countLines returns the number of '\n' in r.
func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	n := 0
	for {
		m, err := r.Read(buf)
		n += bytes.Count(buf[:m], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Skip implements Sink.Skip: with Resume, a device whose image on disk has the SHA-256 the
// manifest records is skipped.
func (o *Output) Skip(d *Device) (bool, error) {
	if len(o.old) == 0 {
		return false, nil
	}
	k := maphash.String(o.seed, d.ID)
	i, ok := slices.BinarySearchFunc(o.old, k, func(e oldEntry, k uint64) int {
		switch {
		case e.id < k:
			return -1
		case e.id > k:
			return 1
		}
		return 0
	})
	if !ok {
		return false, nil
	}
	b, ok := readRegular(filepath.Join(o.opts.Dir, o.ImagePath(d.ID)), maxImage)
	if !ok {
		return false, nil
	}
	sum := sha256.Sum256(b)
	if [16]byte(sum[:16]) != o.old[i].sha {
		return false, nil
	}
	d.SHA256 = sum
	d.Status = StatusSkipped
	return true, nil
}

// Store implements Sink.Store: it writes the device's files into the staging directory.
// An existing image that differs is refused (ErrExists) unless Force; an identical one is
// left alone. The same holds for the device's keys files, certificate and exported key: a file
// this run did not make is replaced only with Force.
func (o *Output) Store(d *Device) error {
	d.Status = StatusWritten
	st, err := o.existing("bin", o.ImagePath(d.ID), d.Image)
	if err != nil {
		return err
	}
	switch st {
	case same:
		d.Status = StatusUnchanged
		return nil
	case differs:
		d.Status = StatusReplaced
	}
	if err := writeNew(filepath.Join(o.stage, o.ImagePath(d.ID)), d.Image, o.opts.ImageMode); err != nil {
		return err
	}
	if err := o.stageFile("keys", o.KeysPath(d.ID), d.KeysPartition, keyMode); err != nil {
		return err
	}
	if err := o.stageFile("keys", o.HMACKeyPath(d.ID), d.HMACKey, keyMode); err != nil {
		return err
	}
	if d.Cert != nil {
		if err := o.stageFile("certs", o.CertPath(d.ID), CertPEM(d.Cert), publicMode); err != nil {
			return err
		}
		if o.exStage != "" {
			base := o.opts.Prefix + "-" + d.ID
			if err := o.stageExport(base+".key.pem", KeyPEM(d.PrivateKey), keyMode); err != nil {
				return err
			}
			if err := o.stageExport(base+".cert.pem", CertPEM(d.Cert), publicMode); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxImage is the largest image an existing file is read as: the largest ESP flash.
const maxImage = 128 << 20

// existence is how a file on disk compares with what the run would write there.
type existence int

const (
	absent  existence = iota
	same              // identical content
	differs           // different content; Force allows replacing it
)

// existing compares the file rel (relative to Dir, in subdirectory sub) with data. A
// different file is an error wrapping ErrExists unless Force.
func (o *Output) existing(sub, rel string, data []byte) (existence, error) {
	if o.fresh[sub] {
		return absent, nil
	}
	return o.compare(filepath.Join(o.opts.Dir, rel), data)
}

func (o *Output) compare(path string, data []byte) (existence, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return absent, nil
	}
	if err != nil {
		return absent, err
	}
	if fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		if old, ok := readRegular(path, int64(len(data))); ok && bytes.Equal(old, data) {
			return same, nil
		}
	}
	if !o.opts.Force {
		hint := "use --force to replace it"
		if !o.opts.Resume {
			hint += ", or --resume to keep images that match the manifest"
		}
		return differs, fmt.Errorf("%s: %w (%s)", path, ErrExists, hint)
	}
	return differs, nil
}

// stageFile stages data (if not nil) as rel unless an identical file is in place.
func (o *Output) stageFile(sub, rel string, data []byte, perm os.FileMode) error {
	if data == nil {
		return nil
	}
	st, err := o.existing(sub, rel, data)
	if err != nil || st == same {
		return err
	}
	return writeNew(filepath.Join(o.stage, rel), data, perm)
}

// stageExport stages an exported file unless an identical one is in place.
func (o *Output) stageExport(name string, data []byte, perm os.FileMode) error {
	st, err := o.compare(filepath.Join(o.opts.ExportKeys, name), data)
	if err != nil || st == same {
		return err
	}
	return writeNew(filepath.Join(o.exStage, name), data, perm)
}

// readRegular reads path if it is a regular file (not a link) of at most max bytes.
func readRegular(path string, max int64) ([]byte, bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscallNonblock, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > max {
		return nil, false
	}
	if li, err := os.Lstat(path); err != nil || !li.Mode().IsRegular() {
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil || int64(len(b)) > max {
		return nil, false
	}
	return b, true
}

// checkManifest refuses to replace a manifest.csv that nvskit did not write, unless Force.
func (o *Output) checkManifest() error {
	path := o.ManifestPath()
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().IsRegular() {
		if b, ok := readRegular(path, maxImage); ok {
			line, _, _ := strings.Cut(string(b[:min(len(b), 4096)]), "\n")
			if strings.TrimRight(line, "\r") == strings.Join(ManifestHeader, ",") {
				return nil
			}
		}
	}
	if o.opts.Force {
		return nil
	}
	return fmt.Errorf("%s: %w that is not an nvskit manifest (use --force to replace it, or another --outdir)", path, ErrExists)
}

// Record writes the device's manifest row. It is the record function for Generator.Run: it
// returns the device's error unless KeepGoing.
func (o *Output) Record(d *Device) error {
	row := [8]string{d.ID, fmt.Sprint(d.Row), d.Status, "", "", "", "", ""}
	if d.Err != nil {
		row[2] = StatusFailed
		row[7] = strings.ReplaceAll(d.Err.Error(), "\n", " ")
		o.counts[4].Add(1)
	} else {
		row[3] = filepath.ToSlash(o.ImagePath(d.ID))
		row[4] = hex.EncodeToString(d.SHA256[:])
		var keys []string
		if d.KeysPartition != nil || (d.Skipped && exists(filepath.Join(o.opts.Dir, o.KeysPath(d.ID)))) {
			keys = append(keys, filepath.ToSlash(o.KeysPath(d.ID)))
		}
		if d.HMACKey != nil || (d.Skipped && exists(filepath.Join(o.opts.Dir, o.HMACKeyPath(d.ID)))) {
			keys = append(keys, filepath.ToSlash(o.HMACKeyPath(d.ID)))
		}
		row[5] = strings.Join(keys, ";")
		if d.Cert != nil || (d.Skipped && exists(filepath.Join(o.opts.Dir, o.CertPath(d.ID)))) {
			row[6] = filepath.ToSlash(o.CertPath(d.ID))
		}
		switch d.Status {
		case StatusWritten:
			o.counts[0].Add(1)
		case StatusReplaced:
			o.counts[1].Add(1)
		case StatusUnchanged:
			o.counts[2].Add(1)
		case StatusSkipped:
			o.counts[3].Add(1)
		}
	}
	if err := o.mw.Write(row[:]); err != nil {
		return err
	}
	if d.Err != nil && !o.opts.KeepGoing {
		return d.Err
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Counts returns the devices recorded so far, by status. It is safe to call while a run is
// going on (for a progress display).
func (o *Output) Counts() Counts {
	return Counts{Written: int(o.counts[0].Load()), Replaced: int(o.counts[1].Load()),
		Unchanged: int(o.counts[2].Load()), Skipped: int(o.counts[3].Load()), Failed: int(o.counts[4].Load())}
}

// ManifestPath returns the manifest's path.
func (o *Output) ManifestPath() string { return filepath.Join(o.opts.Dir, ManifestName) }

// Commit moves the staged files into place and writes the manifest. Without KeepGoing it
// refuses (and aborts) when any device failed. Once the commit has begun (see the package's
// commit order), an error leaves the staging directory to the next run, which finishes the
// commit; the error says so.
func (o *Output) Commit() error {
	if c := o.Counts(); c.Failed > 0 && !o.opts.KeepGoing {
		o.Abort()
		return fmt.Errorf("%d devices failed; nothing was written", c.Failed)
	}
	o.mw.Flush()
	if err := o.mw.Error(); err != nil {
		o.Abort()
		return err
	}
	if err := o.manifest.Close(); err != nil {
		o.Abort()
		return err
	}
	o.manifest = nil
	if o.opts.Sync {
		if err := syncFS(o.stage); err != nil {
			o.Abort()
			return err
		}
		if o.exStage != "" {
			if err := syncFS(o.exStage); err != nil {
				o.Abort()
				return err
			}
		}
	}
	if err := commitStep("synced"); err != nil {
		o.Abort()
		return err
	}
	if err := writeJournal(o.stage, journal{exStage: o.exStageAbs()}, o.opts.Sync); err != nil {
		o.Abort()
		return err
	}
	o.journaled = true
	if err := commitStep("journal"); err != nil {
		return o.interrupted(err)
	}
	if err := finish(o.opts.Dir, o.stage, journal{exStage: o.exStageAbs()}); err != nil {
		return o.interrupted(err)
	}
	o.committed = true
	o.release()
	return nil
}

// interrupted is the error of a commit that began and could not finish.
func (o *Output) interrupted(err error) error {
	o.release()
	return fmt.Errorf("%s: %w (%v); the next nvskit mfg run into %s finishes it: run the same command with --resume",
		o.opts.Dir, ErrCommitInterrupted, err, o.opts.Dir)
}

func (o *Output) exStageAbs() string {
	if o.exStage == "" {
		return ""
	}
	if abs, err := filepath.Abs(o.exStage); err == nil {
		return abs
	}
	return o.exStage
}

// release drops the directory locks.
func (o *Output) release() {
	for _, u := range o.unlock {
		u()
	}
	o.unlock = nil
}

// Abort removes the staging directories and the directories OpenOutput created. Nothing of
// the run remains. It does nothing after Commit, nor once a commit has begun (the next run
// finishes that).
func (o *Output) Abort() {
	if o.committed || o.journaled {
		o.release()
		return
	}
	if o.manifest != nil {
		o.manifest.Close()
		o.manifest = nil
	}
	if o.stage != "" {
		os.RemoveAll(o.stage)
	}
	if o.exStage != "" {
		os.RemoveAll(o.exStage)
	}
	o.release()
	for i := len(o.created) - 1; i >= 0; i-- {
		os.Remove(o.created[i]) // only if empty
	}
}
