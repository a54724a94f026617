package esploader_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/esploader/loadersim"
)

// On the ESP32 profile the ROM answers GET_SECURITY_INFO with stale replies of the previous
// command. nvskit must recognise them at once: one GET_SECURITY_INFO sent, no command that
// waits out its timeout, on the way to a verified write and a read-back. (The client that
// dropped the stale replies sent it four times and waited out four timeouts.)
func TestESP32UnsupportedCommandNoTimeout(t *testing.T) {
	img := golden(t)
	for _, name := range loadersim.ChipNames() {
		t.Run(name, func(t *testing.T) {
			sim, err := loadersim.New(loadersim.Config{Chip: name, FlashSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			l, err := esploader.Connect(startSim(t, sim), esploader.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := esploader.ChipByName(name)
			if l.Chip().Name != want.Name {
				t.Fatalf("chip %s, want %s", l.Chip().Name, want.Name)
			}
			if n := sim.CommandCount(0x14); n != 1 {
				t.Errorf("GET_SECURITY_INFO sent %d times, want 1", n)
			}
			if _, err := l.MAC(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.FlashEncryption(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.WriteFlash(0x9000, img, esploader.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := l.ReadFlash(0x9000, 256, nil); err != nil {
				t.Fatal(err)
			}
			if n := l.Timeouts(); n != 0 {
				t.Errorf("%d commands waited out their timeout", n)
			}
			if st := sim.Stats(); st.Faults != 0 {
				t.Fatal("faults injected")
			}
		})
	}
}

// A write next to a partition holding data leaves the neighbour untouched, on every chip
// profile: the flash outside the image is byte for byte what it was. On the ESP32 a compressed
// write would program the ROM's whole 32 KiB buffer over it.
func TestWriteLeavesNeighbourUntouched(t *testing.T) {
	img := golden(t)
	for _, name := range loadersim.ChipNames() {
		for _, size := range []int{0x1000, len(img)} {
			sim, err := loadersim.New(loadersim.Config{Chip: name, FlashSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			// phy_init and the start of the app after the NVS partition, and data before it.
			fill := make([]byte, 1<<20)
			for i := range fill {
				fill[i] = byte(i*13 + i>>8)
			}
			sim.SetFlash(0, fill)
			before := sim.Flash()
			l, err := esploader.Connect(startSim(t, sim), fast)
			if err != nil {
				t.Fatal(err)
			}
			res, err := l.WriteFlash(0x9000, img[:size], esploader.WriteOptions{})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			after := sim.Flash()
			if !bytes.Equal(after[0x9000:0x9000+size], img[:size]) {
				t.Fatalf("%s: the image is not in the flash", name)
			}
			if !bytes.Equal(after[:0x9000], before[:0x9000]) {
				t.Errorf("%s: the flash before the image changed", name)
			}
			if i := firstDiff(after[0x9000+size:], before[0x9000+size:]); i >= 0 {
				t.Errorf("%s, 0x%X-byte image: the flash after the image changed at 0x%X", name, size, 0x9000+size+i)
			}
			want, _ := esploader.ChipByName(name)
			if (res.Compressed > 0) != want.CompressesWrites() {
				t.Errorf("%s: compressed %d bytes; the chip's ROM compresses: %v", name, res.Compressed, want.CompressesWrites())
			}
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// Compressed writes are refused on the ESP32, whose ROM programs past the image, and used on
// request elsewhere; uncompressed writes work on every ROM (4- and 5-word FLASH_BEGIN).
func TestCompressionModes(t *testing.T) {
	img := golden(t)
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32", FlashSize: 1 << 20})
	l, err := esploader.Connect(startSim(t, sim), fast)
	if err != nil {
		t.Fatal(err)
	}
	before := sim.Flash()
	if _, err := l.WriteFlash(0x9000, img, esploader.WriteOptions{Compression: esploader.CompressAlways}); !errors.Is(err, esploader.ErrDeflateOverrun) {
		t.Fatalf("compressed write on the ESP32: %v", err)
	}
	if !bytes.Equal(before, sim.Flash()) {
		t.Fatal("flash changed on a refused write")
	}
	for _, c := range []struct {
		chip string
		mode esploader.Compression
		defl bool
	}{{"esp32c3", esploader.CompressNever, false}, {"esp32c3", esploader.CompressAuto, true}, {"esp32s3", esploader.CompressAlways, true}, {"esp32s3", esploader.CompressAuto, false}, {"esp32", esploader.CompressAuto, false}} {
		sim, _ := loadersim.New(loadersim.Config{Chip: c.chip, FlashSize: 1 << 20})
		sim.SetFlash(0x9000, bytes.Repeat([]byte{0}, 0x6000))
		l, err := esploader.Connect(startSim(t, sim), fast)
		if err != nil {
			t.Fatal(err)
		}
		res, err := l.WriteFlash(0x9000, img, esploader.WriteOptions{Compression: c.mode})
		if err != nil {
			t.Fatalf("%s %v: %v", c.chip, c.mode, err)
		}
		if !bytes.Equal(sim.Flash()[0x9000:0xF000], img) {
			t.Fatalf("%s %v: flash differs", c.chip, c.mode)
		}
		if got := sim.CommandCount(0x11) > 0; got != c.defl {
			t.Errorf("%s %v: FLASH_DEFL_DATA sent: %v", c.chip, c.mode, got)
		}
		if !c.defl {
			// Uncompressed: only the blocks up to the last byte that is not 0xFF are sent
			// (5487 bytes: 6 blocks of 0x400); the erase left the rest 0xFF.
			if res.Blocks != 6 || sim.CommandCount(0x03) != 6 || res.Compressed != 0 {
				t.Errorf("%s: %+v, %d FLASH_DATA", c.chip, res, sim.CommandCount(0x03))
			}
		}
	}
}

// An image that is all 0xFF is written by the erase alone, and verified.
func TestWriteAllErased(t *testing.T) {
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32", FlashSize: 1 << 20})
	sim.SetFlash(0x9000, bytes.Repeat([]byte{0x11}, 0x7000))
	l, err := esploader.Connect(startSim(t, sim), fast)
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.WriteFlash(0x9000, bytes.Repeat([]byte{0xFF}, 0x6000), esploader.WriteOptions{})
	if err != nil || res.Blocks != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	f := sim.Flash()
	if !bytes.Equal(f[0x9000:0xF000], bytes.Repeat([]byte{0xFF}, 0x6000)) || f[0xF000] != 0x11 {
		t.Fatal("range not erased exactly")
	}
}

// Every single-byte corruption of a READ_FLASH_SLOW reply (header, data or status) is survived:
// the chunk is checked against the chip's MD5 and read again.
func TestReadSurvivesEveryByteCorruption(t *testing.T) {
	img := golden(t)
	for at := 1; at <= 8+64+4; at++ {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			sim, _ := loadersim.New(loadersim.Config{Chip: "esp32", FlashSize: 1 << 20,
				Faults: []loadersim.Fault{{Kind: loadersim.CorruptByte, Cmd: 0x0E, Nth: 3, Reply: true, At: at}}})
			sim.SetFlash(0x9000, img)
			l, err := esploader.Connect(startSim(t, sim), fast)
			if err != nil {
				t.Fatal(err)
			}
			back, err := l.ReadFlash(0x9000, 0x1100, nil)
			if err != nil {
				t.Fatalf("byte %d corrupted: %v", at, err)
			}
			if !bytes.Equal(back, img[:0x1100]) {
				t.Fatalf("byte %d corrupted: the data read differs", at)
			}
			if sim.Stats().Faults != 1 {
				t.Fatalf("%d faults", sim.Stats().Faults)
			}
		})
	}
}

// The trace leaves out the data written and read and eFuse key words, unless TraceData.
func TestTraceRedactsData(t *testing.T) {
	img := golden(t)
	for _, show := range []bool{false, true} {
		sim, _ := loadersim.New(loadersim.Config{Chip: "esp32", FlashSize: 1 << 20})
		sim.SetReg(0x3FF5A038, 0xDEADBEEF) // a word of BLOCK1, the flash-encryption key
		var tr bytes.Buffer
		opts := fast
		opts.Trace, opts.TraceData = &tr, show
		l, err := esploader.Connect(startSim(t, sim), opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.WriteFlash(0x9000, img, esploader.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ReadFlash(0x9000, 64, nil); err != nil {
			t.Fatal(err)
		}
		if v, err := l.ReadReg(0x3FF5A038); err != nil || v != 0xDEADBEEF {
			t.Fatal(v, err)
		}
		text := tr.String()
		for _, secret := range []string{hexBytes(img[:16]), hexBytes(img[16:32]), "ef be ad de"} {
			if strings.Contains(text, secret) != show {
				t.Errorf("TraceData %v: %q shown: %v\n%s", show, secret, !show, text)
			}
		}
		if !show && !strings.Contains(text, "data bytes not shown") {
			t.Error("no note where the data was left out")
		}
	}
}

func hexBytes(b []byte) string {
	var s []string
	for _, c := range b {
		s = append(s, fmt.Sprintf("%02x", c))
	}
	return strings.Join(s, " ")
}
