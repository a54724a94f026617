package esploader

import "time"

// Lines drives a serial port's modem control lines. On the usual boards DTR pulls IO0 (BOOT)
// and RTS pulls EN (reset), both inverted by transistors: true means "asserted", i.e. pin low.
type Lines interface {
	SetDTR(on bool) error
	SetRTS(on bool) error
}

// BothLines is implemented by ports that can set DTR and RTS in one call (one TIOCMSET on
// Unix), which the "tight" reset sequence needs.
type BothLines interface {
	SetLines(dtr, rts bool) error
}

// ResetMode selects how Connect puts the chip into download mode.
type ResetMode int

// The reset sequences.
const (
	// ResetAuto tries the sequences that fit the port: USB-Serial/JTAG when Options.USBJTAG is
	// set, otherwise alternating the Unix "tight" and classic sequences with short and long delays.
	ResetAuto ResetMode = iota
	// ResetClassic toggles DTR and RTS one at a time.
	ResetClassic
	// ResetUnixTight sets both lines at once (needs a port implementing BothLines; falls back to classic).
	ResetUnixTight
	// ResetUSBJTAG is the sequence for the USB-Serial/JTAG peripheral of the C3, S3, C6, H2 and later.
	ResetUSBJTAG
	// ResetNone does not touch the lines: the chip must already be in download mode.
	ResetNone
)

// String names the mode as the --reset flag spells it.
func (m ResetMode) String() string {
	switch m {
	case ResetClassic:
		return "classic"
	case ResetUnixTight:
		return "unix"
	case ResetUSBJTAG:
		return "usb-jtag"
	case ResetNone:
		return "none"
	}
	return "auto"
}

// ParseResetMode parses "auto", "classic", "unix", "usb-jtag" or "none".
func ParseResetMode(s string) (ResetMode, bool) {
	for m := ResetAuto; m <= ResetNone; m++ {
		if m.String() == s {
			return m, true
		}
	}
	return ResetAuto, false
}

// resetter runs one reset sequence; errors from the lines (a pty or socket has none) end
// the sequence quietly: the chip may already be waiting.
type resetter struct {
	lines Lines
	sleep func(time.Duration)
}

func (r resetter) set(dtr, rts *bool) bool {
	if r.lines == nil {
		return false
	}
	if dtr != nil {
		if r.lines.SetDTR(*dtr) != nil {
			return false
		}
	}
	if rts != nil {
		if r.lines.SetRTS(*rts) != nil {
			return false
		}
		if dtr != nil { // set DTR again after RTS: works around the Windows usbser driver
			if r.lines.SetDTR(*dtr) != nil {
				return false
			}
		}
	}
	return true
}

func (r resetter) both(dtr, rts bool) bool {
	if b, ok := r.lines.(BothLines); ok {
		return b.SetLines(dtr, rts) == nil
	}
	return r.set(&dtr, &rts)
}

var (
	on  = true
	off = false
)

// classic: hold EN low, then release it with IO0 held low, then release IO0.
func (r resetter) classic(delay time.Duration) {
	if !r.set(&off, &on) {
		return
	}
	r.sleep(100 * time.Millisecond)
	if !r.set(&on, &off) {
		return
	}
	r.sleep(delay)
	r.set(&off, nil)
}

// tight: the same, setting both lines at once so that they never pass through (0,0)... (1,1).
func (r resetter) tight(delay time.Duration) {
	if r.lines == nil {
		return
	}
	if !r.both(false, false) || !r.both(true, true) || !r.both(false, true) {
		return
	}
	r.sleep(100 * time.Millisecond)
	if !r.both(true, false) {
		return
	}
	r.sleep(delay)
	r.both(false, false)
	r.set(&off, nil)
}

// usbJTAG drives the USB-Serial/JTAG peripheral's reset logic, passing through (1,1) and never (0,0).
func (r resetter) usbJTAG() {
	if !r.set(nil, &off) || !r.set(&off, nil) {
		return
	}
	r.sleep(100 * time.Millisecond)
	if !r.set(&on, nil) || !r.set(nil, &off) {
		return
	}
	r.sleep(100 * time.Millisecond)
	if !r.set(nil, &on) || !r.set(&off, nil) || !r.set(nil, &on) {
		return
	}
	r.sleep(100 * time.Millisecond)
	r.set(&off, nil)
	r.set(nil, &off)
}

// hard pulses EN to leave the loader and run the application.
func (r resetter) hard(usb bool) {
	if !r.set(nil, &on) {
		return
	}
	if usb {
		r.sleep(200 * time.Millisecond)
	} else {
		r.sleep(100 * time.Millisecond)
	}
	r.set(nil, &off)
	if usb {
		r.sleep(200 * time.Millisecond)
	}
}

// plan returns the reset function for connect attempt i (0-based).
func (r resetter) plan(mode ResetMode, usb bool, i int) func() {
	const short, long = 50 * time.Millisecond, 550 * time.Millisecond
	switch mode {
	case ResetNone:
		return func() {}
	case ResetClassic:
		if i%2 == 1 {
			return func() { r.classic(long) }
		}
		return func() { r.classic(short) }
	case ResetUnixTight:
		if i%2 == 1 {
			return func() { r.tight(long) }
		}
		return func() { r.tight(short) }
	case ResetUSBJTAG:
		return r.usbJTAG
	}
	if usb {
		return r.usbJTAG
	}
	switch i % 4 {
	case 0:
		return func() { r.tight(short) }
	case 1:
		return func() { r.tight(long) }
	case 2:
		return func() { r.classic(short) }
	}
	return func() { r.classic(long) }
}
