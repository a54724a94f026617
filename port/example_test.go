package port_test

import (
	"fmt"
	"net"

	"github.com/nvskit/nvskit/port"
)

// Open a TCP port, as "nvskit simulate" serves one.
func ExampleOpen() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	p, err := port.Open("socket://"+ln.Addr().String(), 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	fmt.Println(p.SetDTR(true) == port.ErrNoLines)
	// Output: true
}

// Find the one ESP board plugged in, as device commands do without --port.
func ExampleDetect() {
	info, err := port.Detect()
	if err != nil {
		fmt.Println(err) // port.ErrNoESP or port.ErrSeveralESP, naming the ports found
		return
	}
	fmt.Printf("%s (%s)\n", info.Name, info.Bridge)
}
