package station_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/mfg"
	"github.com/nvskit/nvskit/partition"
)

// The simulated devices' flash: 128 KiB with a table whose NVS partition fctry is small, so
// that thousands of devices are cheap.
const (
	flashSize  = 128 << 10
	fctryOff   = 0xD000
	fctrySize  = 0x3000
	keysOff    = 0x10000
	configCSV  = "certs,namespace,\nserial,data,string\nmodel,data,string,REPEAT\ndevice_cert,x509_cert,string\ndevice_key,x509_key,string\n"
	valuesHead = "serial,model,note\n"
)

func table(t testing.TB, keys bool) []byte {
	t.Helper()
	tb := &partition.Table{Offset: partition.DefaultOffset, Partitions: []partition.Partition{
		{Name: "nvs", Type: partition.TypeData, SubType: partition.SubtypeNVS, Offset: 0x9000, Size: 0x4000},
		{Name: "fctry", Type: partition.TypeData, SubType: partition.SubtypeNVS, Offset: fctryOff, Size: fctrySize},
		{Name: "factory", Type: partition.TypeApp, SubType: partition.SubtypeFactory, Offset: 0x11000, Size: 0xF000},
	}}
	if keys {
		tb.Partitions = append(tb.Partitions[:2], append([]partition.Partition{
			{Name: "nvs_keys", Type: partition.TypeData, SubType: partition.SubtypeNVSKeys, Offset: keysOff, Size: 0x1000, Flags: partition.FlagEncrypted},
		}, tb.Partitions[2:]...)...)
		tb.Partitions[3].Offset, tb.Partitions[3].Size = 0x11000, 0xF000
	}
	b, err := tb.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// device is one simulated chip.
type device struct {
	mac   string
	sim   *loadersim.Sim
	leave bool   // the station is done with it: the operator takes it off the jig
	part  []byte // its fctry partition once it left the jig
	// make, if not nil, makes the simulator when the device is put on the jig.
	make func() *loadersim.Sim
}

func newDevice(t testing.TB, chip, mac string, tbl []byte, fe bool) *device {
	t.Helper()
	d := lazyDevice(t, chip, mac, tbl, fe)
	d.sim, d.make = d.make(), nil
	return d
}

// lazyDevice is a device whose simulator is made when it is put on a jig.
func lazyDevice(t testing.TB, chip, mac string, tbl []byte, fe bool) *device {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	return &device{mac: hw.String(), make: func() *loadersim.Sim {
		sim, err := loadersim.New(loadersim.Config{Chip: chip, FlashSize: flashSize, MAC: hw, NoBanner: true, FlashEncryption: fe})
		if err != nil {
			panic(err)
		}
		sim.SetFlash(partition.DefaultOffset, tbl)
		return sim
	}}
}

// jig is one port: a TCP listener that serves the device on it, and takes the next device
// from its queue once the station is done with the current one (as an operator would).
type jig struct {
	ln    net.Listener
	mu    sync.Mutex
	queue []*device
	cur   *device
	gone  []*device
	wg    sync.WaitGroup
}

func newJig(t testing.TB, devs ...*device) *jig {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	j := &jig{ln: ln, queue: devs}
	j.wg.Add(1)
	go j.serve()
	t.Cleanup(j.close)
	return j
}

func (j *jig) port() string { return "socket://" + j.ln.Addr().String() }

func (j *jig) serve() {
	defer j.wg.Done()
	for {
		c, err := j.ln.Accept()
		if err != nil {
			return
		}
		j.mu.Lock()
		j.rotate()
		d := j.cur
		j.mu.Unlock()
		if d == nil {
			c.Close() // an empty jig: nothing answers
			continue
		}
		d.sim.Serve(c)
		j.mu.Lock()
		j.rotate()
		j.mu.Unlock()
	}
}

// rotate takes a finished device off the jig and puts the next one on.
func (j *jig) rotate() {
	if j.cur != nil && j.cur.leave {
		j.cur.part = j.cur.sim.Flash()[fctryOff : fctryOff+fctrySize]
		j.cur.sim = nil
		j.gone = append(j.gone, j.cur)
		j.cur = nil
	}
	if j.cur == nil && len(j.queue) > 0 {
		j.cur, j.queue = j.queue[0], j.queue[1:]
		if j.cur.sim == nil && j.cur.make != nil {
			j.cur.sim = j.cur.make()
		}
	}
}

// finished marks the device with mac done (the station reported it).
func (j *jig) finished(mac string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cur != nil && j.cur.mac == mac {
		j.cur.leave = true
	}
}

// idle reports whether every device has left the jig.
func (j *jig) idle() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.queue) == 0 && (j.cur == nil || j.cur.leave)
}

func (j *jig) close() {
	j.ln.Close()
	j.wg.Wait()
}

// writeCA writes a CA certificate and key into dir.
func writeCA(t testing.TB, dir string) (certPath, keyPath string, is *mfg.Issuer) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "test line CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	certPath, keyPath = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	os.WriteFile(certPath, mfg.CertPEM(der), 0o644)
	os.WriteFile(keyPath, mfg.KeyPEM(kd), 0o600)
	is, err = mfg.NewIssuer(mfg.CertPEM(der), mfg.KeyPEM(kd), mfg.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath, is
}
