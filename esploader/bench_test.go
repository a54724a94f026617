package esploader

import (
	"crypto/md5"
	"net"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/nvskit/nvskit/esploader/loadersim"
)

// esptoolStream is the zlib stream esptool sends for the golden image in ROM mode:
// zlib.compress(image, 9) from Python's zlib (see docs/flashing.md).
const esptoolStream = "testdata/esptool-zlib9-seed_certs_0x6000.z"

func benchConnect(b *testing.B, baud int) (*Loader, *loadersim.Sim) {
	b.Helper()
	sim, err := loadersim.New(loadersim.Config{Chip: "esp32", FlashSize: 1 << 20, Baud: 115200, NoBanner: true})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go sim.ServeListener(ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); ln.Close() })
	l, err := Connect(c, Options{SyncTimeout: 300 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := l.FlashSize(); err != nil {
		b.Fatal(err)
	}
	if baud != 115200 {
		if err := l.ChangeBaud(baud); err != nil {
			b.Fatal(err)
		}
	}
	return l, sim
}

// BenchmarkFlashSeedCerts writes the seed_certs_0x6000 golden image into loadersim with UART
// emulation, and verifies it by MD5: nvskit's write, and esptool's ROM-mode write of the same
// image (its level-9 zlib stream, its framing: the whole image, 0x400 blocks) on the same
// simulated wire. Metrics: wire-bytes (both directions, write and MD5) and seconds per write.
func BenchmarkFlashSeedCerts(b *testing.B) {
	img, err := os.ReadFile("../testdata/golden/nvs-gen/seed_certs_0x6000/expected.bin")
	if err != nil {
		b.Fatal(err)
	}
	ez, err := os.ReadFile(esptoolStream)
	if err != nil {
		b.Fatal(err)
	}
	for _, baud := range []int{115200, 921600} {
		b.Run("nvskit/baud="+strconv.Itoa(baud), func(b *testing.B) {
			l, _ := benchConnect(b, baud)
			var wire int64
			retries := 0
			var times []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				res, err := l.WriteFlash(0x9000, img, WriteOptions{})
				times = append(times, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				wire = res.WireOut + res.WireIn
				retries += res.Retries
			}
			b.ReportMetric(float64(wire), "wire-bytes")
			b.ReportMetric(float64(retries), "retries")
			b.ReportMetric(median(times), "median-seconds")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "seconds")
		})
		b.Run("esptool/baud="+strconv.Itoa(baud), func(b *testing.B) {
			l, _ := benchConnect(b, baud)
			var wire int64
			want := md5.Sum(img)
			var times []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				o0, i0 := l.WireBytes()
				var res WriteResult
				if err := l.writeOnce(0x9000, len(img), img, ez, &res, nil); err != nil {
					b.Fatal(err)
				}
				sum, err := l.FlashMD5(0x9000, len(img))
				if err != nil || sum != want {
					b.Fatalf("esptool-style write: MD5 %x, %v", sum, err)
				}
				o1, i1 := l.WireBytes()
				wire = o1 - o0 + i1 - i0
				times = append(times, time.Since(t0))
			}
			b.ReportMetric(float64(wire), "wire-bytes")
			b.ReportMetric(median(times), "median-seconds")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "seconds")
		})
	}
}

// median returns the median duration in seconds: on a shared machine the mean follows the
// load; the median follows the wire.
func median(ts []time.Duration) float64 {
	s := append([]time.Duration(nil), ts...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Seconds()
}
