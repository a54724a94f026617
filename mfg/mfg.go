package mfg

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/nvskit/nvskit/internal/clip"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/nvscsv"
)

// Options configure a Generator.
type Options struct {
	// Size is the partition size in bytes (a multiple of 4096).
	Size int
	// Version is the NVS format version; zero means V2.
	Version nvs.Version
	// FileID names the VALUES.csv column whose value identifies each device (mfg_gen's
	// --fileid). Empty numbers the devices 1, 2, 3, ...
	FileID string
	// Jobs is the number of worker goroutines; zero means runtime.GOMAXPROCS(0).
	Jobs int
	// ReadFile reads the file a "file" config row's value names, at most max bytes (the
	// largest content the row's encoding can use, nvscsv.MaxValueSize): a larger file is an
	// error (an *nvscsv.LimitError). Without it file rows fail.
	ReadFile func(name string, max int64) ([]byte, error)
	// Encryption, when not nil, encrypts every image.
	Encryption *Encryption
	// Issuer, when not nil, issues a certificate and key pair for every device; the config's
	// x509_cert, x509_key and x509_ca rows say where they go. Config x509 rows need an Issuer.
	Issuer *Issuer
}

// Sink receives the devices of a run.
type Sink interface {
	// Skip is called by the workers, concurrently, before a device is built; returning true
	// skips it (its Device has Skipped set and no Image). Output uses it for --resume.
	Skip(d *Device) (bool, error)
	// Store is called by the workers, concurrently, for every device that was built (Err nil,
	// not skipped). An error fails the device.
	Store(d *Device) error
	// Record is called for every device in VALUES.csv order, from one goroutine, failed
	// devices included (Device.Err set). A non-nil error stops the run.
	Record(d *Device) error
}

// RecordFunc is a Sink that only records: it skips nothing and stores nothing.
type RecordFunc func(d *Device) error

// Skip returns false.
func (RecordFunc) Skip(*Device) (bool, error) { return false, nil }

// Store does nothing.
func (RecordFunc) Store(*Device) error { return nil }

// Record calls f.
func (f RecordFunc) Record(d *Device) error { return f(d) }

// Encryption says how images are encrypted (NVS encryption, AES-256-XTS).
type Encryption struct {
	// Keys, when not nil, encrypts every device with the same keys (mfg_gen --inputkey, or
	// keys derived from one HMAC key).
	Keys *nvs.Keys
	// KeyGen makes fresh random keys for every device (mfg_gen --keygen without an HMAC key);
	// Device.KeysPartition holds them. With Keys set, KeyGen only asks for the keys partition
	// image of those keys for every device, as mfg_gen --keygen --kp_hmac_inputkey does.
	KeyGen bool
	// HMACKeyGen makes a fresh random HMAC key for every device and derives its keys from it
	// (mfg_gen --key_protect_hmac --kp_hmac_keygen); Device.HMACKey holds it.
	HMACKeyGen bool
}

// Device is the outcome for one VALUES.csv row.
type Device struct {
	Row  int    // 1 for the first device row
	Line int    // line of the row in VALUES.csv
	ID   string // file id
	// Image is the NVS partition image, encrypted if asked. It is only valid during the Store
	// callback: the generator then reuses the buffer for the next device.
	Image []byte
	// SHA256 is the SHA-256 of Image.
	SHA256 [32]byte
	// KeysPartition is the device's nvs_keys partition image when keys are made per device.
	KeysPartition []byte
	// HMACKey is the device's HMAC key when one is made per device.
	HMACKey []byte
	// Cert is the DER certificate issued for the device, and PrivateKey its PKCS#8 DER key,
	// when an Issuer is set.
	Cert, PrivateKey []byte
	// Skipped reports that Sink.Skip skipped the device.
	Skipped bool
	// Err is why the device failed, or nil.
	Err error
	// Status is free for the Store and Skip callbacks to describe what they did ("written",
	// "unchanged", ...).
	Status string
	values *nvscsv.MfgDevice
}

// RowError is a problem with one device: the VALUES.csv file, line and, when known, column.
type RowError struct {
	File   string // VALUES.csv as named on the command line
	Line   int    // physical line of the row
	Column int    // 1-based column in VALUES.csv, 0 if the problem is not one value's
	Key    string // the column's key
	Err    error  // what is wrong
}

// Error returns "file:line: column N (key): message".
func (e *RowError) Error() string {
	msg := e.Err.Error()
	var ce *nvscsv.Error
	if errors.As(e.Err, &ce) {
		msg = ce.Msg
		if ce.Key != "" {
			msg = strings.TrimPrefix(msg, nvscsv.KeyPrefix(ce.Key))
		}
	}
	if e.Column > 0 {
		return fmt.Sprintf("%s:%d: column %d (%s): %s", e.File, e.Line, e.Column, e.Key, msg)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, msg)
}

