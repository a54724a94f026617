package port

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestBridge(t *testing.T) {
	cases := []struct {
		in   Info
		want string
	}{
		{Info{Name: "/dev/ttyUSB0", USB: true, VID: "10C4", PID: "EA60"}, "CP210x"},
		{Info{Name: "/dev/ttyUSB0", USB: true, VID: "1a86", PID: "7523"}, "CH340"},
		{Info{Name: "/dev/ttyACM0", USB: true, VID: "1A86", PID: "55D4"}, "CH9102"},
		{Info{Name: "/dev/ttyUSB1", USB: true, VID: "0403", PID: "6001"}, "FTDI"},
		{Info{Name: "/dev/ttyACM0", USB: true, VID: "303A", PID: "1001"}, "ESP USB-Serial/JTAG"},
		{Info{Name: "/dev/ttyACM1", USB: true, VID: "303a", PID: "0002"}, "ESP USB CDC"},
		{Info{Name: "COM4", USB: true, VID: "046D", PID: "C52B"}, ""}, // a mouse receiver
		{Info{Name: "/dev/ttyS0"}, ""},
		// Without USB ids (macOS without cgo): by the driver's device name.
		{Info{Name: "/dev/cu.usbserial-0001"}, "USB serial (CP210x, CH340 or FTDI)"},
		{Info{Name: "/dev/cu.SLAB_USBtoUART"}, "CP210x"},
		{Info{Name: "/dev/cu.wchusbserial1410"}, "CH340/CH9102"},
		{Info{Name: "/dev/cu.usbmodem1101"}, "USB CDC (ESP USB-Serial/JTAG or native USB)"},
		{Info{Name: "/dev/tty.usbserial-0001"}, "USB serial (CP210x, CH340 or FTDI)"},
		{Info{Name: "/dev/cu.Bluetooth-Incoming-Port"}, ""},
		{Info{Name: "/dev/cu.debug-console"}, ""},
	}
	for _, c := range cases {
		if got := bridge(c.in); got != c.want {
			t.Errorf("%+v: %q, want %q", c.in, got, c.want)
		}
	}
}

func TestDetect(t *testing.T) {
	withBridge := func(ps ...Info) []Info {
		for i := range ps {
			ps[i].Bridge = bridge(ps[i])
		}
		return ps
	}
	cp := Info{Name: "/dev/ttyUSB0", USB: true, VID: "10c4", PID: "ea60"}
	ch := Info{Name: "/dev/ttyUSB1", USB: true, VID: "1a86", PID: "7523"}
	s0 := Info{Name: "/dev/ttyS0"}
	mouse := Info{Name: "/dev/ttyACM3", USB: true, VID: "046d", PID: "c52b"}

	got, err := detect(withBridge(s0, cp, mouse))
	if err != nil || got.Name != cp.Name {
		t.Errorf("one bridge: %v %v", got, err)
	}
	if _, err := detect(withBridge(cp, ch)); !errors.Is(err, ErrSeveralESP) || !strings.Contains(err.Error(), "/dev/ttyUSB0, /dev/ttyUSB1") {
		t.Errorf("two bridges: %v", err)
	}
	if _, err := detect(withBridge(s0, mouse)); !errors.Is(err, ErrNoESP) || !strings.Contains(err.Error(), "/dev/ttyS0, /dev/ttyACM3") {
		t.Errorf("no bridge: %v", err)
	}
	if _, err := detect(nil); !errors.Is(err, ErrNoESP) || !strings.Contains(err.Error(), "no serial ports") {
		t.Errorf("no ports: %v", err)
	}
	// macOS lists each device as cu.X and tty.X: one board, not two.
	got, err = detect(withBridge(Info{Name: "/dev/cu.usbserial-0001"}, Info{Name: "/dev/tty.usbserial-0001"}, Info{Name: "/dev/cu.Bluetooth-Incoming-Port"}))
	if err != nil || got.Name != "/dev/cu.usbserial-0001" {
		t.Errorf("macOS pair: %v %v", got, err)
	}
	_, err = detect(withBridge(Info{Name: "/dev/cu.usbserial-0001"}, Info{Name: "/dev/tty.usbserial-0001"}, Info{Name: "/dev/cu.usbmodem1101"}, Info{Name: "/dev/tty.usbmodem1101"}))
	if !errors.Is(err, ErrSeveralESP) || !strings.Contains(err.Error(), "/dev/cu.usbserial-0001, /dev/cu.usbmodem1101") {
		t.Errorf("two macOS boards: %v", err)
	}
}

// The pure-Go listing used on macOS without cgo, run on a folder standing in for /dev.
func TestScanDev(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"cu.usbserial-0001", "tty.usbserial-0001", "cu.Bluetooth-Incoming-Port", "ttys000", "null", "disk0", "cu.SLAB_USBtoUART"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := scanDev(dir, darwinPrefixes, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, filepath.Base(p.Name))
	}
	want := []string{"cu.Bluetooth-Incoming-Port", "cu.SLAB_USBtoUART", "cu.usbserial-0001", "tty.usbserial-0001"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Regular files are not ports when only devices count.
	if ps, err := scanDev(dir, darwinPrefixes, true); err != nil || len(ps) != 0 {
		t.Errorf("devices only: %v %v", ps, err)
	}
	if _, err := scanDev(filepath.Join(dir, "missing"), darwinPrefixes, true); err == nil {
		t.Error("a missing folder: no error")
	}
}

// List works on every build and fills in Bridge.
func TestList(t *testing.T) {
	ps, err := List()
	if err != nil {
		t.Fatalf("listing ports: %v", err)
	}
	for _, p := range ps {
		if p.Bridge != bridge(p) {
			t.Errorf("%s: Bridge %q, want %q", p.Name, p.Bridge, bridge(p))
		}
	}
}
