package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeCA(t *testing.T, dir string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "ca.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
}

func TestMfgCertificatesCLI(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, dir)
	os.WriteFile(filepath.Join(dir, "config.csv"), []byte("certs,namespace,\nserial,data,string\ndevice_cert,x509_cert,string\ndevice_key,x509_key,string\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "values.csv"), []byte("serial\nA1\nA2\n"), 0o644)
	code, out, errs := runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "d", "0x4000", "--outdir", "out",
		"--fileid", "serial", "--ca-cert", "ca.pem", "--ca-key", "ca.key", "--subject-o", "Acme", "--cert-days", "365",
		"--export-keys", "export")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	got := strings.Join(listFiles(t, dir), " ")
	for _, f := range []string{"out/bin/d-A1.bin", "out/certs/d-A1.cert.pem", "export/d-A1.key.pem", "export/d-A2.cert.pem"} {
		if !strings.Contains(got, f) {
			t.Errorf("%s missing in %s", f, got)
		}
	}
	if e := strings.Join(listFiles(t, filepath.Join(dir, "export")), " "); e != "d-A1.cert.pem d-A1.key.pem d-A2.cert.pem d-A2.key.pem" {
		t.Errorf("export/ holds %s", e)
	}
	for _, f := range listFiles(t, filepath.Join(dir, "out")) {
		if strings.Contains(f, "key") {
			t.Errorf("a key file in the output directory: %s", f)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "export", "d-A2.key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("exported key: %v %v", st.Mode(), err)
	}
	// Without --export-keys, no private key leaves the image.
	os.RemoveAll(filepath.Join(dir, "out"))
	code, _, errs = runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "d", "0x4000", "--outdir", "out",
		"--fileid", "serial", "--ca-cert", "ca.pem", "--ca-key", "ca.key")
	if code != 0 {
		t.Fatal(errs)
	}
	for _, f := range listFiles(t, dir) {
		if strings.HasSuffix(f, ".key.pem") && !strings.HasPrefix(f, "export/") {
			t.Errorf("private key on disk: %s", f)
		}
	}
	// x509 rows need a CA.
	if code, _, errs := runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "d", "0x4000", "--outdir", "out2"); code != 2 || !strings.Contains(errs, "--ca-cert") {
		t.Errorf("x509 rows without a CA: exit %d %s", code, errs)
	}
}
