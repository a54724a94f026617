package partition_test

import (
	"fmt"
	"os"

	"github.com/nvskit/nvskit/partition"
)

func Example() {
	csv := []byte(`# Name,   Type, SubType, Offset,  Size
nvs,      data, nvs,     ,        0x6000
phy_init, data, phy,     ,        0x1000
factory,  app,  factory, ,        1M
`)
	t, err := partition.Parse(csv, partition.Options{FlashSize: 4 << 20})
	if err != nil {
		fmt.Println(err)
		return
	}
	nvs, _ := t.Find("nvs")
	fmt.Printf("nvs is at 0x%x, 0x%x bytes\n", nvs.Offset, nvs.Size)

	bin, _ := t.MarshalBinary() // the 0xC00 bytes to flash at 0x8000
	back, _ := partition.Parse(bin, partition.Options{})
	back.WriteCSV(os.Stdout, partition.Options{})
	// Output:
	// nvs is at 0x9000, 0x6000 bytes
	// # ESP-IDF Partition Table
	// # Name, Type, SubType, Offset, Size, Flags
	// nvs,data,nvs,0x9000,24K,
	// phy_init,data,phy,0xf000,4K,
	// factory,app,factory,0x10000,1M,
}

func ExampleTable_Lookup() {
	t, _ := partition.Parse([]byte("nvs,data,nvs,,0x6000\nfactory,app,factory,,1M\n"), partition.Options{})
	if _, err := t.Lookup("nvs_data"); err != nil {
		fmt.Println(err)
	}
	p, _ := t.Lookup("factory")
	fmt.Println(p)
	// Output:
	// partition not found: no partition "nvs_data"; the table has nvs, factory
	// factory app/factory at 0x10000 size 0x100000
}

func ExampleReadFlash() {
	t, _ := partition.Parse([]byte("nvs,data,nvs,,0x6000\n"), partition.Options{})
	bin, _ := t.MarshalBinary()
	dump := make([]byte, 0x10000) // a flash dump: the table sits at 0x8000
	copy(dump[0x8000:], bin)
	back, err := partition.ReadFlash(dump, 0x8000, partition.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(back.Partitions[0].String(), back.MD5)
	// Output:
	// nvs data/nvs at 0x9000 size 0x6000 true
}
