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
}

// Output writes devices into the mfg_gen output layout: <Dir>/bin/<prefix>-<id>.bin,
// <Dir>/keys/keys-<prefix>-<id>.bin (per-device encryption keys, mode 0600),
// <Dir>/keys/hmac-keys-<prefix>-<id>.bin (per-device HMAC keys, 0600),
// <Dir>/certs/<prefix>-<id>.cert.pem (issued certificates) and <Dir>/manifest.csv.
//
// Nothing appears in those places until Commit: files are written into a staging directory
// inside Dir and moved into place by Commit, each with one rename. Abort removes them.
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
	fresh     bool // Dir had no bin/ when opened: no image can exist yet
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
	o := &Output{opts: opts, seed: maphash.MakeSeed()}
	var err error
	if o.created, err = mkdirAll(opts.Dir); err != nil {
		return nil, err
	}
	o.fresh = !exists(filepath.Join(opts.Dir, "bin"))
	if opts.Resume {
		if err := o.readManifest(); err != nil {
			o.Abort()
			return nil, err
		}
	}
	if o.stage, err = os.MkdirTemp(opts.Dir, ".nvskit-mfg-staging-"); err != nil {
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
		c, err := mkdirAll(opts.ExportKeys)
		o.created = append(o.created, c...)
		if err != nil {
			o.Abort()
			return nil, err
		}
		if o.exStage, err = os.MkdirTemp(opts.ExportKeys, ".nvskit-mfg-staging-"); err != nil {
			o.Abort()
			return nil, err
		}
		os.Chmod(o.exStage, 0o700)
	}
	if o.manifest, err = os.OpenFile(filepath.Join(o.stage, ManifestName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
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
	b, err := os.ReadFile(filepath.Join(o.opts.Dir, o.ImagePath(d.ID)))
	if err != nil {
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
// left alone.
func (o *Output) Store(d *Device) error {
	final := filepath.Join(o.opts.Dir, o.ImagePath(d.ID))
	d.Status = StatusWritten
	if o.fresh {
		// Nothing to compare with.
	} else if old, err := os.ReadFile(final); err == nil {
		if bytes.Equal(old, d.Image) {
			d.Status = StatusUnchanged
			return nil
		}
		if !o.opts.Force {
			hint := "use --force to overwrite it"
			if !o.opts.Resume {
				hint += ", or --resume to keep images that match the manifest"
			}
			return fmt.Errorf("%s: %w (%s)", final, ErrExists, hint)
		}
		d.Status = StatusReplaced
	}
	if err := writeNew(filepath.Join(o.stage, o.ImagePath(d.ID)), d.Image, 0o644); err != nil {
		return err
	}
	if d.KeysPartition != nil {
		if err := writeNew(filepath.Join(o.stage, o.KeysPath(d.ID)), d.KeysPartition, 0o600); err != nil {
			return err
		}
	}
	if d.HMACKey != nil {
		if err := writeNew(filepath.Join(o.stage, o.HMACKeyPath(d.ID)), d.HMACKey, 0o600); err != nil {
			return err
		}
	}
	if d.Cert != nil {
		if err := writeNew(filepath.Join(o.stage, o.CertPath(d.ID)), CertPEM(d.Cert), 0o644); err != nil {
			return err
		}
		if o.exStage != "" {
			base := filepath.Join(o.exStage, o.opts.Prefix+"-"+d.ID)
			if err := writeNew(base+".key.pem", KeyPEM(d.PrivateKey), 0o600); err != nil {
				return err
			}
			if err := writeNew(base+".cert.pem", CertPEM(d.Cert), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
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
// refuses (and aborts) when any device failed.
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
	if err := o.manifest.Sync(); err != nil {
		o.Abort()
		return err
	}
	if err := o.manifest.Close(); err != nil {
		o.Abort()
		return err
	}
	o.manifest = nil
	for _, sub := range []string{"bin", "keys", "certs"} {
		if err := moveInto(filepath.Join(o.stage, sub), filepath.Join(o.opts.Dir, sub)); err != nil {
			return fmt.Errorf("moving files into %s: %w", filepath.Join(o.opts.Dir, sub), err)
		}
	}
	if o.exStage != "" {
		if err := moveInto(o.exStage, o.opts.ExportKeys); err != nil {
			return fmt.Errorf("moving files into %s: %w", o.opts.ExportKeys, err)
		}
	}
	if err := os.Rename(filepath.Join(o.stage, ManifestName), o.ManifestPath()); err != nil {
		return err
	}
	o.committed = true
	os.RemoveAll(o.stage)
	if o.exStage != "" {
		os.RemoveAll(o.exStage)
	}
	return nil
}

// moveInto moves the entries of src into dst: the whole directory with one rename when dst
// does not exist yet, else entry by entry. An empty src creates nothing.
func moveInto(src, dst string) error {
	d, err := os.Open(src)
	if err != nil {
		return err
	}
	defer d.Close()
	first, err := d.ReadDir(1)
	if err == io.EOF || len(first) == 0 {
		return nil
	}
	if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		d.Close()
		return os.Rename(src, dst)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	pending := first
	for {
		for _, e := range pending {
			if err := os.Rename(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
		pending, err = d.ReadDir(1024)
		if err == io.EOF || len(pending) == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Abort removes the staging directories and the directories OpenOutput created. Nothing of
// the run remains. It does nothing after Commit.
func (o *Output) Abort() {
	if o.committed {
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
	for i := len(o.created) - 1; i >= 0; i-- {
		os.Remove(o.created[i]) // only if empty
	}
}
