package esploader_test

import (
	"fmt"
	"net"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/esploader/loadersim"
)

// Write an image to a (simulated) chip and read part of it back.
func Example() {
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32c3", FlashSize: 1 << 20})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go sim.ServeListener(ln)
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()

	l, err := esploader.Connect(c, esploader.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	img := []byte("hello, flash")
	if _, err := l.WriteFlash(0x9000, img, esploader.WriteOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	back, _ := l.ReadFlash(0x9000, len(img), nil)
	fmt.Println(l.Chip().Name, string(back))
	// Output: ESP32-C3 hello, flash
}
