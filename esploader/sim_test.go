package esploader_test

import (
	"bytes"
	"errors"
	"net"
	"os"
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

func TestFaults(t *testing.T) {
	img := golden(t)
	type tc struct {
		name    string
		faults  []loadersim.Fault
		wantErr error // nil: the fault must be survived
	}
	cases := []tc{
		{"drop byte in a data request", []loadersim.Fault{{Kind: loadersim.DropByte, Cmd: 0x11, Nth: 2}}, nil},
		{"corrupt data payload", []loadersim.Fault{{Kind: loadersim.CorruptByte, Cmd: 0x11, Nth: 1}}, nil},
		{"drop byte in a data reply", []loadersim.Fault{{Kind: loadersim.DropByte, Cmd: 0x11, Nth: 3, Reply: true}}, nil},
		{"corrupt a data reply", []loadersim.Fault{{Kind: loadersim.CorruptByte, Cmd: 0x11, Nth: 1, Reply: true}}, nil},
		{"delayed data reply", []loadersim.Fault{{Kind: loadersim.Delay, Cmd: 0x11, Nth: 2, Delay: 400 * time.Millisecond}}, nil},
		{"drop byte in a begin request", []loadersim.Fault{{Kind: loadersim.DropByte, Cmd: 0x10}}, nil},
		{"corrupt a read reply", []loadersim.Fault{{Kind: loadersim.CorruptByte, Cmd: 0x0E, Reply: true}}, nil},
		{"wrong MD5 once", []loadersim.Fault{{Kind: loadersim.WrongMD5, Cmd: 0x13}}, nil},
		{"wrong MD5 always", []loadersim.Fault{{Kind: loadersim.WrongMD5, Cmd: 0x13, Count: -1}}, esploader.ErrMD5Mismatch},
		{"disconnect mid-write", []loadersim.Fault{{Kind: loadersim.Disconnect, Cmd: 0x11, Nth: 2}}, esploader.ErrDisconnected},
		{"data replies lost for good", []loadersim.Fault{{Kind: loadersim.DropByte, Cmd: 0x11, Nth: 2, Reply: true, Count: -1}}, esploader.ErrBadReply},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sim, _ := loadersim.New(loadersim.Config{Chip: "esp32", FlashSize: 1 << 20, Faults: c.faults})
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
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
		})
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
