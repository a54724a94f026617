package station_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/flashcrypt"
	"github.com/nvskit/nvskit/ledger"
	"github.com/nvskit/nvskit/mfg"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/nvscsv"
	"github.com/nvskit/nvskit/station"
)

type line struct {
	l      ledger.Ledger
	cfg    *nvscsv.MfgConfig
	issuer *mfg.Issuer
	mu     sync.Mutex
	events []station.Event
}

func newLine(t testing.TB, n int) *line {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	l, err := ledger.OpenForInit(ctx, filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, err := l.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(ctx, identities(n), "test"); err != nil {
		t.Fatal(err)
	}
	cfg, err := nvscsv.ParseMfgConfig("config.csv", strings.NewReader(configCSV))
	if err != nil {
		t.Fatal(err)
	}
	_, _, is := writeCA(t, dir)
	return &line{l: l, cfg: cfg, issuer: is}
}

func identities(n int) []ledger.NewIdentity {
	ids := make([]ledger.NewIdentity, n)
	for i := range ids {
		s := fmt.Sprintf("SN%06d", i+1)
		ids[i] = ledger.NewIdentity{ID: s, Row: ledger.Row{{Key: "serial", Value: s}, {Key: "model", Value: "M1"}, {Key: "note", Value: "n"}}}
	}
	return ids
}

func (ln *line) run(t *testing.T, opts station.Options, jigs ...*jig) error {
	t.Helper()
	opts.Ledger, opts.Config, opts.Partition, opts.Station, opts.Once = ln.l, ln.cfg, "fctry", "test", true
	if opts.Chip == "" {
		opts.Chip = "esp32s3"
	}
	if opts.Mfg.Issuer == nil {
		opts.Mfg.Issuer = ln.issuer
	}
	opts.Poll = 10 * time.Millisecond
	opts.Connect = station.DialLoader(station.LoaderOptions{})
	for _, j := range jigs {
		opts.Ports = append(opts.Ports, j.port())
	}
	opts.Events = func(e station.Event) {
		ln.mu.Lock()
		ln.events = append(ln.events, e)
		ln.mu.Unlock()
	}
	s, err := station.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return s.Run(ctx)
}

// checkDevice checks that the flash holds the image the ledger records for its MAC, with the
// identity's serial and a certificate for it whose fingerprint the ledger has.
func checkDevice(t *testing.T, l ledger.Ledger, flash []byte, mac string, keys *nvs.Keys) *ledger.Identity {
	return checkPart(t, l, flash[fctryOff:fctryOff+fctrySize], mac, keys)
}

// checkPart is checkDevice on the fctry partition's bytes.
func checkPart(t *testing.T, l ledger.Ledger, part []byte, mac string, keys *nvs.Keys) *ledger.Identity {
	t.Helper()
	id, err := l.Get(context.Background(), mac)
	if err != nil {
		t.Fatalf("%s: %v", mac, err)
	}
	if id.State != ledger.Provisioned || !id.Verified {
		t.Fatalf("%s: %s is %s (verified %v): %s", mac, id.ID, id.State, id.Verified, id.Error)
	}
	if sum := sha256.Sum256(part); hex.EncodeToString(sum[:]) != id.ImageSHA256 {
		t.Fatalf("%s: the flash's image is not the one the ledger records for %s", mac, id.ID)
	}
	var im *nvs.Image
	if keys != nil {
		im, err = nvs.ParseWithKeys(part, *keys)
	} else {
		im, err = nvs.Parse(part)
	}
	if err != nil {
		t.Fatal(err)
	}
	if r := im.Get("certs", "serial"); r == nil || str(r) != id.ID {
		t.Fatalf("%s: serial in flash = %v, want %s", mac, r, id.ID)
	}
	r := im.Get("certs", "device_cert")
	if r == nil {
		t.Fatalf("%s: no device_cert", mac)
	}
	blk, _ := pem.Decode([]byte(str(r)))
	if blk == nil {
		t.Fatalf("%s: device_cert is not PEM", mac)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	fp := sha256.Sum256(blk.Bytes)
	if c.Subject.CommonName != id.ID || hex.EncodeToString(fp[:]) != id.CertSHA256 || c.SerialNumber.Text(16) != id.CertSerial {
		t.Fatalf("%s: certificate CN %q fingerprint %x serial %s; ledger %s %s %s", mac, c.Subject.CommonName, fp, c.SerialNumber.Text(16),
			id.ID, id.CertSHA256, id.CertSerial)
	}
	return id
}

func TestProvisionOnePerPort(t *testing.T) {
	ln := newLine(t, 5)
	tbl := table(t, false)
	a, b := newDevice(t, "esp32s3", "02:00:00:00:00:01", tbl, false), newDevice(t, "esp32s3", "02:00:00:00:00:02", tbl, false)
	if err := ln.run(t, station.Options{}, newJig(t, a), newJig(t, b)); err != nil {
		t.Fatal(err)
	}
	ia := checkDevice(t, ln.l, a.sim.Flash(), a.mac, nil)
	ib := checkDevice(t, ln.l, b.sim.Flash(), b.mac, nil)
	if ia.ID == ib.ID {
		t.Fatalf("both devices got %s", ia.ID)
	}
	st, _ := ln.l.Status(context.Background(), time.Now().Add(-time.Hour))
	if st.ByState[ledger.Provisioned] != 2 || st.ByState[ledger.Available] != 3 {
		t.Fatalf("status %+v", st.ByState)
	}
}

func TestWrongChipRefusedBeforeWriting(t *testing.T) {
	ln := newLine(t, 2)
	d := newDevice(t, "esp32c3", "02:00:00:00:00:03", table(t, false), false)
	before := d.sim.Flash()
	err := ln.run(t, station.Options{Chip: "esp32s3"}, newJig(t, d))
	if !errors.Is(err, station.ErrWrongChip) {
		t.Fatalf("Run = %v, want ErrWrongChip", err)
	}
	if !bytes.Equal(before, d.sim.Flash()) {
		t.Fatal("the flash of a refused device changed")
	}
	if _, err := ln.l.Get(context.Background(), d.mac); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("a refused device has an identity: %v", err)
	}
	evs, _ := ln.l.Events(context.Background(), "")
	if last := evs[len(evs)-1]; last.Kind != "refused" || last.MAC != d.mac {
		t.Fatalf("last event %+v, want the refusal", last)
	}
}

// TestSameChipGetsItsIdentityBack: a chip put back on a jig is verified, not provisioned
// again; one whose flash lost the image gets it again with the same identity.
func TestSameChipGetsItsIdentityBack(t *testing.T) {
	ln := newLine(t, 3)
	d := newDevice(t, "esp32s3", "02:00:00:00:00:04", table(t, false), false)
	if err := ln.run(t, station.Options{}, newJig(t, d)); err != nil {
		t.Fatal(err)
	}
	first := checkDevice(t, ln.l, d.sim.Flash(), d.mac, nil)
	before := d.sim.Flash()
	if err := ln.run(t, station.Options{}, newJig(t, d)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, d.sim.Flash()) {
		t.Fatal("a provisioned chip was written again")
	}
	last := ln.events[len(ln.events)-2]
	if last.Kind != station.KindProvisioned || !last.Already || last.ID != first.ID {
		t.Fatalf("second run's event %+v, want already provisioned %s", last, first.ID)
	}
	d.sim.SetFlash(fctryOff, bytes.Repeat([]byte{0xFF}, fctrySize))
	if err := ln.run(t, station.Options{}, newJig(t, d)); err != nil {
		t.Fatal(err)
	}
	again := checkDevice(t, ln.l, d.sim.Flash(), d.mac, nil)
	if again.ID != first.ID || again.CertSHA256 == first.CertSHA256 || again.Attempts != 3 {
		t.Fatalf("re-provisioned as %s (cert %s, attempts %d); first %s (cert %s)", again.ID, again.CertSHA256, again.Attempts, first.ID, first.CertSHA256)
	}
}

// TestFailedWriteKeepsTheIdentity: a write that fails records the failure; the same chip
// then gets the same identity.
func TestFailedWriteKeepsTheIdentity(t *testing.T) {
	ln := newLine(t, 3)
	tbl := table(t, false)
	d := newDevice(t, "esp32s3", "02:00:00:00:00:05", tbl, false)
	bad, err := loadersim.New(loadersim.Config{Chip: "esp32s3", FlashSize: flashSize, MAC: mustMAC(d.mac), NoBanner: true,
		Faults: []loadersim.Fault{{Kind: loadersim.Disconnect, Cmd: 0x11, Nth: 1}, {Kind: loadersim.Disconnect, Cmd: 0x03, Nth: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	bad.SetFlash(0x8000, tbl)
	d.sim = bad
	if err := ln.run(t, station.Options{}, newJig(t, d)); err == nil {
		t.Fatal("a disconnected write succeeded")
	}
	id, err := ln.l.Get(context.Background(), d.mac)
	if err != nil || id.State != ledger.Failed || id.Error == "" {
		t.Fatalf("after the failure: %+v, %v", id, err)
	}
	good := newDevice(t, "esp32s3", d.mac, tbl, false)
	good.sim.SetFlash(0, bad.Flash())
	if err := ln.run(t, station.Options{}, newJig(t, good)); err != nil {
		t.Fatal(err)
	}
	if again := checkDevice(t, ln.l, good.sim.Flash(), d.mac, nil); again.ID != id.ID {
		t.Fatalf("the chip got %s, then %s", id.ID, again.ID)
	}
}

func TestKeygen(t *testing.T) {
	ln := newLine(t, 4)
	tbl := table(t, true)
	opts := station.Options{Mfg: mfg.Options{Encryption: &mfg.Encryption{KeyGen: true}}}

	// Flash encryption off: the keys are written plain (the bootloader encrypts nvs_keys
	// when it turns flash encryption on at first boot).
	d := newDevice(t, "esp32s3", "02:00:00:00:00:07", tbl, false)
	if err := ln.run(t, opts, newJig(t, d)); err != nil {
		t.Fatal(err)
	}
	flash := d.sim.Flash()
	kp := flash[keysOff : keysOff+0x1000]
	keys, err := nvs.ParseKeysPartition(kp)
	if err != nil {
		t.Fatal(err)
	}
	id := checkDevice(t, ln.l, flash, d.mac, &keys)
	if fp := sha256.Sum256(kp); hex.EncodeToString(fp[:]) != id.KeysSHA256 {
		t.Fatal("keys fingerprint differs from the keys written")
	}

	// Flash encryption on: the keys go through the chip's flash encryption (the ROM's
	// encrypted write), the NVS image stays plain.
	fe := newDevice(t, "esp32s3", "02:00:00:00:00:06", tbl, true)
	if err := ln.run(t, opts, newJig(t, fe)); err != nil {
		t.Fatal(err)
	}
	flash = fe.sim.Flash()
	ct := flash[keysOff : keysOff+0x1000]
	if _, err := nvs.ParseKeysPartition(ct); err == nil {
		t.Fatal("the keys are stored plain on a chip with flash encryption on")
	}
	plain, err := flashcrypt.Decrypt(flashcrypt.SchemeForChip("ESP32-S3"), fe.sim.FlashKey(), keysOff, ct)
	if err != nil {
		t.Fatal(err)
	}
	keys, err = nvs.ParseKeysPartition(plain)
	if err != nil {
		t.Fatalf("the keys partition does not decrypt with the chip's key: %v", err)
	}
	checkDevice(t, ln.l, flash, fe.mac, &keys)

	// A chip whose ROM cannot write encrypted (the ESP32's) is refused before anything is
	// written, and takes no identity.
	for _, chip := range []string{"esp32"} {
		r := newDevice(t, chip, "02:00:00:00:00:08", tbl, true)
		before := r.sim.Flash()
		if err := ln.run(t, station.Options{Chip: chip, Mfg: opts.Mfg}, newJig(t, r)); !errors.Is(err, station.ErrEncryptedKeys) {
			t.Fatalf("%s with flash encryption on: %v", chip, err)
		}
		if !bytes.Equal(before, r.sim.Flash()) {
			t.Fatal("a refused device was written")
		}
		if _, err := ln.l.Get(context.Background(), r.mac); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("a refused device has an identity: %v", err)
		}
	}
}

func str(r *nvs.Record) string { return strings.TrimRight(string(r.Data), "\x00") }

func mustMAC(s string) []byte {
	hw, err := ledger.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	b, _ := hex.DecodeString(strings.ReplaceAll(hw, ":", ""))
	return b
}

// TestExhaustedWaitsForIdentities: with no identity left the device waits on its jig, and is
// provisioned once identities are added.
func TestExhaustedWaitsForIdentities(t *testing.T) {
	ln := newLine(t, 1)
	tbl := table(t, false)
	a := newDevice(t, "esp32s3", "02:00:00:00:01:01", tbl, false)
	if err := ln.run(t, station.Options{}, newJig(t, a)); err != nil {
		t.Fatal(err)
	}
	b := newDevice(t, "esp32s3", "02:00:00:00:01:02", tbl, false)
	if err := ln.run(t, station.Options{}, newJig(t, b)); !errors.Is(err, ledger.ErrExhausted) {
		t.Fatalf("--once with no identity left: %v", err)
	}
	// Without Once the station keeps trying; the identity added meanwhile is claimed.
	j := newJig(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := station.New(station.Options{Ledger: ln.l, Config: ln.cfg, Partition: "fctry", Chip: "esp32s3", Station: "t",
		Ports: []string{j.port()}, Poll: 10 * time.Millisecond, Mfg: mfg.Options{Issuer: ln.issuer},
		Connect: station.DialLoader(station.LoaderOptions{}),
		Events: func(e station.Event) {
			if e.Kind == station.KindDone {
				cancel()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() { s.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	time.Sleep(100 * time.Millisecond)
	if err := ln.l.Add(context.Background(), []ledger.NewIdentity{{ID: "SN999", Row: ledger.Row{{Key: "serial", Value: "SN999"}, {Key: "model", Value: "M"}}}}, ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if id, err := ln.l.Get(context.Background(), b.mac); err == nil && id.State == ledger.Provisioned {
			if id.ID != "SN999" {
				t.Fatalf("got %s", id.ID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiting device was not provisioned after identities were added")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