// Unwrap returns the underlying error.
func (e *RowError) Unwrap() error { return e.Err }

// Errors a caller may branch on.
var (
	ErrDuplicateID = errors.New("duplicate file id")
	ErrBadID       = errors.New("file id cannot be used in a file name")
	ErrNoIssuer    = errors.New("config has x509 rows but no CA was given")
)

// Generator makes one NVS image per device from a config.
type Generator struct {
	cfg     *nvscsv.MfgConfig
	opts    Options
	cipher  *nvs.Cipher
	fileMax []int64 // per config row: the largest file a file row reads
}

// New returns a Generator for cfg.
func New(cfg *nvscsv.MfgConfig, opts Options) (*Generator, error) {
	if err := nvs.CheckSize(opts.Size); err != nil {
		return nil, err
	}
	if opts.Version == 0 {
		opts.Version = nvs.V2
	}
	if opts.Version != nvs.V1 && opts.Version != nvs.V2 {
		return nil, fmt.Errorf("format version %d: must be 1 or 2", opts.Version)
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.GOMAXPROCS(0)
	}
	g := &Generator{cfg: cfg, opts: opts, fileMax: make([]int64, len(cfg.Rows))}
	for i, r := range cfg.Rows {
		g.fileMax[i], _ = nvscsv.MaxValueSize(r.Encoding)
	}
	hasCert := false
	for _, r := range cfg.Rows {
		if r.IsGenerated() {
			if opts.Issuer == nil {
				return nil, fmt.Errorf("%s:%d: key %q is %s: %w (pass --ca-cert and --ca-key)", cfg.File, r.Line, r.Key, r.Type, ErrNoIssuer)
			}
			hasCert = hasCert || r.Type == nvscsv.TypeX509Cert
		}
	}
	if opts.Issuer != nil && !hasCert {
		return nil, fmt.Errorf("%s: a CA was given but no config row has type %s to hold the device certificate (e.g. device_cert,%s,string)",
			cfg.File, nvscsv.TypeX509Cert, nvscsv.TypeX509Cert)
	}
	if e := opts.Encryption; e != nil {
		if e.Keys == nil && !e.KeyGen && !e.HMACKeyGen {
			return nil, errors.New("encryption needs keys, KeyGen or HMACKeyGen")
		}
		if e.Keys != nil {
			c, err := nvs.NewCipher(*e.Keys)
			if err != nil {
				return nil, err
			}
			g.cipher = c
		}
	}
	return g, nil
}

// checkID refuses file ids that cannot be a file name.
func checkID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\\x00") || id != filepath.Base(id) {
		return fmt.Errorf("%s: %w", clip.Quote(id), ErrBadID)
	}
	return nil
}

