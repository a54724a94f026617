package mfg

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/nvscsv"
)

// captureSink keeps a copy of every image.
type captureSink struct {
	mu      sync.Mutex
	images  map[string][]byte
	devices []*Device
}

func (s *captureSink) Skip(*Device) (bool, error) { return false, nil }
func (s *captureSink) Store(d *Device) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.images == nil {
		s.images = map[string][]byte{}
	}
	s.images[d.ID] = append([]byte(nil), d.Image...)
	return nil
}
func (s *captureSink) Record(d *Device) error {
	s.devices = append(s.devices, d)
	return nil
}

// readValues returns the string and blob values of a plain V2 image by key, as the device
// would read them (strings without their NUL).
func readValues(t *testing.T, img []byte) map[string][]byte {
	t.Helper()
	vals := map[string][]byte{}
	chunks := map[string][]byte{}
	for p := 0; p+nvs.PageSize <= len(img); p += nvs.PageSize {
		if binary.LittleEndian.Uint32(img[p:]) == uint32(nvs.PageEmpty) {
			continue
		}
		bitmap := img[p+nvs.HeaderSize : p+nvs.FirstEntryOff]
		for i := 0; i < nvs.EntriesPerPage; {
			if nvs.BitmapState(bitmap, i) != nvs.EntryWritten {
				i++
				continue
			}
			off := p + nvs.FirstEntryOff + i*nvs.EntrySize
			e := nvs.DecodeEntry(img[off:])
			if nvs.EntryCRC(img[off:off+nvs.EntrySize]) != e.CRC {
				t.Fatalf("entry at 0x%x: bad CRC", off)
			}
			payload := img[off+nvs.EntrySize : off+int(e.Span)*nvs.EntrySize]
			switch e.Type {
			case nvs.TypeString:
				vals[e.KeyString()] = payload[:e.VarSize()-1]
			case nvs.TypeBlobData:
				chunks[e.KeyString()] = append(chunks[e.KeyString()], payload[:e.VarSize()]...)
			case nvs.TypeBlobIndex:
				vals[e.KeyString()] = chunks[e.KeyString()]
			}
			i += int(e.Span)
		}
	}
	return vals
}

// testCA makes a throwaway CA: certificate and key, PEM.
func testCA(t testing.TB) (certPEM, keyPEM []byte, ca *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Fleet CA", Organization: []string{"nvskit tests"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(der)
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), ca
}

func TestCertificates(t *testing.T) {
	caCert, caKey, ca := testCA(t)
	const config = `certs,namespace,
serial,data,string
device_cert,x509_cert,string
device_key,x509_key,string
root_ca,x509_ca,binary
`
	for _, kt := range []KeyType{KeyECDSAP256, KeyRSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			is, err := NewIssuer(caCert, caKey, IssuerOptions{KeyType: kt, Days: 30,
				Subject: pkix.Name{Organization: []string{"Acme"}, Country: []string{"DE"}}})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := nvscsv.ParseMfgConfig("config.csv", strings.NewReader(config))
			if err != nil {
				t.Fatal(err)
			}
			g, err := New(cfg, Options{Size: 0x6000, FileID: "serial", Issuer: is})
			if err != nil {
				t.Fatal(err)
			}
			var sink captureSink
			if err := g.Run(context.Background(), "values.csv", strings.NewReader("serial\nSN-1\nSN-2\n"), &sink); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, id := range []string{"SN-1", "SN-2"} {
				vals := readValues(t, sink.images[id])
				if string(vals["serial"]) != id {
					t.Errorf("serial %q", vals["serial"])
				}
				if !bytes.Equal(vals["root_ca"], ca.Raw) {
					t.Errorf("%s: root_ca is not the CA's DER", id)
				}
				blk, _ := pem.Decode(vals["device_cert"])
				if blk == nil || blk.Type != "CERTIFICATE" {
					t.Fatalf("%s: device_cert is not PEM: %q", id, vals["device_cert"])
				}
				cert, err := x509.ParseCertificate(blk.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				pool := x509.NewCertPool()
				pool.AddCert(ca)
				if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
					t.Errorf("%s: certificate does not chain to the CA: %v", id, err)
				}
				if cert.Subject.CommonName != id || cert.Subject.Organization[0] != "Acme" || cert.Subject.Country[0] != "DE" {
					t.Errorf("%s: subject %v", id, cert.Subject)
				}
				if d := cert.NotAfter.Sub(cert.NotBefore); d < 30*24*time.Hour || d > 31*24*time.Hour {
					t.Errorf("%s: validity %v", id, d)
				}
				kblk, _ := pem.Decode(vals["device_key"])
				if kblk == nil || kblk.Type != "PRIVATE KEY" {
					t.Fatalf("%s: device_key is not a PEM PRIVATE KEY", id)
				}
				key, err := x509.ParsePKCS8PrivateKey(kblk.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				switch k := key.(type) {
				case *ecdsa.PrivateKey:
					if kt != KeyECDSAP256 || !k.PublicKey.Equal(cert.PublicKey) {
						t.Errorf("%s: EC key does not match the certificate", id)
					}
				case *rsa.PrivateKey:
					if kt != KeyRSA2048 || k.N.BitLen() != 2048 || !k.PublicKey.Equal(cert.PublicKey) {
						t.Errorf("%s: RSA key does not match the certificate", id)
					}
				}
				if seen[string(kblk.Bytes)] {
					t.Errorf("%s: key reused", id)
				}
				seen[string(kblk.Bytes)] = true
			}
		})
	}
}

