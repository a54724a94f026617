package station_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/ledger"
	"github.com/nvskit/nvskit/nvscsv"
	"github.com/nvskit/nvskit/partition"
	"github.com/nvskit/nvskit/station"
)

// One station with one jig, here a simulated ESP32-C3 on a TCP port, provisions one device.
func Example() {
	dir, _ := os.MkdirTemp("", "station")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	l, _ := ledger.OpenForInit(ctx, filepath.Join(dir, "nvskit-ledger.db"))
	defer l.Close()
	l.Init(ctx)
	l.Add(ctx, []ledger.NewIdentity{{ID: "SN1", Row: ledger.Row{{Key: "serial", Value: "SN1"}}}}, "example")

	// The simulated chip, with a partition table that has an NVS partition "fctry".
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32c3", FlashSize: 1 << 20, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}})
	tbl := &partition.Table{Offset: partition.DefaultOffset, Partitions: []partition.Partition{
		{Name: "fctry", Type: partition.TypeData, SubType: partition.SubtypeNVS, Offset: 0x9000, Size: 0x3000},
	}}
	b, _ := tbl.MarshalBinary()
	sim.SetFlash(partition.DefaultOffset, b)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go sim.ServeListener(ln)

	cfg, _ := nvscsv.ParseMfgConfig("config.csv", strings.NewReader("dev,namespace,\nserial,data,string\n"))
	s, err := station.New(station.Options{
		Ledger: l, Config: cfg, Partition: "fctry", Chip: "esp32c3", Station: "line1", Once: true,
		Ports:   []string{"socket://" + ln.Addr().String()},
		Connect: station.DialLoader(station.LoaderOptions{}),
		Events: func(e station.Event) {
			if e.Kind == station.KindClaimed || e.Kind == station.KindProvisioned {
				fmt.Println(e.Kind, e.ID, e.MAC)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := s.Run(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// claimed SN1 02:00:00:00:00:01
	// provisioned SN1 02:00:00:00:00:01
}