// Run reads VALUES.csv from values (name is used in errors) and builds one image per device on
// Options.Jobs workers, handing each to sink (see Sink). The first error sink.Record returns
// stops the run and is returned. Memory stays bounded: rows are read as the workers need them.
//
// Cancelling ctx stops the run promptly, also while a read of values is blocked: values is
// not read again, and when it has a SetReadDeadline method (an *os.File of a pipe or FIFO, a
// net.Conn) the blocked read is interrupted by setting a deadline in the past. A blocked read
// that cannot be interrupted is left to finish on its own; Run returns ctx's error without
// waiting for it, and calls no Sink method after it returns.
func (g *Generator) Run(ctx context.Context, name string, values io.Reader, sink Sink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	interruptible := false
	if dl, ok := values.(interface{ SetReadDeadline(time.Time) error }); ok {
		interruptible = true
		stop := context.AfterFunc(ctx, func() { dl.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	cr := &ctxReader{ctx: ctx, r: values}

	// The header is read here, the rows by the feeder below; both may block.
	type header struct {
		vr  *nvscsv.MfgValues
		err error
	}
	hc := make(chan header, 1)
	go func() {
		vr, err := nvscsv.NewMfgValues(g.cfg, name, cr, g.opts.FileID)
		hc <- header{vr, err}
	}()
	var vr *nvscsv.MfgValues
	select {
	case h := <-hc:
		if h.err != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
			return h.err
		}
		vr = h.vr
	case <-ctx.Done():
		return ctx.Err()
	}

	// Rows travel in batches: one channel operation per batch rather than three per device
	// keeps the workers busy instead of waking each other up.
	jobs := make(chan *batch, g.opts.Jobs*4)
	order := make(chan *batch, g.opts.Jobs*16)
	var wg sync.WaitGroup
	for range g.opts.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := g.newWorker(name, sink)
			for {
				select {
				case <-ctx.Done():
					return
				case b, ok := <-jobs:
					if !ok {
						return
					}
					for _, d := range b.devices {
						if ctx.Err() != nil {
							break
						}
						if d.Err == nil {
							w.device(d)
						}
					}
					close(b.done)
				}
			}
		}()
	}

	// Feed rows in order; a row that fails before building is recorded as failed.
	feedErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(jobs)
		var seen idSet
		seed := maphash.MakeSeed()
		b := newBatch()
		// send queues the batch; false when the run is over.
		send := func() bool {
			if len(b.devices) == 0 {
				return true
			}
			select {
			case order <- b:
			case <-ctx.Done():
				return false
			}
			select {
			case jobs <- b:
			case <-ctx.Done():
				return false
			}
			b = newBatch()
			return true
		}
		for ctx.Err() == nil {
			row, err := vr.Next()
			if err == io.EOF {
				send()
				feedErr <- nil
				return
			}
			d := &Device{}
			if row != nil {
				d.Row, d.Line, d.ID, d.values = row.Row, row.Line, row.ID, row
			}
			if err != nil {
				var ce *nvscsv.Error
				if row == nil || !errors.As(err, &ce) {
					send()
					feedErr <- err
					return
				}
				d.Err = &RowError{File: name, Line: row.Line, Err: err}
			} else if e := checkID(row.ID); e != nil {
				d.Err = &RowError{File: name, Line: row.Line, Column: vr.FileIDColumn(), Key: g.opts.FileID, Err: e}
			} else {
				k := maphash.String(seed, row.ID)
				if prev, dup := seen.add(k, int32(row.Row)); dup {
					d.Err = &RowError{File: name, Line: row.Line, Column: vr.FileIDColumn(), Key: g.opts.FileID,
						Err: fmt.Errorf("%w %s: device row %d has it too", ErrDuplicateID, clip.Quote(row.ID), prev)}
				}
			}
			b.devices = append(b.devices, d)
			// Send a full batch, and any batch when the next row may keep us waiting (a
			// pipe that delivers rows slowly).
			if len(b.devices) == batchSize || vr.Buffered() == 0 {
				if !send() {
					break
				}
			}
		}
		feedErr <- nil
	}()

	var runErr error
collect:
	for {
		select {
		case <-ctx.Done():
			runErr = ctx.Err()
			break collect
		case b, ok := <-order:
			if !ok {
				break collect
			}
			select {
			case <-b.done:
			case <-ctx.Done():
				runErr = ctx.Err()
				break collect
			}
			for _, d := range b.devices {
				if err := ctx.Err(); err != nil {
					runErr = err
					break collect
				}
				if err := sink.Record(d); err != nil {
					runErr = err
					break collect
				}
				d.release()
			}
		}
	}
	cancel()
	wg.Wait()
	if runErr == nil || interruptible {
		if err := <-feedErr; err != nil && runErr == nil {
			runErr = err
		}
	}
	return runErr
}

// batchSize is the most devices a batch holds.
const batchSize = 32

// batch is a run of consecutive devices that one worker builds.
type batch struct {
	devices []*Device
	done    chan struct{} // closed when the worker is through with them
}

func newBatch() *batch {
	return &batch{devices: make([]*Device, 0, batchSize), done: make(chan struct{})}
}

// ctxReader stops reading once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if err != nil && c.ctx.Err() != nil {
		err = c.ctx.Err()
	}
	return n, err
}

// release drops what the device no longer needs once recorded.
func (d *Device) release() {
	d.Image, d.values = nil, nil
}

// worker holds what one goroutine reuses from device to device.
type worker struct {
	g      *Generator
	b      *nvs.Builder
	sink   Sink
	p      *nvscsv.Parser
	values string // VALUES.csv name, for errors
	// fileMax is the largest file the row being added may read (see Options.ReadFile).
	fileMax int64
}

func (g *Generator) newWorker(values string, sink Sink) *worker {
	w := &worker{g: g, values: values, sink: sink}
	var read func(string) ([]byte, error)
	if g.opts.ReadFile != nil {
		read = func(name string) ([]byte, error) { return g.opts.ReadFile(name, w.fileMax) }
	}
	w.p = nvscsv.NewParser(nvscsv.Options{Version: g.opts.Version, ReadFile: read})
	return w
}

