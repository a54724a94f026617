package nvs_test

import (
	"bytes"
	"fmt"

	"github.com/nvskit/nvskit/nvs"
)

// Parse reads an image and gives the keys as the device reads them, with any integrity
// problems as findings.
func ExampleParse() {
	img, err := nvs.Build([]nvs.Item{
		nvs.Uint("app", "boot_count", nvs.TypeU32, 42),
		nvs.String("app", "name", "sensor-7"),
		nvs.Blob("app", "cal", []byte{0x00, 0xa1, 0xff}),
	}, nvs.Options{Size: 0x3000})
	if err != nil {
		panic(err)
	}
	im, err := nvs.Parse(img)
	if err != nil {
		panic(err)
	}
	for _, r := range im.Records {
		switch r.Type {
		case nvs.TypeString:
			fmt.Printf("%s/%s = %q\n", r.Namespace, r.Key, r.Data[:len(r.Data)-1])
		case nvs.TypeBlob:
			fmt.Printf("%s/%s = % x\n", r.Namespace, r.Key, r.Data)
		default:
			fmt.Printf("%s/%s = %d\n", r.Namespace, r.Key, r.Value)
		}
	}
	fmt.Println("findings:", len(im.Findings))
	s := im.Space()
	fmt.Printf("entries used %d, free %d\n", s.EntriesUsed, s.EntriesFree)
	// Output:
	// app/boot_count = 42
	// app/name = "sensor-7"
	// app/cal = 00 a1 ff
	// findings: 0
	// entries used 7, free 371
}

// An Editor changes an image as the device's nvs_flash library would: writing the same value
// again writes nothing, a new value is appended and the old entry erased.
func ExampleEditor() {
	blank := bytes.Repeat([]byte{0xFF}, 0x3000)
	e, err := nvs.NewEditor(blank, nil)
	if err != nil {
		panic(err)
	}
	for _, v := range []uint64{1, 2, 2, 3} {
		if err := e.Set(nvs.Uint("app", "count", nvs.TypeU32, v)); err != nil {
			panic(err)
		}
	}
	if err := e.Erase("app", "missing"); err != nil {
		fmt.Println(err)
	}
	im, err := nvs.Parse(e.Image())
	if err != nil {
		panic(err)
	}
	fmt.Println("count =", im.Get("app", "count").Value)
	w, erased, _ := im.Pages[0].Counts()
	fmt.Printf("page 0: %d written, %d erased\n", w, erased)
	// Output:
	// app/missing: not found
	// count = 3
	// page 0: 2 written, 2 erased
}
