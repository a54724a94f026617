package esploader

import (
	"bytes"
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

func benchConnect(b *testing.B, chip string, baud int) (*Loader, *loadersim.Sim) {
	b.Helper()
	sim, err := loadersim.New(loadersim.Config{Chip: chip, FlashSize: 1 << 20, Baud: 115200, NoBanner: true})
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

// esptoolPlain writes img the way esptool does without its stub by default: uncompressed,
// FLASH_BEGIN for the whole image and every 0x400 block, the last padded with 0xFF.
func esptoolPlain(l *Loader, offset uint32, img []byte) error {
	blocks := (len(img) + romBlock - 1) / romBlock
	if _, _, err := l.do(CmdFlashBegin, l.beginWords(uint32(len(img)), uint32(blocks), romBlock, offset), 0, 0, l.opts.Timeout); err != nil {
		return err
	}
	for seq := 0; seq < blocks; seq++ {
		block := bytes.Repeat([]byte{0xFF}, romBlock)
		copy(block, img[seq*romBlock:])
		if _, _, err := l.do(CmdFlashData, append(words(romBlock, uint32(seq), 0, 0), block...), Checksum(block), 0, l.opts.Timeout); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkFlashSeedCerts writes the seed_certs_0x6000 golden image into loadersim with UART
// emulation, and verifies it by MD5: nvskit's write (uncompressed on the ESP32, compressed on
// the C3), esptool's default ROM-mode write (uncompressed, every block) and, on the C3,
// esptool's compressed ROM-mode write (its level-9 zlib stream, 0x400 blocks), on the same
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
	want := md5.Sum(img)
	type writer func(l *Loader) error
	for _, chip := range []string{"esp32", "esp32c3"} {
		for _, baud := range []int{115200, 921600} {
			ways := []struct {
				name  string
				write writer
			}{
				{"nvskit", func(l *Loader) error { _, err := l.WriteFlash(0x9000, img, WriteOptions{}); return err }},
				{"esptool", func(l *Loader) error { return esptoolPlain(l, 0x9000, img) }},
			}
			if chip != "esp32" {
				ways = append(ways, struct {
					name  string
					write writer
				}{"esptool-compress", func(l *Loader) error {
					var res WriteResult
					return l.writeOnce(0x9000, len(img), img, ez, &res, nil)
				}})
			}
			for _, w := range ways {
				b.Run(chip+"/"+w.name+"/baud="+strconv.Itoa(baud), func(b *testing.B) {
					l, _ := benchConnect(b, chip, baud)
					var wire int64
					var times []time.Duration
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						t0 := time.Now()
						o0, i0 := l.WireBytes()
						if err := w.write(l); err != nil {
							b.Fatal(err)
						}
						if w.name != "nvskit" { // WriteFlash verifies by itself
							sum, err := l.FlashMD5(0x9000, len(img))
							if err != nil || sum != want {
								b.Fatalf("MD5 %x, %v", sum, err)
							}
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
	}
}

// median returns the median duration in seconds: on a shared machine the mean follows the
// load; the median follows the wire.
func median(ts []time.Duration) float64 {
	s := append([]time.Duration(nil), ts...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Seconds()
}

// BenchmarkDeviceInfo connects to the simulator with UART emulation at 115200 baud and reads
// what "nvskit device info" shows (chip, security state or FLASH_CRYPT_CNT, MAC, flash id), on
// the ESP32 profile (whose ROM answers GET_SECURITY_INFO with stale replies) and the C3's.
func BenchmarkDeviceInfo(b *testing.B) {
	for _, chip := range []string{"esp32", "esp32c3"} {
		b.Run(chip, func(b *testing.B) {
			sim, err := loadersim.New(loadersim.Config{Chip: chip, FlashSize: 1 << 20, Baud: 115200})
			if err != nil {
				b.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go sim.ServeListener(ln)
			var times []time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				l, err := Connect(c, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := l.FlashEncryption(); err != nil {
					b.Fatal(err)
				}
				if _, err := l.MAC(); err != nil {
					b.Fatal(err)
				}
				if _, err := l.DetectFlashSize(); err != nil {
					b.Fatal(err)
				}
				if l.Timeouts() != 0 {
					b.Fatalf("%d timeouts", l.Timeouts())
				}
				c.Close()
				times = append(times, time.Since(t0))
			}
			b.ReportMetric(median(times), "median-seconds")
		})
	}
}
