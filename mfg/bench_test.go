package mfg

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/nvscsv"
)

// seedLayout is the benchmark layout: the golden seed_certs files (config, device cert, device
// key, root CA) plus a serial number, in 0x6000 partitions.
const seedConfig = `certs,namespace,
serial,data,string
config,file,string,REPEAT
device_cert,file,string
device_key,file,string
root_ca,file,string,REPEAT
`

// seedFiles returns the seed layout's files by the names the values use.
func seedFiles(tb testing.TB) map[string][]byte {
	dir := filepath.Join(golden.Root(), "nvs-gen", "seed_certs_0x6000", "files")
	files := map[string][]byte{}
	for _, n := range []string{"config.json", "device_cert.pem", "device_key.pem", "root_ca.pem"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			tb.Fatal(err)
		}
		files["files/"+n] = b
	}
	return files
}

// seedValues returns a VALUES.csv for n devices of the seed layout.
func seedValues(n int) []byte {
	var b bytes.Buffer
	b.WriteString("id,serial,config,device_cert,device_key,root_ca\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d,SN-%07d,files/config.json,files/device_cert.pem,files/device_key.pem,files/root_ca.pem\n", i, i)
	}
	return b.Bytes()
}

func BenchmarkMfg(b *testing.B) {
	files := seedFiles(b)
	read := func(name string, _ int64) ([]byte, error) {
		if d, ok := files[name]; ok {
			return d, nil
		}
		return nil, os.ErrNotExist
	}
	cfg, err := nvscsv.ParseMfgConfig("config.csv", strings.NewReader(seedConfig))
	if err != nil {
		b.Fatal(err)
	}
	keys := nvs.Keys{}
	for i := range keys.Data {
		keys.Data[i], keys.Tweak[i] = byte(i), byte(255-i)
	}
	for _, bc := range []struct {
		name string
		enc  *Encryption
	}{
		{"plain", nil},
		{"encrypted", &Encryption{Keys: &keys}},
		{"keygen", &Encryption{KeyGen: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, err := New(cfg, Options{Size: 0x6000, FileID: "serial", ReadFile: read, Encryption: bc.enc, Jobs: benchJobs})
			if err != nil {
				b.Fatal(err)
			}
			values := seedValues(b.N)
			b.SetBytes(0x6000)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			n := 0
			err = g.Run(context.Background(), "values.csv", bytes.NewReader(values), RecordFunc(func(d *Device) error {
				if d.Err != nil {
					return d.Err
				}
				n++
				return nil
			}))
			if err != nil {
				b.Fatal(err)
			}
			if n != b.N {
				b.Fatalf("%d devices, want %d", n, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
			// CPU time per image does not depend on what else runs on the machine; images/s
			// on n idle cores is at most n / cpu-s/image.
			if cpu := cpuTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu.Seconds(), "images/cpu-s")
			}
		})
	}
}

var benchJobs = func() int {
	var n int
	fmt.Sscan(os.Getenv("NVSKIT_BENCH_JOBS"), &n)
	return n
}()

// BenchmarkIssue measures one device certificate: an ECDSA P-256 key pair, signing, and the
// check of the new signature that crypto/x509 always does.
func BenchmarkIssue(b *testing.B) {
	c, k, _ := testCA(b)
	is, err := NewIssuer(c, k, IssuerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := is.Issue("SN-1"); err != nil {
			b.Fatal(err)
		}
	}
}
