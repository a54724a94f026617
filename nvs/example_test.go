package nvs_test

import (
	"fmt"

	"github.com/nvskit/nvskit/nvs"
)

// Build an image in code, without a CSV.
func ExampleBuild() {
	items := []nvs.Item{
		nvs.Namespace("config"),
		nvs.Uint("config", "boot_count", nvs.TypeU32, 0),
		nvs.Int("config", "tz_offset", nvs.TypeI16, -60),
		nvs.String("config", "hostname", "sensor-42"),
		nvs.Blob("config", "calibration", []byte{0x01, 0x02, 0x03}),
	}
	img, err := nvs.Build(items, nvs.Options{Size: 0x6000})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d bytes, first page %s\n", len(img), nvs.DecodePageHeader(img).State)
	// Output: 24576 bytes, first page ACTIVE
}

// Encrypt an image with keys derived from an eFuse HMAC key, and decrypt it again.
func ExampleEncrypt() {
	img, _ := nvs.Build([]nvs.Item{nvs.String("certs", "serial", "SN-0001")}, nvs.Options{Size: 0x3000})
	keys, _ := nvs.KeysFromHMAC(make([]byte, 32))
	enc, _ := nvs.Encrypt(img, keys)
	plain, err := nvs.Decrypt(enc, keys)
	fmt.Println(err == nil && string(plain) == string(img))
	// Output: true
}

// Use a Builder to add items one at a time and see how full the partition is.
func ExampleBuilder() {
	b, _ := nvs.NewBuilder(nvs.Options{Size: 0x5000})
	b.Add(nvs.String("wifi", "ssid", "factory-test"))
	st := b.Stats()
	fmt.Printf("%d of %d pages used, %d entries used, largest new blob %d bytes\n",
		st.PagesUsed, st.Pages, st.EntriesUsed, st.LargestBlob)
	// Output: 1 of 5 pages used, 3 entries used, largest new blob 15872 bytes
}
