package mfg

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nvskit/nvskit/nvscsv"
)

// TestMillionDevices streams a generated VALUES.csv of a million devices of the seed layout
// (0x6000, encrypted: nothing is written to disk) and checks that memory stays under 100 MiB.
// It takes about a minute on two cores, so it runs only with NVSKIT_MILLION=1 (and never with
// -short). NVSKIT_MILLION=N runs N devices instead.
func TestMillionDevices(t *testing.T) {
	n := 0
	fmt.Sscan(os.Getenv("NVSKIT_MILLION"), &n)
	if testing.Short() || n == 0 {
		t.Skip("set NVSKIT_MILLION=1 (or a device count) to run")
	}
	if n == 1 {
		n = 1_000_000
	}
	files := seedFiles(t)
	read := func(name string, _ int64) ([]byte, error) {
		if d, ok := files[name]; ok {
			return d, nil
		}
		return nil, os.ErrNotExist
	}
	cfg, err := nvscsv.ParseMfgConfig("config.csv", strings.NewReader(seedConfig))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{Size: 0x6000, FileID: "serial", ReadFile: read, Encryption: &Encryption{KeyGen: true}})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<20)
		w.WriteString("id,serial,config,device_cert,device_key,root_ca\n")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "%d,SN-%08d,files/config.json,files/device_cert.pem,files/device_key.pem,files/root_ca.pem\n", i, i)
		}
		w.Flush()
		pw.Close()
	}()
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(samplePeriod):
			}
			runtime.ReadMemStats(&ms)
			if v := ms.Sys - ms.HeapReleased; v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	start := time.Now()
	count := 0
	err = g.Run(context.Background(), "values.csv", pr, RecordFunc(func(d *Device) error {
		if d.Err != nil {
			return d.Err
		}
		count++
		return nil
	}))
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("%d devices, want %d", count, n)
	}
	el := time.Since(start)
	t.Logf("%d devices in %v (%.0f images/s), peak memory from the Go runtime %.1f MiB",
		n, el.Round(time.Millisecond), float64(n)/el.Seconds(), float64(peak.Load())/(1<<20))
	if peak.Load() > 100<<20 {
		t.Errorf("peak memory %.1f MiB, want < 100 MiB", float64(peak.Load())/(1<<20))
	}
}

var samplePeriod = func() time.Duration {
	d, err := time.ParseDuration(os.Getenv("NVSKIT_SAMPLE"))
	if err != nil {
		return 100 * time.Millisecond
	}
	return d
}()
