package station

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/port"
)

// LoaderOptions say how DialLoader connects.
type LoaderOptions struct {
	// Baud is the rate switched to after connecting (0 or port.DefaultBaud: stay at 115200).
	Baud int
	// Reset is how the chip is put into download mode (sockets: none).
	Reset esploader.ResetMode
	// Attempts is the number of reset-and-sync attempts per poll (default 2: an empty jig
	// is noticed quickly).
	Attempts int
	// Trace, if not nil, receives the frames exchanged.
	Trace io.Writer
}

// DialLoader returns a Connect function that opens a port by name (a serial port or
// socket://HOST:PORT) and connects to the chip's ROM loader.
func DialLoader(o LoaderOptions) func(ctx context.Context, name string) (Device, error) {
	if o.Attempts <= 0 {
		o.Attempts = 2
	}
	return func(ctx context.Context, name string) (Device, error) {
		p, err := port.Open(name, port.DefaultBaud)
		if err != nil {
			return nil, err
		}
		opts := esploader.Options{Reset: o.Reset, Attempts: o.Attempts, Trace: o.Trace}
		if strings.HasPrefix(name, port.SocketPrefix) {
			opts.Reset = esploader.ResetNone
		} else if info, ok := port.Lookup(name); ok && info.USBJTAG() {
			opts.USBJTAG = true
		}
		l, err := esploader.Connect(p, opts)
		if err != nil {
			p.Close()
			return nil, err
		}
		if o.Baud != 0 && o.Baud != port.DefaultBaud && !opts.USBJTAG {
			if err := l.ChangeBaud(o.Baud); err != nil {
				p.Close()
				return nil, fmt.Errorf("changing to %d baud: %w", o.Baud, err)
			}
		}
		return &LoaderDevice{L: l, C: p}, nil
	}
}

// LoaderDevice is a Device on an esploader.Loader.
type LoaderDevice struct {
	L *esploader.Loader
	C io.Closer // the port, closed by Close
}

// Chip returns the detected chip's name.
func (d *LoaderDevice) Chip() string { return d.L.Chip().Name }

// MAC reads the base MAC.
func (d *LoaderDevice) MAC() (net.HardwareAddr, error) { return d.L.MAC() }

// FlashEncryption reports whether flash encryption is on.
func (d *LoaderDevice) FlashEncryption() (bool, error) { return d.L.FlashEncryption() }

// ReadFlash reads n bytes at off.
func (d *LoaderDevice) ReadFlash(off uint32, n int) ([]byte, error) {
	return d.L.ReadFlash(off, n, nil)
}

// WriteFlash writes and verifies data at off.
func (d *LoaderDevice) WriteFlash(off uint32, data []byte, progress func(done, total int)) error {
	_, err := d.L.WriteFlash(off, data, esploader.WriteOptions{Progress: progress})
	return err
}

// FlashMD5 returns the chip's MD5 of a range.
func (d *LoaderDevice) FlashMD5(off uint32, n int) ([16]byte, error) { return d.L.FlashMD5(off, n) }

// CanWriteEncrypted reports whether the ROM loader can write through flash encryption.
func (d *LoaderDevice) CanWriteEncrypted() (bool, string) {
	sec, err := d.L.Security()
	if err != nil {
		return false, "the security state cannot be read: " + err.Error()
	}
	return sec.ROMCanEncrypt()
}

// WriteFlashEncrypted writes data at off through the chip's flash encryption (the ROM's
// encrypted write). Without the chip's key the host cannot compute the ciphertext, so the
// check is that the flash holds neither the plaintext nor erased bytes.
func (d *LoaderDevice) WriteFlashEncrypted(off uint32, data []byte) (string, error) {
	res, err := d.L.WriteFlashEncrypted(off, data, esploader.EncryptedWriteOptions{})
	return res.Check, err
}

// Reset runs the application.
func (d *LoaderDevice) Reset() { d.L.HardReset() }

// Close closes the port.
func (d *LoaderDevice) Close() error { return d.C.Close() }