func TestIssuerErrors(t *testing.T) {
	caCert, caKey, _ := testCA(t)
	_, otherKey, _ := testCA(t)
	if _, err := NewIssuer(caCert, otherKey, IssuerOptions{}); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("mismatched key: %v", err)
	}
	if _, err := NewIssuer(caKey, caKey, IssuerOptions{}); err == nil {
		t.Error("a key as certificate was accepted")
	}
	if _, err := NewIssuer(caCert, caKey, IssuerOptions{KeyType: "dsa"}); err == nil {
		t.Error("unknown key type accepted")
	}
	cfg, _ := nvscsv.ParseMfgConfig("config.csv", strings.NewReader("ns,namespace,\nc,x509_cert,string\n"))
	if _, err := New(cfg, Options{Size: 0x3000}); !errors.Is(err, ErrNoIssuer) {
		t.Errorf("x509 row without issuer: %v", err)
	}
}

// TestMatchesGenerate checks the generator against the generate CSV rules for every encoding,
// including those mfg_gen.py refuses (i16, u64, i64) and the fill encodings.
func TestMatchesGenerate(t *testing.T) {
	const config = `ns,namespace,
a,data,u8
b,data,i8
c,data,u16
d,data,i16
e,data,u32
f,data,i32
g,data,u64
h,data,i64
s,data,string
x,data,hex2bin
y,data,base64
z,data,binary
f1,data,blob_fill(8;0xAA)
f2,data,blob_sz_fill(8;0x00)
sta.ssid,data,string
`
	values := "a,b,c,d,e,f,g,h,s,x,y,z,f1,f2,sta.ssid\n" +
		"255,-128,65535,-32768,4294967295,-2147483648,18446744073709551615,-9223372036854775808,hello,00ff,aGk=,raw,ab,cd,home\n"
	csvText := "key,type,encoding,value\nns,namespace,,\n"
	hdr := strings.Split(strings.TrimSpace(strings.SplitN(values, "\n", 2)[0]), ",")
	vals := strings.Split(strings.TrimSpace(strings.SplitN(values, "\n", 2)[1]), ",")
	encs := strings.Split(strings.TrimSpace(config), "\n")[1:]
	for i := range hdr {
		csvText += hdr[i] + ",data," + strings.Split(encs[i], ",")[2] + "," + vals[i] + "\n"
	}
	rows, _, err := nvscsv.ParseFile("x.csv", strings.NewReader(csvText), nvscsv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var items []nvs.Item
	for _, r := range rows {
		items = append(items, r.Item)
	}
	want, err := nvs.Build(items, nvs.Options{Size: 0x3000})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := nvscsv.ParseMfgConfig("config.csv", strings.NewReader(config))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{Size: 0x3000})
	if err != nil {
		t.Fatal(err)
	}
	var sink captureSink
	if err := g.Run(context.Background(), "values.csv", strings.NewReader(values), &sink); err != nil {
		t.Fatal(err)
	}
	if sink.devices[0].Err != nil {
		t.Fatal(sink.devices[0].Err)
	}
	if !bytes.Equal(sink.images["1"], want) {
		t.Error("mfg image differs from generate's")
	}
	if sink.devices[0].SHA256 != sha256.Sum256(want) {
		t.Error("SHA256 is not the image's")
	}
}

func TestRunOrderAndErrors(t *testing.T) {
	cfg, _ := nvscsv.ParseMfgConfig("config.csv", strings.NewReader("ns,namespace,\nn,data,u32\n"))
	var b strings.Builder
	b.WriteString("n\n")
	for i := 1; i <= 500; i++ {
		if i == 250 {
			b.WriteString("x\n")
			continue
		}
		b.WriteString(strings.Repeat("1", 1+i%5) + "\n")
	}
	g, err := New(cfg, Options{Size: 0x3000, Jobs: 4})
	if err != nil {
		t.Fatal(err)
	}
	var sink captureSink
	if err := g.Run(context.Background(), "values.csv", strings.NewReader(b.String()), &sink); err != nil {
		t.Fatal(err)
	}
	if len(sink.devices) != 500 {
		t.Fatalf("%d devices", len(sink.devices))
	}
	for i, d := range sink.devices {
		if d.Row != i+1 {
			t.Fatalf("device %d recorded at position %d", d.Row, i+1)
		}
		if (d.Err != nil) != (i+1 == 250) {
			t.Errorf("device %d: err %v", d.Row, d.Err)
		}
	}
	var re *RowError
	if err := sink.devices[249].Err; !errors.As(err, &re) || re.Line != 251 || re.Column != 1 || re.Key != "n" {
		t.Errorf("error %#v", err)
	}
	// A record error stops the run.
	stop := errors.New("stop")
	n := 0
	err = g.Run(context.Background(), "values.csv", strings.NewReader(b.String()), RecordFunc(func(d *Device) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	}))
	if !errors.Is(err, stop) || n != 10 {
		t.Errorf("err %v after %d devices", err, n)
	}
}
