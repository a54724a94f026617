package esploader_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/esploader/loadersim"
)

// startSim serves sim on a 127.0.0.1 TCP port and returns a connection to it.
func startSim(t testing.TB, sim *loadersim.Sim) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { sim.ServeListener(ln); close(done) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); ln.Close(); <-done })
	return c
}

func golden(t testing.TB) []byte {
	b, err := os.ReadFile("../testdata/golden/nvs-gen/seed_certs_0x6000/expected.bin")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var fast = esploader.Options{Timeout: 300 * time.Millisecond, SyncTimeout: 50 * time.Millisecond, Attempts: 3}

func TestWriteVerifyReadEveryChip(t *testing.T) {
	img := golden(t)
	for _, name := range loadersim.ChipNames() {
		t.Run(name, func(t *testing.T) {
			sim, err := loadersim.New(loadersim.Config{Chip: name, FlashSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			// Something already in the partition: the write must erase it first.
			sim.SetFlash(0x9000, bytes.Repeat([]byte{0x5A}, 0x6000))
			l, err := esploader.Connect(startSim(t, sim), fast)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := esploader.ChipByName(name)
			if l.Chip().Name != want.Name {
				t.Fatalf("chip %q, want %q", l.Chip().Name, want.Name)
			}
			if !bytes.Contains([]byte(l.BootLog()), []byte("waiting for download")) {
				t.Error("boot banner not kept in the boot log")
			}
			mac, err := l.MAC()
			if err != nil || len(mac) != 6 || mac[0] != 0x24 {
				t.Fatalf("MAC %v, %v", mac, err)
			}
			size, err := l.FlashSize()
			if err != nil || size != 1<<20 {
				t.Fatalf("flash size %d, %v", size, err)
			}
			res, err := l.WriteFlash(0x9000, img, esploader.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Attempts != 1 || res.Blocks == 0 {
				t.Errorf("result %+v", res)
			}
			if got := sim.Flash()[0x9000 : 0x9000+len(img)]; !bytes.Equal(got, img) {
				t.Fatal("flash content differs from the image")
			}
			back, err := l.ReadFlash(0x9000, 0x1000, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, img[:0x1000]) {
				t.Fatal("read-back differs")
			}
		})
	}
}

func TestEraseRegion(t *testing.T) {
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32c3", FlashSize: 1 << 20})
	sim.SetFlash(0x9000, bytes.Repeat([]byte{0}, 0x6000))
	l, err := esploader.Connect(startSim(t, sim), fast)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.EraseRegion(0x9000, 0x6000); err != nil {
		t.Fatal(err)
	}
	f := sim.Flash()
	if !bytes.Equal(f[0x9000:0xF000], bytes.Repeat([]byte{0xFF}, 0x6000)) || f[0x8FFF] != 0xFF || f[0xF000] != 0xFF {
		t.Fatal("region not erased")
	}
	if err := l.EraseRegion(0x9100, 0x1000); !errors.Is(err, esploader.ErrUnaligned) {
		t.Fatalf("unaligned erase: %v", err)
	}
}

func TestSecurityInfo(t *testing.T) {
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32s3", FlashEncryption: true})
	l, err := esploader.Connect(startSim(t, sim), fast)
	if err != nil {
		t.Fatal(err)
	}
	si, ok := l.SecurityInfo()
	if !ok || !si.FlashEncryption() || si.ChipID != 9 {
		t.Fatalf("security info %+v %v", si, ok)
	}
}

// TestFaults injects faults into writes on the ESP32 (uncompressed: FLASH_BEGIN/FLASH_DATA) and
// the ESP32-C3 (compressed: FLASH_DEFL_BEGIN/FLASH_DEFL_DATA).
func TestFaults(t *testing.T) {
	img := golden(t)
	type tc struct {
		name    string
		faults  func(begin, data byte) []loadersim.Fault
		wantErr error // nil: the fault must be survived
	}
	cases := []tc{
		{"drop byte in a data request", func(b, d byte) []loadersim.Fault {
			return []loadersim.Fault{{Kind: loadersim.DropByte, Cmd: d, Nth: 2}}
		}, nil},
		{"corrupt data payload", func(b, d byte) []loadersim.Fault {
			return []loadersim.Fault{{Kind: loadersim.CorruptByte, Cmd: d, Nth: 1}}
		}, nil},
		{"drop byte in a data reply", func(b, d byte) []loadersim.Fault {
			return []loadersim.Fault{{Kind: loadersim.DropByte, Cmd: d, Nth: 3, Reply: true}}
		}, nil},
		{"corrupt a data reply", func(b, d byte) []loadersim.Fault {
			return []loadersim.Fault{{Kind: loadersim.CorruptByte, Cmd: d, Nth: 1, Reply: true}}
		}, nil},
		{"delayed data reply", func(b, d byte) []loadersim.Fault {
			return []loadersim.Fault{{Kind: loadersim.Delay, Cmd: d, Nth: 2, Delay: 400 * time.Millisecond}}
		}, nil},
		{"drop byte in a begin request", func(b, d byte) []loadersim.Fault { return []loadersim.Fault{{Kind: loadersim.DropByte, Cmd: b}} }, nil},
		{"corrupt a read reply", func(b, d byte) []loadersim.Fault {
			return []loadersim.Fault{{Kind: loadersim.CorruptByte, Cmd: 0x0E, Reply: true}}
		}, nil},
		{"wrong MD5 once", func(b, d byte) []loadersim.Fault { return []loadersim.Fault{{Kind: loadersim.WrongMD5, Cmd: 0x13}} }, nil},
		{"wrong MD5 always", func(b, d byte) []loadersim.Fault {
			return []loadersim.Fault{{Kind: loadersim.WrongMD5, Cmd: 0x13, Count: -1}}
		}, esploader.ErrMD5Mismatch},
		{"disconnect mid-write", func(b, d byte) []loadersim.Fault {
			return []loadersim.Fault{{Kind: loadersim.Disconnect, Cmd: d, Nth: 2}}
		}, esploader.ErrDisconnected},
		{"data replies lost for good", func(b, d byte) []loadersim.Fault {
			return []loadersim.Fault{{Kind: loadersim.DropByte, Cmd: d, Nth: 2, Reply: true, Count: -1}}
		}, esploader.ErrBadReply},
	}
	for _, chip := range []struct {
		name        string
		begin, data byte
	}{{"esp32", 0x02, 0x03}, {"esp32c3", 0x10, 0x11}} {
		for _, c := range cases {
			t.Run(chip.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				sim, _ := loadersim.New(loadersim.Config{Chip: chip.name, FlashSize: 1 << 20, Faults: c.faults(chip.begin, chip.data)})
				l, err := esploader.Connect(startSim(t, sim), fast)
				if err != nil {
					t.Fatal(err)
				}
				_, err = l.WriteFlash(0x9000, img, esploader.WriteOptions{})
				if err == nil {
					var back []byte
					back, err = l.ReadFlash(0x9000, 256, nil)
					if err == nil && !bytes.Equal(back, img[:256]) {
						t.Fatal("read-back differs")
					}
				}
				if sim.Stats().Faults == 0 {
					t.Error("no fault was injected")
				}
				if c.wantErr == nil {
					if err != nil {
						t.Fatalf("fault not survived: %v", err)
					}
					if !bytes.Equal(sim.Flash()[0x9000:0x9000+len(img)], img) {
						t.Fatal("flash differs after a successful write")
					}
					return
				}
				// A reply lost for good shows up as a garbled reply or as none at all.
				if !errors.Is(err, c.wantErr) && !(c.wantErr == esploader.ErrBadReply && errors.Is(err, esploader.ErrTimeout)) {
					t.Fatalf("error %v, want %v", err, c.wantErr)
				}
				if errors.Is(err, esploader.ErrBadReply) && !strings.Contains(err.Error(), "lower --baud") {
					t.Errorf("error %q does not say what to do", err)
				}
			})
		}
	}
}

func TestWrongBootMode(t *testing.T) {
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32", NormalBoot: true})
	_, err := esploader.Connect(startSim(t, sim), esploader.Options{SyncTimeout: 20 * time.Millisecond, Attempts: 1})
	var ce *esploader.ConnectError
	if !errors.Is(err, esploader.ErrWrongBootMode) || !errors.As(err, &ce) || !bytes.Contains([]byte(ce.BootLog), []byte("SPI_FAST_FLASH_BOOT")) {
		t.Fatalf("error %v", err)
	}
}

func TestNoSync(t *testing.T) {
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32", NormalBoot: true, NoBanner: true})
	_, err := esploader.Connect(startSim(t, sim), esploader.Options{SyncTimeout: 20 * time.Millisecond, Attempts: 1})
	if !errors.Is(err, esploader.ErrNoSync) {
		t.Fatalf("error %v", err)
	}
}

func TestSecureDownloadMode(t *testing.T) {
	for _, chip := range []string{"esp32s2", "esp32c3"} {
		sim, _ := loadersim.New(loadersim.Config{Chip: chip, SecureDownload: true})
		l, err := esploader.Connect(startSim(t, sim), fast)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := esploader.ChipByName(chip)
		if l.Chip().Name != want.Name {
			t.Fatalf("%s: detected %s", chip, l.Chip().Name)
		}
		if si, ok := l.SecurityInfo(); !ok || !si.SecureDownload() {
			t.Fatalf("%s: security info %+v", chip, si)
		}
		if _, err := l.WriteFlash(0x9000, []byte("x"), esploader.WriteOptions{}); !errors.Is(err, esploader.ErrSecureDownload) {
			t.Fatalf("%s: write %v", chip, err)
		}
		if _, err := l.ReadFlash(0x9000, 64, nil); !errors.Is(err, esploader.ErrSecureDownload) {
			t.Fatalf("%s: read %v", chip, err)
		}
	}
}

// Over USB-Serial/JTAG the RTC watchdog is turned off and the super watchdog set to feed itself.
func TestUSBJTAGWatchdogs(t *testing.T) {
	cases := []struct {
		chip            string
		cfg0, swd, feed uint32
	}{
		{"esp32c3", 0x60008090, 0x600080AC, 1 << 31},
		{"esp32s3", 0x60008098, 0x600080B4, 1 << 31},
		{"esp32c6", 0x600B1C00, 0x600B1C1C, 1 << 18},
		{"esp32h2", 0x600B1C00, 0x600B1C20, 1 << 18},
	}
	for _, c := range cases {
		sim, _ := loadersim.New(loadersim.Config{Chip: c.chip})
		sim.SetReg(c.cfg0, 0x80000000)
		opts := fast
		opts.USBJTAG = true
		if _, err := esploader.Connect(startSim(t, sim), opts); err != nil {
			t.Fatal(err)
		}
		if sim.Reg(c.cfg0) != 0 || sim.Reg(c.swd)&c.feed == 0 {
			t.Errorf("%s: WDT config 0x%08X, SWD conf 0x%08X", c.chip, sim.Reg(c.cfg0), sim.Reg(c.swd))
		}
	}
}

// An ESP32 with in-package flash (pads set in eFuse) is attached with those pins.
func TestESP32AttachFromEfuse(t *testing.T) {
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32"})
	// CLK 6, Q 17, D 8, CS 16 in word 5; HD 11 in word 3 (an ESP32-PICO-style layout).
	sim.SetReg(0x3FF5A014, 6|17<<5|8<<10|16<<15)
	sim.SetReg(0x3FF5A00C, 11<<4)
	l, err := esploader.Connect(startSim(t, sim), fast)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.FlashSize(); err != nil {
		t.Fatal(err)
	}
	if got, want := sim.AttachConfig(), uint32(11<<24|16<<18|8<<12|17<<6|6); got != want {
		t.Fatalf("attach config 0x%08X, want 0x%08X", got, want)
	}
}

// CHANGE_BAUDRATE carries the rate the ROM has to be asked for to end up at the wanted one.
func TestChangeBaudQuirks(t *testing.T) {
	cases := []struct {
		name string
		cfg  loadersim.Config
		want int64
	}{
		{"esp32 (crystal estimate 40 MHz)", loadersim.Config{Chip: "esp32"}, 921600},
		{"c2 with 40 MHz crystal", loadersim.Config{Chip: "esp32c2"}, 921600},
		{"c2 with 26 MHz crystal", loadersim.Config{Chip: "esp32c2", Crystal26MHz: true}, 921600 * 40 / 26},
		{"c3", loadersim.Config{Chip: "esp32c3"}, 921600},
		{"c2 in Secure Download Mode stays", loadersim.Config{Chip: "esp32c2", SecureDownload: true}, 0},
	}
	for _, c := range cases {
		sim, _ := loadersim.New(c.cfg)
		l, err := esploader.Connect(startSim(t, sim), fast)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.ChangeBaud(921600); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := sim.Stats().Baud; got != c.want {
			t.Errorf("%s: asked the ROM for %d, want %d", c.name, got, c.want)
		}
	}
}

func TestTrace(t *testing.T) {
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32"})
	var tr bytes.Buffer
	opts := fast
	opts.Trace = &tr
	if _, err := esploader.Connect(startSim(t, sim), opts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"> 00 08 24 00 00 00 00 00 07 07 12 20", "< 01 08 04 00 07 07 12 20 00 00 00 00", "< text \"ets Jun", "> 00 0a 04 00 00 00 00 00 00 10 00 40"} {
		if !strings.Contains(tr.String(), want) {
			t.Errorf("trace lacks %q:\n%s", want, tr.String())
		}
	}
}

func TestStubRunning(t *testing.T) {
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32", StubRunning: true, NoBanner: true})
	if _, err := esploader.Connect(startSim(t, sim), fast); !errors.Is(err, esploader.ErrStubRunning) {
		t.Fatalf("error %v", err)
	}
}
