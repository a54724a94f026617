package loadersim

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// rawClient speaks the wire protocol to a simulator by hand, so that these tests see exactly
// the frames the modelled ROM sends (no client logic between).
type rawClient struct {
	t      *testing.T
	c      net.Conn
	frames chan []byte
}

func newRaw(t *testing.T, s *Sim) *rawClient {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { s.Serve(b); close(done) }()
	r := &rawClient{t: t, c: a, frames: make(chan []byte, 64)}
	go func() {
		var d slipReader
		buf := make([]byte, 4096)
		for {
			n, err := a.Read(buf)
			d.feed(buf[:n], func(f []byte) { r.frames <- f })
			if err != nil {
				close(r.frames)
				return
			}
		}
	}()
	t.Cleanup(func() { a.Close(); <-done })
	r.send(0x08, append([]byte{7, 7, 0x12, 0x20}, bytes.Repeat([]byte{0x55}, 32)...), 0)
	for i := 0; i < 8; i++ {
		if f := r.next(); f[1] != 0x08 {
			t.Fatalf("SYNC reply %d: % x", i, f)
		}
	}
	r.send(0x0D, make([]byte, 8), 0)
	r.expect(0x0D, 0, 0)
	return r
}

func (r *rawClient) send(cmd byte, data []byte, checksum uint32) {
	p := make([]byte, 8, 8+len(data))
	p[1] = cmd
	binary.LittleEndian.PutUint16(p[2:], uint16(len(data)))
	binary.LittleEndian.PutUint32(p[4:], checksum)
	if _, err := r.c.Write(slipWrap(append(p, data...))); err != nil {
		r.t.Fatal(err)
	}
}

// next returns the next reply frame, failing after a second without one.
func (r *rawClient) next() []byte {
	r.t.Helper()
	select {
	case f, ok := <-r.frames:
		if !ok {
			r.t.Fatal("stream closed")
		}
		return f
	case <-time.After(time.Second):
		r.t.Fatal("no reply")
	}
	return nil
}

// none checks that no further frame arrives within 50 ms.
func (r *rawClient) none() {
	r.t.Helper()
	select {
	case f := <-r.frames:
		r.t.Fatalf("unexpected frame % x", f)
	case <-time.After(50 * time.Millisecond):
	}
}

// expect reads one reply and checks its opcode and status bytes (status, error).
func (r *rawClient) expect(cmd, status, code byte) []byte {
	r.t.Helper()
	f := r.next()
	n := int(binary.LittleEndian.Uint16(f[2:]))
	if f[0] != 1 || f[1] != cmd || len(f) != 8+n || n < 4 || f[8+n-4] != status || f[8+n-3] != code {
		r.t.Fatalf("reply % x, want opcode %02x status %02x %02x", f, cmd, status, code)
	}
	return f
}