// device builds one device; failures go into d.Err.
func (w *worker) device(d *Device) {
	skip, err := w.sink.Skip(d)
	if err != nil {
		d.Err = err
		return
	}
	if skip {
		d.Skipped = true
		return
	}
	if err := w.build(d); err != nil {
		d.Err = err
		return
	}
	if err := w.sink.Store(d); err != nil {
		d.Err = err
	}
	d.Image = nil
}

func (w *worker) build(d *Device) error {
	g := w.g
	vals := d.values
	rowErr := func(i int, err error) error {
		e := &RowError{File: w.valuesName(), Line: d.Line, Err: err}
		if i >= 0 {
			e.Column, e.Key = vals.Columns[i], g.cfg.Rows[i].Key
			if e.Column == 0 {
				e.Key = g.cfg.File + ":" + fmt.Sprint(g.cfg.Rows[i].Line) + ": " + e.Key
			}
		}
		return e
	}
	var cert *issued
	if g.opts.Issuer != nil {
		c, err := g.opts.Issuer.issue(d.ID)
		if err != nil {
			return rowErr(-1, fmt.Errorf("issuing the device certificate: %w", err))
		}
		cert = c
		d.Cert, d.PrivateKey = c.certDER, c.keyDER
	}
	p := w.p
	p.Reset()
	for i := range g.cfg.Rows {
		r := &g.cfg.Rows[i]
		var err error
		switch {
		case r.IsNamespace():
			err = p.AddRow(w.valuesName(), d.Line, r.Key, "namespace", "", "")
		case r.IsGenerated():
			err = p.AddRow(w.valuesName(), d.Line, r.Key, "data", r.Encoding, cert.value(r))
		default:
			if r.Type == "file" {
				w.fileMax = g.fileMax[i]
			}
			err = p.AddRow(w.valuesName(), d.Line, r.Key, r.Type, r.Encoding, vals.Values[i])
		}
		if err != nil {
			return rowErr(i, err)
		}
	}
	if w.b == nil {
		b, err := nvs.NewBuilder(nvs.Options{Size: g.opts.Size, Version: g.opts.Version})
		if err != nil {
			return rowErr(-1, err)
		}
		w.b = b
	} else {
		w.b.Reset()
	}
	b := w.b
	for _, row := range p.Rows() {
		if err := b.Add(row.Item); err != nil {
			return rowErr(-1, fmt.Errorf("%s/%s: %w", row.Item.Namespace, row.Item.Key, err))
		}
	}
	img, err := b.Image()
	if err != nil {
		return rowErr(-1, err)
	}
	if e := g.opts.Encryption; e != nil {
		c := g.cipher
		var keys nvs.Keys
		switch {
		case e.HMACKeyGen:
			hk := make([]byte, 32)
			rand.Read(hk)
			d.HMACKey = hk
			keys, _ = nvs.KeysFromHMAC(hk)
			c = nil
		case e.Keys != nil:
			keys = *e.Keys
		default:
			rand.Read(keys.Data[:])
			rand.Read(keys.Tweak[:])
			c = nil
		}
		if c == nil {
			if c, err = nvs.NewCipher(keys); err != nil {
				return rowErr(-1, err)
			}
		}
		if e.KeyGen || e.HMACKeyGen {
			d.KeysPartition = keys.MarshalPartition()
		}
		if err := c.Encrypt(img); err != nil {
			return rowErr(-1, err)
		}
	}
	d.Image = img
	d.SHA256 = sha256.Sum256(img)
	return nil
}

func (w *worker) valuesName() string { return w.values }

// DeviceBuilder builds the image of one device at a time, as a provisioning station needs
// it, reusing its buffers. It is not safe for concurrent use; make one per goroutine.
type DeviceBuilder struct {
	w *worker
}

// NewDeviceBuilder returns a DeviceBuilder; values names the source of the rows in errors.
func (g *Generator) NewDeviceBuilder(values string) *DeviceBuilder {
	return &DeviceBuilder{w: g.newWorker(values, RecordFunc(nil))}
}

// Build builds the image of the device of one values row (from nvscsv.MfgValues.Next or
// nvscsv.MfgConfig.DeviceFrom), with its certificate and keys when the Generator issues
// them. The returned Device's Image is valid until the next Build.
func (b *DeviceBuilder) Build(row *nvscsv.MfgDevice) (*Device, error) {
	if err := checkID(row.ID); err != nil {
		return nil, err
	}
	d := &Device{Row: row.Row, Line: row.Line, ID: row.ID, values: row}
	if err := b.w.build(d); err != nil {
		return nil, err
	}
	d.values = nil
	return d, nil
}
