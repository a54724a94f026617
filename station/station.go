package station

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/ledger"
	"github.com/nvskit/nvskit/mfg"
	"github.com/nvskit/nvskit/nvscsv"
	"github.com/nvskit/nvskit/partition"
)

// Device is a connected chip in download mode, as a station uses it. LoaderDevice adapts an
// esploader.Loader.
type Device interface {
	// Chip returns the chip's name, e.g. "ESP32-S3".
	Chip() string
	// MAC reads the chip's base MAC.
	MAC() (net.HardwareAddr, error)
	// FlashEncryption reports whether the chip's flash encryption is on.
	FlashEncryption() (bool, error)
	// ReadFlash reads n bytes at off.
	ReadFlash(off uint32, n int) ([]byte, error)
	// WriteFlash writes data at off and returns only when the chip's MD5 of the range matches.
	WriteFlash(off uint32, data []byte, progress func(done, total int)) error
	// FlashMD5 returns the chip's MD5 of n bytes at off.
	FlashMD5(off uint32, n int) ([16]byte, error)
	// CanWriteEncrypted reports whether the chip's ROM loader can write through its flash
	// encryption, and if not why.
	CanWriteEncrypted() (bool, string)
	// WriteFlashEncrypted writes data at off through the chip's flash encryption and
	// returns what could be checked of the result.
	WriteFlashEncrypted(off uint32, data []byte) (check string, err error)
	// Reset leaves the loader and runs the application (where the port can do it).
	Reset()
	// Close closes the port.
	Close() error
}

// Options configure a Station.
type Options struct {
	// Ledger hands out the identities and records the results.
	Ledger ledger.Ledger
	// Config is the mfg CONFIG.csv the images are laid out by.
	Config *nvscsv.MfgConfig
	// Mfg are the per-device options of the images (version, certificate issuer, encryption,
	// reading file rows). Size is ignored: images are as large as the partition.
	Mfg mfg.Options
	// Partition is the name of the NVS partition written.
	Partition string
	// KeysPartition names the nvs_keys partition written when keys are made per device
	// (Mfg.Encryption.KeyGen); empty means the table's first data/nvs_keys partition. It is
	// written plain on a chip whose flash encryption is off (the bootloader encrypts it when
	// it turns flash encryption on), through the chip's flash encryption when it is on (the
	// ROM's encrypted write; a chip whose ROM cannot do that is refused).
	KeysPartition string
	// Table is the partition table; nil reads it from each device at TableOffset.
	Table *partition.Table
	// TableOffset is where the table is in flash (0: 0x8000).
	TableOffset uint32
	// Chip is the chip type the line makes ("esp32s3", "ESP32-C3", ...); a device of another
	// type is refused before anything is written.
	Chip string
	// Station is recorded with every event.
	Station string
	// Ports are the jigs' ports; each is served by its own goroutine.
	Ports []string
	// Connect connects to the chip on a port, or fails when none is there.
	Connect func(ctx context.Context, port string) (Device, error)
	// Poll is the wait between connection attempts on an empty jig (default 1 s).
	Poll time.Duration
	// Once provisions one device per port, then returns.
	Once bool
	// Events, if not nil, receives every event, from the ports' goroutines (one at a time).
	Events func(Event)
}

// Event kinds.
const (
	KindWaiting     = "waiting"     // no device on the port
	KindConnected   = "connected"   // a device is connected (Chip, MAC)
	KindClaimed     = "claimed"     // an identity is bound (ID; Attempt > 1 for a chip seen before)
	KindWriting     = "writing"     // progress of the write (Done, Total bytes)
	KindProvisioned = "provisioned" // written and verified, recorded (Already: it was so before)
	KindFailed      = "failed"      // the attempt failed (Error); the identity stays bound
	KindRefused     = "refused"     // the device was refused before anything was written (Error)
	KindExhausted   = "exhausted"   // no identity is left
	KindError       = "error"       // a problem not tied to a device (the ledger); retried
	KindDone        = "done"        // the device was reset; waiting for the next
)

