package nvs_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/nvskit/nvskit/nvs"
)

// Check that a file is an NVS partition image before reading it or writing over it.
func ExampleRecognize() {
	img, _ := nvs.Build([]nvs.Item{nvs.String("wifi", "ssid", "MyNet")}, nvs.Options{Size: 0x3000})
	erased := bytes.Repeat([]byte{0xFF}, 0x3000)
	zeros := make([]byte, 0x3000)
	for _, b := range [][]byte{img, erased, zeros} {
		err := nvs.Recognize(b)
		fmt.Println(err == nil, errors.Is(err, nvs.ErrNotNVS))
	}
	// Output:
	// true false
	// true false
	// false true
}
