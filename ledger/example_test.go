package ledger_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nvskit/nvskit/ledger"
)

// A station's life with the ledger: bind an identity to a chip, record the result; the same
// chip asking again gets the same identity.
func Example() {
	dir, _ := os.MkdirTemp("", "ledger")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	l, err := ledger.OpenForInit(ctx, filepath.Join(dir, "nvskit-ledger.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	l.Init(ctx)
	l.Add(ctx, []ledger.NewIdentity{
		{ID: "SN000001", Row: ledger.Row{{Key: "serial", Value: "SN000001"}}},
		{ID: "SN000002", Row: ledger.Row{{Key: "serial", Value: "SN000002"}}},
	}, "example")

	id, _ := l.Claim(ctx, ledger.ClaimRequest{MAC: "24:0A:C4:12:34:56", Chip: "ESP32-S3", Station: "line1", Port: "/dev/ttyUSB0"})
	fmt.Println(id.ID, id.State, id.MAC)
	l.Record(ctx, ledger.Result{ID: id.ID, MAC: id.MAC, Station: "line1", Port: "/dev/ttyUSB0", OK: true, ImageSHA256: "e3b0c442..."})

	again, _ := l.Claim(ctx, ledger.ClaimRequest{MAC: "240ac4123456", Station: "line2"})
	fmt.Println(again.ID, again.State, again.Station)
	// Output:
	// SN000001 claimed 24:0a:c4:12:34:56
	// SN000001 provisioned line1
}