func w32(ws ...uint32) []byte {
	b := make([]byte, 4*len(ws))
	for i, w := range ws {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

func newSim(t *testing.T, chip string) *Sim {
	t.Helper()
	s, err := New(Config{Chip: chip, FlashSize: 1 << 20, NoBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The ESP32 ROM answers an opcode it lacks with stale replies: the previous reply's opcode and
// value, status 01 05. The C3 ROM answers GET_SECURITY_INFO, and refuses an opcode it lacks
// with a reply of its own opcode.
func TestUnsupportedCommandReplies(t *testing.T) {
	r := newRaw(t, newSim(t, "esp32"))
	// Right after SPI_ATTACH: the stale replies carry 0x0D.
	r.send(0x14, nil, 0)
	for i := 0; i < 3; i++ {
		if f := r.next(); !bytes.Equal(f, []byte{1, 0x0D, 4, 0, 0, 0, 0, 0, 1, 5, 0, 0}) {
			t.Fatalf("stale reply %d: % x", i, f)
		}
	}
	r.none()
	// After READ_REG of the magic register: its opcode and value.
	r.send(0x0A, w32(0x40001000), 0)
	r.expect(0x0A, 0, 0)
	r.send(0xD4, nil, 0)
	if f := r.next(); !bytes.Equal(f, []byte{1, 0x0A, 4, 0, 0x83, 0x1D, 0xF0, 0, 1, 5, 0, 0}) {
		t.Fatalf("stale reply: % x", f)
	}

	r = newRaw(t, newSim(t, "esp32c3"))
	r.send(0x14, nil, 0)
	if f := r.expect(0x14, 0, 0); len(f) != 8+24 {
		t.Fatalf("security info % x", f)
	}
	r.send(0xD4, nil, 0)
	r.expect(0xD4, 1, 5)
	r.none()
}

// An ESP32-S2 in Secure Download Mode refuses READ_REG with stale replies (how esptool tells
// it); a C3 in that mode with its own opcode.
func TestSecureDownloadRefusals(t *testing.T) {
	s, _ := New(Config{Chip: "esp32s2", SecureDownload: true, NoBanner: true})
	r := newRaw(t, s)
	r.send(0x0A, w32(0x40001000), 0)
	for i := 0; i < 3; i++ {
		if f := r.next(); f[1] != 0x0D || f[8] != 1 || f[9] != 5 {
			t.Fatalf("stale reply % x", f)
		}
	}
	s, _ = New(Config{Chip: "esp32c3", SecureDownload: true, NoBanner: true})
	r = newRaw(t, s)
	r.send(0x0A, w32(0x40001000), 0)
	r.expect(0x0A, 1, 5)
}

// FLASH_BEGIN and FLASH_DEFL_BEGIN take exactly 4 words on the ESP32 and 5 on later ROMs; the
// wrong count is refused with 01 05.
func TestBeginWordCount(t *testing.T) {
	for _, c := range []struct {
		chip       string
		ok, refuse int
	}{{"esp32", 4, 5}, {"esp32s2", 5, 4}, {"esp32c3", 5, 4}, {"esp32c6", 5, 4}, {"esp32p4", 5, 4}} {
		r := newRaw(t, newSim(t, c.chip))
		for _, cmd := range []byte{0x02, 0x10} {
			ws := []uint32{0x1000, 1, 0x400, 0x10000, 0}
			r.send(cmd, w32(ws[:c.refuse]...), 0)
			r.expect(cmd, 1, 5)
			r.send(cmd, w32(ws[:c.ok]...), 0)
			r.expect(cmd, 0, 0)
		}
	}
}

// The C3 ROM refuses a compressed write with the encrypted word set: 01 64.
func TestDeflateEncryptedRefused(t *testing.T) {
	for _, chip := range []string{"esp32c3", "esp32s3", "esp32c6"} {
		r := newRaw(t, newSim(t, chip))
		r.send(0x10, w32(0x1000, 1, 0x400, 0x10000, 1), 0)
		r.expect(0x10, 1, 0x64)
		r.send(0x10, w32(0x1000, 1, 0x400, 0x10000, 0), 0)
		r.expect(0x10, 0, 0)
	}
}

// deflWrite writes img compressed at off with the raw protocol.
func deflWrite(r *rawClient, words int, off int, img []byte) {
	var b bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&b, 9)
	zw.Write(img)
	zw.Close()
	z := b.Bytes()
	blocks := (len(z) + 0x3FF) / 0x400
	ws := []uint32{uint32(len(img)), uint32(blocks), 0x400, uint32(off), 0}
	r.send(0x10, w32(ws[:words]...), 0)
	r.expect(0x10, 0, 0)
	for seq := 0; seq < blocks; seq++ {
		chunk := z[seq*0x400 : min(len(z), (seq+1)*0x400)]
		sum := byte(0xEF)
		for _, c := range chunk {
			sum ^= c
		}
		r.send(0x11, append(w32(uint32(len(chunk)), uint32(seq), 0, 0), chunk...), uint32(sum))
		r.expect(0x11, 0, 0)
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

// The ESP32 ROM programs its whole 32 KiB decompression buffer at the end of a compressed
// write: what the buffer held from the previous compressed write lands after the image, over
// data the erase did not cover. The C3 ROM programs exactly the image.
func TestDeflateOverrun(t *testing.T) {
	s := newSim(t, "esp32")
	neighbour := bytes.Repeat([]byte{0x5A}, 0x20000)
	s.SetFlash(0x11000, neighbour)
	r := newRaw(t, s)

	// First compressed write since power-on: the buffer held zeros.
	img := pattern(0x1000, 1)
	deflWrite(r, 4, 0x10000, img)
	f := s.Flash()
	if !bytes.Equal(f[0x10000:0x11000], img) {
		t.Fatal("image not written")
	}
	if !bytes.Equal(f[0x11000:0x18000], make([]byte, 0x7000)) {
		t.Fatal("the 28 KiB after a 4 KiB image were not programmed with the buffer's zeros")
	}
	if !bytes.Equal(f[0x18000:0x31000], neighbour[0x7000:]) {
		t.Fatal("programmed beyond the 32 KiB buffer")
	}

	// A 32 KiB write fills the buffer; a 4 KiB write after it leaves its tail behind the image.
	big := pattern(0x8000, 2)
	deflWrite(r, 4, 0x40000, big)
	f = s.Flash()
	if !bytes.Equal(f[0x40000:0x48000], big) || !bytes.Equal(f[0x48000:0x50000], big) {
		t.Fatal("a 32 KiB image must program 64 KiB: the buffer once full and once more at the end")
	}
	small := pattern(0x1000, 3)
	deflWrite(r, 4, 0x60000, small)
	f = s.Flash()
	if !bytes.Equal(f[0x60000:0x61000], small) || !bytes.Equal(f[0x61000:0x68000], big[0x1000:]) {
		t.Fatal("the stale buffer of the previous write is not what follows the image")
	}
	if !bytes.Equal(f[0x68000:0x69000], bytes.Repeat([]byte{0xFF}, 0x1000)) {
		t.Fatal("programmed beyond the buffer")
	}

	// The C3 ROM: exact.
	s = newSim(t, "esp32c3")
	s.SetFlash(0x11000, neighbour)
	r = newRaw(t, s)
	deflWrite(r, 5, 0x40000, big)
	deflWrite(r, 5, 0x10000, img)
	f = s.Flash()
	if !bytes.Equal(f[0x10000:0x11000], img) || !bytes.Equal(f[0x11000:0x31000], neighbour) {
		t.Fatal("the C3 ROM must program exactly the image")
	}
}
