package port

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Info describes a serial port found by List.
type Info struct {
	Name    string
	USB     bool
	VID     string // USB vendor id, hex, when USB and the listing is detailed
	PID     string // USB product id, hex, when USB and the listing is detailed
	Serial  string
	Product string
	// Bridge names the USB-serial bridge an ESP board carries (CP210x, CH340, CH9102, FTDI,
	// ESP USB-Serial/JTAG, ESP USB CDC) when the port looks like one, from its USB ids or, where
	// the listing has no ids, from its device name; "" otherwise.
	Bridge string
}

// USBJTAG reports whether the port is an ESP chip's built-in USB-Serial/JTAG (VID 303A, PID 1001),
// which needs its own reset sequence.
func (i Info) USBJTAG() bool {
	return strings.EqualFold(i.VID, "303a") && strings.EqualFold(i.PID, "1001")
}

// ESP reports whether the port looks like an ESP board's USB connection (Bridge is set).
func (i Info) ESP() bool { return i.Bridge != "" }

// Detailed reports whether List gives USB vendor and product ids on this build. It does not
// where the detailed enumerator needs cgo (macOS) and nvskit was built without it: there the
// ports are found by their device names.
const Detailed = detailed

// List returns the serial ports of this machine, sorted by name. Where the detailed enumerator
// is available (see Detailed) the ports carry their USB ids; otherwise List falls back to the
// device names found in /dev.
func List() ([]Info, error) {
	ps, err := list()
	if err != nil {
		return nil, err
	}
	for i := range ps {
		ps[i].Bridge = bridge(ps[i])
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps, nil
}

// ErrNoESP and ErrSeveralESP are Detect's errors.
var (
	// ErrNoESP: no port looks like an ESP board.
	ErrNoESP = errors.New("no ESP board found")
	// ErrSeveralESP: more than one port looks like an ESP board.
	ErrSeveralESP = errors.New("more than one ESP board found")
)

// Detect returns the one port that looks like an ESP board's USB connection. With none or
// several it returns ErrNoESP or ErrSeveralESP, with the ports found in the message.
func Detect() (Info, error) {
	ps, err := List()
	if err != nil {
		return Info{}, fmt.Errorf("listing the serial ports: %w", err)
	}
	return detect(ps)
}

func detect(ps []Info) (Info, error) {
	var esp []Info
	for _, p := range ps {
		// On macOS every device appears twice, as cu.X (call-up) and tty.X (dial-in); a tool
		// that opens the port itself uses cu.X, and tty.X would block until carrier detect.
		if strings.HasPrefix(p.Name, "/dev/tty.") && hasName(ps, "/dev/cu."+strings.TrimPrefix(p.Name, "/dev/tty.")) {
			continue
		}
		if p.ESP() {
			esp = append(esp, p)
		}
	}
	switch len(esp) {
	case 1:
		return esp[0], nil
	case 0:
		if len(ps) == 0 {
			return Info{}, fmt.Errorf("%w: this machine has no serial ports", ErrNoESP)
		}
		return Info{}, fmt.Errorf("%w among %s", ErrNoESP, names(ps))
	}
	return Info{}, fmt.Errorf("%w: %s", ErrSeveralESP, names(esp))
}

func hasName(ps []Info, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

func names(ps []Info) string {
	n := make([]string, len(ps))
	for i, p := range ps {
		n[i] = p.Name
	}
	return strings.Join(n, ", ")
}

// usbBridges are the USB ids of the bridges ESP boards carry (VID, then PID or "" for any).
var usbBridges = []struct{ vid, pid, name string }{
	{"303a", "1001", "ESP USB-Serial/JTAG"},
	{"303a", "", "ESP USB CDC"},
	{"10c4", "ea60", "CP210x"},
	{"10c4", "ea70", "CP2105"},
	{"10c4", "ea71", "CP2108"},
	{"1a86", "7523", "CH340"},
	{"1a86", "7522", "CH340"},
	{"1a86", "55d4", "CH9102"},
	{"1a86", "55d3", "CH343"},
	{"0403", "6001", "FTDI"},
	{"0403", "6010", "FTDI"},
	{"0403", "6014", "FTDI"},
	{"0403", "6015", "FTDI"},
}

// nameBridges are device-name prefixes (after /dev/) of the same bridges, for listings without
// USB ids: the names macOS's drivers give them.
var nameBridges = []struct{ prefix, name string }{
	{"cu.usbserial-", "USB serial (CP210x, CH340 or FTDI)"},
	{"cu.usbserial", "USB serial (CP210x, CH340 or FTDI)"},
	{"cu.SLAB_USBtoUART", "CP210x"},
	{"cu.wchusbserial", "CH340/CH9102"},
	{"cu.usbmodem", "USB CDC (ESP USB-Serial/JTAG or native USB)"},
	{"tty.usbserial", "USB serial (CP210x, CH340 or FTDI)"},
	{"tty.SLAB_USBtoUART", "CP210x"},
	{"tty.wchusbserial", "CH340/CH9102"},
	{"tty.usbmodem", "USB CDC (ESP USB-Serial/JTAG or native USB)"},
}

// bridge names the ESP USB bridge p looks like, or "".
func bridge(p Info) string {
	if p.VID != "" {
		for _, b := range usbBridges {
			if strings.EqualFold(p.VID, b.vid) && (b.pid == "" || strings.EqualFold(p.PID, b.pid)) {
				return b.name
			}
		}
		return ""
	}
	base := strings.TrimPrefix(p.Name, "/dev/")
	for _, b := range nameBridges {
		if strings.HasPrefix(base, b.prefix) {
			return b.name
		}
	}
	return ""
}

// scanDev lists the entries of dir whose names start with one of prefixes, as serial ports
// without USB details: the pure-Go listing. With devicesOnly, entries that are not device
// nodes are skipped (the tests list regular files standing in for them).
func scanDev(dir string, prefixes []string, devicesOnly bool) ([]Info, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range es {
		if devicesOnly && e.Type()&os.ModeDevice == 0 {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(e.Name(), p) {
				out = append(out, Info{Name: dir + "/" + e.Name()})
				break
			}
		}
	}
	return out, nil
}

// darwinPrefixes are the names of serial devices in macOS's /dev.
var darwinPrefixes = []string{"cu.", "tty."}
