package loadersim

import (
	"bytes"
	"io"
	"testing"
)

// rwc is a session's stream: fixed input, discarded output.
type rwc struct {
	io.Reader
	out bytes.Buffer
}

func (r *rwc) Write(p []byte) (int, error) { return r.out.Write(p) }

// FuzzServe: whatever arrives, the simulator never panics and never grows the flash.
func FuzzServe(f *testing.F) {
	sync := []byte{0xC0, 0x00, 0x08, 0x24, 0, 0, 0, 0, 0, 0x07, 0x07, 0x12, 0x20}
	sync = append(sync, bytes.Repeat([]byte{0x55}, 32)...)
	sync = append(sync, 0xC0)
	f.Add(append(append([]byte{}, sync...), 0xC0, 0x00, 0x0D, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0,
		0xC0, 0x00, 0x10, 0x10, 0, 0, 0, 0, 0, 0x00, 0x10, 0, 0, 1, 0, 0, 0, 0, 4, 0, 0, 0, 0x90, 0, 0, 0xC0))
	f.Add(append(append([]byte{}, sync...), 0xC0, 0x00, 0x0E, 0x08, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x40, 0, 0, 0, 0xC0))
	f.Add(append(append([]byte{}, sync...), 0xC0, 0x00, 0x11, 0x14, 0, 0xEF, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x78, 0x9C, 0x03, 0x00, 0xC0))
	// An encrypted FLASH_BEGIN (5th word 1) at 0x9000 and one FLASH_DATA block of 0x400.
	encBegin := []byte{0xC0, 0x00, 0x02, 0x14, 0, 0, 0, 0, 0, 0x00, 0x04, 0, 0, 1, 0, 0, 0, 0, 4, 0, 0, 0, 0x90, 0, 0, 1, 0, 0, 0, 0xC0}
	data := append([]byte{0xC0, 0x00, 0x03, 0x10, 0x04, 0xEF, 0, 0, 0, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 0x400)...)
	f.Add(append(append(append([]byte{}, sync...), encBegin...), append(data, 0xC0)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 {
			return // larger inputs find nothing new and make the minimiser crawl
		}
		// Odd-length inputs go to the ESP32 profile (stale refusals, the compressed-write
		// overrun), even ones to the C3's. Flash encryption is on, with a known key: the C3's
		// encrypted writes go through flashcrypt.
		chip := "esp32c3"
		if len(in)%2 == 1 {
			chip = "esp32"
		}
		s, err := New(Config{Chip: chip, FlashSize: 64 << 10, NoBanner: true, FlashEncryption: true, FlashKey: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		// Attach first so that the flash commands get past their precondition.
		pre := append(append([]byte{}, sync...), 0xC0, 0x00, 0x0D, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0)
		s.Serve(&rwc{Reader: bytes.NewReader(append(pre, in...))})
		if len(s.Flash()) != 64<<10 {
			t.Fatal("flash size changed")
		}
	})
}
