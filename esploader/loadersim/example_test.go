package loadersim_test

import (
	"fmt"
	"net"

	"github.com/nvskit/nvskit/esploader/loadersim"
)

// Serve a simulated ESP32-S3 on a loopback port; a client connects to socket://ADDR.
func Example() {
	sim, err := loadersim.New(loadersim.Config{Chip: "esp32s3", FlashSize: 2 << 20})
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go sim.ServeListener(ln)
	defer ln.Close()
	fmt.Println(sim.ChipName(), len(sim.Flash()))
	// Output: ESP32-S3 2097152
}
