//go:build linux || darwin

package port_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/port"
)

// TestPtyWriteRead runs the serial code path (go.bug.st/serial on a tty) against the simulator on
// the other side of a pty pair. A pty has no modem lines: the reset must be skipped, not fail.
func TestPtyWriteRead(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty on this machine: %v", err)
	}
	name := slave.Name()
	// Keep the slave open so the master sees no hang-up; the port opens its own descriptor.
	defer slave.Close()
	defer master.Close()
	sim, err := loadersim.New(loadersim.Config{Chip: "esp32c6", FlashSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	go sim.Serve(struct {
		*os.File
	}{master})

	p, err := port.Open(name, 115200)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l, err := esploader.Connect(p, esploader.Options{Timeout: time.Second, SyncTimeout: 100 * time.Millisecond, Attempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if l.Chip().Name != "ESP32-C6" {
		t.Fatalf("chip %s", l.Chip().Name)
	}
	img := bytes.Repeat([]byte("nvskit over a pty \xC0\xDB"), 300)
	if _, err := l.WriteFlash(0x9000, img, esploader.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := l.ChangeBaud(921600); err != nil {
		t.Fatal(err)
	}
	back, err := l.ReadFlash(0x9000, 200, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, img[:200]) {
		t.Fatal("read-back differs")
	}
}
