package station_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/mfg"
	"github.com/nvskit/nvskit/partition"
	"github.com/nvskit/nvskit/station"
)

// BenchmarkJig measures one jig's time per device (connect, read the table, claim, build with
// a certificate, write and verify the 12 KiB fctry partition, record) over an emulated UART
// at each baud rate: the simulator paces every byte at 10 bit times.
func BenchmarkJig(b *testing.B) {
	for _, baud := range []int{115200, 460800, 921600, 2000000} {
		b.Run(fmt.Sprintf("baud=%d", baud), func(b *testing.B) {
			ln := newLine(b, b.N)
			tbl := table(b, false)
			b.ResetTimer()
			for i := range b.N {
				hw := net.HardwareAddr{2, 0, 0, 1, byte(i >> 8), byte(i)}
				sim, err := loadersim.New(loadersim.Config{Chip: "esp32s3", FlashSize: flashSize, MAC: hw, NoBanner: true, Baud: 115200})
				if err != nil {
					b.Fatal(err)
				}
				sim.SetFlash(partition.DefaultOffset, tbl)
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				go sim.ServeListener(l)
				s, err := station.New(station.Options{Ledger: ln.l, Config: ln.cfg, Partition: "fctry", Station: "bench", Once: true,
					Chip: "esp32s3", Ports: []string{"socket://" + l.Addr().String()}, Poll: 10 * time.Millisecond,
					Mfg: mfg.Options{Issuer: ln.issuer}, Connect: station.DialLoader(station.LoaderOptions{Baud: baud})})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				l.Close()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/device")
		})
	}
}