// Event is one step of one port, for a live view or a line controller.
type Event struct {
	Time    time.Time `json:"time"`
	Station string    `json:"station"`
	Port    string    `json:"port"`
	Kind    string    `json:"event"`
	Chip    string    `json:"chip,omitempty"`
	MAC     string    `json:"mac,omitempty"`
	ID      string    `json:"id,omitempty"`
	Attempt int       `json:"attempt,omitempty"`
	Done    int       `json:"done,omitempty"`
	Total   int       `json:"total,omitempty"`
	Already bool      `json:"already,omitempty"`
	// Digests of what was written (provisioned events).
	ImageSHA256 string `json:"image_sha256,omitempty"`
	CertSHA256  string `json:"cert_sha256,omitempty"`
	CertSerial  string `json:"cert_serial,omitempty"`
	KeysSHA256  string `json:"keys_sha256,omitempty"`
	// Seconds is the time spent on the device, from connection to record.
	Seconds float64 `json:"seconds,omitempty"`
	Error   string  `json:"error,omitempty"`
}

// Errors a caller may branch on.
var (
	// ErrWrongChip: the device is not the chip type the line makes.
	ErrWrongChip = errors.New("wrong chip type")
	// ErrEncryptedKeys: per-device NVS keys on a chip whose flash encryption is on need an
	// encrypted write of the nvs_keys partition, which this chip's ROM loader cannot do.
	ErrEncryptedKeys = errors.New("flash encryption is on and the nvs_keys partition cannot be written through it")
)

// Station provisions devices on its ports.
type Station struct {
	opts Options
	chip esploader.Chip
	mu   sync.Mutex // serialises Events
	gmu  sync.Mutex
	gens map[int]*mfg.Generator // by partition size
}

// New checks the options and returns a Station.
func New(opts Options) (*Station, error) {
	if opts.Ledger == nil || opts.Config == nil || opts.Connect == nil {
		return nil, errors.New("station: Ledger, Config and Connect are required")
	}
	if len(opts.Ports) == 0 {
		return nil, errors.New("station: no ports")
	}
	seen := map[string]bool{}
	for _, p := range opts.Ports {
		if seen[p] {
			return nil, fmt.Errorf("port %s is given twice", p)
		}
		seen[p] = true
	}
	if opts.Partition == "" {
		return nil, errors.New("station: the NVS partition name is required")
	}
	c, ok := esploader.ChipByName(opts.Chip)
	if !ok {
		var names []string
		for _, c := range esploader.Chips {
			names = append(names, strings.ToLower(strings.ReplaceAll(c.Name, "-", "")))
		}
		return nil, fmt.Errorf("chip %q: choose one of %s", opts.Chip, strings.Join(names, ", "))
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.TableOffset == 0 {
		opts.TableOffset = partition.DefaultOffset
	}
	s := &Station{opts: opts, chip: c, gens: map[int]*mfg.Generator{}}
	// Check the image options once, with a size every partition can have.
	if _, err := s.generator(0x3000); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Station) generator(size int) (*mfg.Generator, error) {
	s.gmu.Lock()
	defer s.gmu.Unlock()
	if g := s.gens[size]; g != nil {
		return g, nil
	}
	o := s.opts.Mfg
	o.Size = size
	g, err := mfg.New(s.opts.Config, o)
	if err != nil {
		return nil, err
	}
	s.gens[size] = g
	return g, nil
}

func (s *Station) emit(e Event) {
	if s.opts.Events == nil {
		return
	}
	e.Time = time.Now().UTC()
	e.Station = s.opts.Station
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Events(e)
}

// Run serves every port until ctx is cancelled (a device in progress is finished first) or,
// with Once, until every port has handled one device. With Once it returns an error when a
// port's device was not provisioned.
func (s *Station) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.opts.Ports))
	for i, p := range s.opts.Ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.port(ctx, p)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// port is the loop of one jig.
