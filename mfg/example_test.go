package mfg_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/nvskit/nvskit/mfg"
	"github.com/nvskit/nvskit/nvscsv"
)

func Example() {
	config := `device,namespace,
serial,data,string
hw_rev,data,u8
batch,data,u16,REPEAT
`
	values := `serial,hw_rev,batch
SN-0001,3,42
SN-0002,4,
`
	cfg, err := nvscsv.ParseMfgConfig("config.csv", strings.NewReader(config))
	if err != nil {
		panic(err)
	}
	g, err := mfg.New(cfg, mfg.Options{Size: 0x3000, FileID: "serial"})
	if err != nil {
		panic(err)
	}
	// A real run passes an *mfg.Output (see OpenOutput) to write bin/ and the manifest.
	err = g.Run(context.Background(), "values.csv", strings.NewReader(values), mfg.RecordFunc(func(d *mfg.Device) error {
		if d.Err != nil {
			return d.Err
		}
		fmt.Printf("%s: row %d, sha256 %x...\n", d.ID, d.Row, d.SHA256[:4])
		return nil
	}))
	if err != nil {
		panic(err)
	}
	// Output:
	// SN-0001: row 1, sha256 6669b8a3...
	// SN-0002: row 2, sha256 7cd1d538...
}