func (s *Station) port(ctx context.Context, name string) error {
	p := &portState{s: s, name: name}
	last := "" // the MAC handled last, while it stays on the jig
	waiting := false
	for ctx.Err() == nil {
		dev, err := s.opts.Connect(ctx, name)
		if err != nil {
			last = ""
			if !waiting {
				s.emit(Event{Port: name, Kind: KindWaiting, Error: err.Error()})
				waiting = true
			}
			sleep(ctx, s.opts.Poll)
			continue
		}
		waiting = false
		hw, err := dev.MAC()
		if err != nil {
			dev.Close()
			s.emit(Event{Port: name, Kind: KindError, Chip: dev.Chip(), Error: err.Error()})
			sleep(ctx, s.opts.Poll)
			continue
		}
		mac := hw.String()
		if mac == last {
			// The device handled last is still on the jig.
			dev.Reset()
			dev.Close()
			sleep(ctx, s.opts.Poll)
			continue
		}
		out := p.device(ctx, dev, mac)
		dev.Reset()
		dev.Close()
		if out.exhausted && s.opts.Once {
			return out.err
		}
		if out.retry || out.exhausted {
			sleep(ctx, s.opts.Poll)
			continue
		}
		last = mac
		s.emit(Event{Port: name, Kind: KindDone, Chip: dev.Chip(), MAC: mac, ID: out.id})
		if s.opts.Once {
			return out.err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// portState is what one port's goroutine keeps.
type portState struct {
	s        *Station
	name     string
	builders map[int]*mfg.DeviceBuilder
	// exhausted: the last claim found no identity (reported once until one is claimed).
	exhausted bool
}

// outcome is how a device ended.
type outcome struct {
	id    string
	err   error // why it was not provisioned
	retry bool  // a problem not of the device (the ledger): try the same device again
	// exhausted: no identity was left; the device is tried again (identities may be added)
	exhausted bool
}

// device does everything for one connected chip. ctx is only consulted before the claim: a
// device once claimed is finished, so that Ctrl-C never leaves a half-written chip behind.
func (p *portState) device(ctx context.Context, dev Device, mac string) outcome {
	s := p.s
	start := time.Now()
	chip := dev.Chip()
	ev := func(kind string) Event { return Event{Port: p.name, Kind: kind, Chip: chip, MAC: mac} }
	s.emit(ev(KindConnected))
	refuse := func(err error) outcome {
		e := ev(KindRefused)
		e.Error = err.Error()
		s.emit(e)
		if nerr := s.opts.Ledger.Note(context.WithoutCancel(ctx), ledger.Event{Kind: "refused", MAC: mac, Station: s.opts.Station,
			Port: p.name, Detail: chip + ": " + err.Error()}); nerr != nil {
			s.emit(Event{Port: p.name, Kind: KindError, Error: "recording the refusal: " + nerr.Error()})
		}
		return outcome{err: err}
	}
	// Everything that can refuse the device comes before the claim: a refused chip takes no
	// identity and nothing is written to it.
	if chip != s.chip.Name {
		return refuse(fmt.Errorf("%w: the device is an %s, the line makes %s", ErrWrongChip, chip, s.chip.Name))
	}
	tbl := s.opts.Table
	if tbl == nil {
		b, err := dev.ReadFlash(s.opts.TableOffset, partition.MaxLength)
		if err != nil {
			return outcome{err: fmt.Errorf("reading the partition table: %w", err), retry: true}
		}
		t, err := partition.ParseBinary(b, partition.Options{Offset: s.opts.TableOffset, NoVerify: true})
		if err == nil && len(t.Partitions) == 0 {
			err = partition.ErrNoEndMarker
		}
		if err != nil {
			if on, ferr := dev.FlashEncryption(); ferr == nil && on {
				return refuse(fmt.Errorf("the partition table at 0x%X cannot be read: flash encryption is on, so it is stored encrypted; give the table (the build's partitions.csv or partition-table.bin)", s.opts.TableOffset))
			}
			return refuse(fmt.Errorf("no usable partition table at 0x%X (%v); flash the firmware first, or give the table", s.opts.TableOffset, err))
		}
		tbl = t
	}
	part, err := tbl.Lookup(s.opts.Partition)
	if err != nil {
		return refuse(err)
	}
	if part.Type != partition.TypeData || part.SubType != partition.SubtypeNVS {
		return refuse(fmt.Errorf("partition %q is %s/%s, not data/nvs", part.Name, partition.TypeName(part.Type), partition.SubtypeName(part.Type, part.SubType)))
	}
	enc := s.opts.Mfg.Encryption
	var keysPart *partition.Partition
	if enc != nil && (enc.KeyGen || enc.HMACKeyGen) {
		keysPart, err = s.keysPartition(tbl)
		if err != nil {
			return refuse(err)
		}
	}
	fe, err := dev.FlashEncryption()
	if err != nil && chip != "ESP32" {
		fe = false // chips that do not report it; the ESP32 always can
	} else if err != nil {
		return outcome{err: err, retry: true}
	}
	if fe && keysPart != nil {
		// The keys go through the chip's flash encryption (the ROM's encrypted write), as the
		// firmware reads them; a chip whose ROM cannot (the ESP32, release mode) is refused.
		if ok, why := dev.CanWriteEncrypted(); !ok {
			return refuse(fmt.Errorf("%w: %s", ErrEncryptedKeys, why))
		}
		if !keysPart.Encrypted() {
			return refuse(fmt.Errorf("partition %q is not flagged encrypted: with flash encryption on the firmware reads it as stored, and the keys written through flash encryption would be unreadable; add \"encrypted\" to its row in the partition table", keysPart.Name))
		}
	}
	if fe && part.Encrypted() {
		return refuse(fmt.Errorf("partition %q is flagged encrypted and flash encryption is on; NVS partitions are not flash-encrypted", part.Name))
	}
	if ctx.Err() != nil {
		return outcome{err: ctx.Err(), retry: true}
	}

	// Claim: from here on the device is finished whatever happens to ctx.
	lctx := context.WithoutCancel(ctx)
	id, err := s.opts.Ledger.Claim(lctx, ledger.ClaimRequest{MAC: mac, Chip: chip, Station: s.opts.Station, Port: p.name})
	if errors.Is(err, ledger.ErrExhausted) {
		if !p.exhausted {
			e := ev(KindExhausted)
			e.Error = err.Error()
			s.emit(e)
		}
		p.exhausted = true
		return outcome{err: err, exhausted: true}
	}
	p.exhausted = false
	if err != nil {
		e := ev(KindError)
		e.Error = "claiming an identity: " + err.Error()
		s.emit(e)
		return outcome{err: err, retry: true}
	}
	ce := ev(KindClaimed)
	ce.ID, ce.Attempt = id.ID, id.Attempts
	s.emit(ce)

	if id.State == ledger.Provisioned && id.ImageMD5 != "" {
		// A chip provisioned before (the station stopped before resetting it, or it was put
		// back): check that it holds what was recorded.
		sum, err := dev.FlashMD5(part.Offset, int(part.Size))
		if err == nil && hex.EncodeToString(sum[:]) == id.ImageMD5 {
			if nerr := s.opts.Ledger.Note(lctx, ledger.Event{Kind: "verified", Identity: id.ID, MAC: mac, Station: s.opts.Station,
				Port: p.name, Detail: "already provisioned; flash MD5 matches the record"}); nerr != nil {
				return outcome{id: id.ID, err: nerr, retry: true}
			}
			pe := ev(KindProvisioned)
			pe.ID, pe.Already, pe.Attempt = id.ID, true, id.Attempts
			pe.ImageSHA256, pe.CertSHA256, pe.CertSerial, pe.KeysSHA256 = id.ImageSHA256, id.CertSHA256, id.CertSerial, id.KeysSHA256
			pe.Seconds = time.Since(start).Seconds()
			s.emit(pe)
			return outcome{id: id.ID}
		}
		if err != nil {
			return outcome{id: id.ID, err: err, retry: true}
		}
		// The flash no longer holds the image: provision it again with the same identity.
	}

	res := ledger.Result{ID: id.ID, MAC: mac, Station: s.opts.Station, Port: p.name}
	werr := p.provision(dev, id, part, keysPart, fe, &res)
	res.OK = werr == nil
	if werr != nil {
		res.Error = werr.Error()
	}
	if err := s.opts.Ledger.Record(lctx, res); err != nil {
		// Not recorded: the identity stays claimed by this chip, which is done again.
		e := ev(KindError)
		e.ID, e.Error = id.ID, "recording the result: "+err.Error()
		s.emit(e)
		return outcome{id: id.ID, err: err, retry: true}
	}
	if werr != nil {
		e := ev(KindFailed)
		e.ID, e.Attempt, e.Error = id.ID, id.Attempts, werr.Error()
		s.emit(e)
		return outcome{id: id.ID, err: werr}
	}
	pe := ev(KindProvisioned)
	pe.ID, pe.Attempt = id.ID, id.Attempts
	pe.ImageSHA256, pe.CertSHA256, pe.CertSerial, pe.KeysSHA256 = res.ImageSHA256, res.CertSHA256, res.CertSerial, res.KeysSHA256
	pe.Seconds = time.Since(start).Seconds()
	s.emit(pe)
	return outcome{id: id.ID}
}

func (s *Station) keysPartition(tbl *partition.Table) (*partition.Partition, error) {
	if s.opts.KeysPartition != "" {
		p, err := tbl.Lookup(s.opts.KeysPartition)
		if err != nil {
			return nil, err
		}
		if p.Type != partition.TypeData || p.SubType != partition.SubtypeNVSKeys {
			return nil, fmt.Errorf("partition %q is not data/nvs_keys", p.Name)
		}
		return p, nil
	}
	for i := range tbl.Partitions {
		p := &tbl.Partitions[i]
		if p.Type == partition.TypeData && p.SubType == partition.SubtypeNVSKeys {
			return p, nil
		}
	}
	return nil, errors.New("keys are made per device but the partition table has no data/nvs_keys partition")
}

// provision builds the identity's image and writes and verifies it (and the keys).
func (p *portState) provision(dev Device, id *ledger.Identity, part, keysPart *partition.Partition, fe bool, res *ledger.Result) error {
	s := p.s
	size := int(part.Size)
	g, err := s.generator(size)
	if err != nil {
		return fmt.Errorf("partition %q: %w", part.Name, err)
	}
	if p.builders == nil {
		p.builders = map[int]*mfg.DeviceBuilder{}
	}
	b := p.builders[size]
	if b == nil {
		b = g.NewDeviceBuilder("ledger")
		p.builders[size] = b
	}
	row, err := s.opts.Config.DeviceFrom(id.ID, id.Row.Get)
	if err != nil {
		return err
	}
	d, err := b.Build(row)
	if err != nil {
		return fmt.Errorf("building the image: %w", err)
	}
	res.ImageSHA256 = hex.EncodeToString(d.SHA256[:])
	sum := md5.Sum(d.Image)
	res.ImageMD5 = hex.EncodeToString(sum[:])
	if d.Cert != nil {
		fp := sha256.Sum256(d.Cert)
		res.CertSHA256 = hex.EncodeToString(fp[:])
		if c, err := x509.ParseCertificate(d.Cert); err == nil {
			res.CertSerial = c.SerialNumber.Text(16)
		}
	}
	if enc := s.opts.Mfg.Encryption; enc != nil {
		kp := d.KeysPartition
		if kp == nil && enc.Keys != nil {
			kp = enc.Keys.MarshalPartition()
		}
		if kp != nil {
			fp := sha256.Sum256(kp)
			res.KeysSHA256 = hex.EncodeToString(fp[:])
		}
	}
	if len(d.Image) > size {
		return fmt.Errorf("the image (%d bytes) is larger than partition %q", len(d.Image), part.Name)
	}
	if keysPart != nil && d.KeysPartition != nil {
		if len(d.KeysPartition) > int(keysPart.Size) {
			return fmt.Errorf("the keys (%d bytes) do not fit partition %q", len(d.KeysPartition), keysPart.Name)
		}
		if fe {
			if _, err := dev.WriteFlashEncrypted(keysPart.Offset, d.KeysPartition); err != nil {
				return fmt.Errorf("writing the keys to %q through flash encryption: %w", keysPart.Name, err)
			}
		} else if err := dev.WriteFlash(keysPart.Offset, d.KeysPartition, nil); err != nil {
			return fmt.Errorf("writing the keys to %q: %w", keysPart.Name, err)
		}
	}
	image := append([]byte(nil), d.Image...)
	var lastPct = -1
	err = dev.WriteFlash(part.Offset, image, func(done, total int) {
		if total <= 0 {
			return
		}
		if pct := done * 100 / total; pct/5 != lastPct/5 {
			lastPct = pct
			s.emit(Event{Port: p.name, Kind: KindWriting, Chip: dev.Chip(), MAC: id.MAC, ID: id.ID, Done: done, Total: total})
		}
	})
	if err != nil {
		return fmt.Errorf("writing partition %q: %w", part.Name, err)
	}
	return nil
}
