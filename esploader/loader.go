package esploader

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Options configure Connect. The zero value resets the chip automatically (when Lines is set),
// tries 7 times and uses esptool's timeouts.
type Options struct {
	// Lines drives DTR/RTS for the reset sequences; nil means the chip cannot be reset
	// (a TCP socket, a pty) and must already be in download mode.
	Lines Lines
	// Reset selects the reset sequence.
	Reset ResetMode
	// USBJTAG says the port is the chip's USB-Serial/JTAG peripheral (USB VID 0x303A, PID 0x1001).
	USBJTAG bool
	// Attempts is the number of reset-and-sync attempts (default 7).
	Attempts int
	// SyncTimeout bounds one SYNC exchange (default 100 ms).
	SyncTimeout time.Duration
	// Timeout bounds a simple command (default 3 s). Erase, write and MD5 timeouts grow with the size.
	Timeout time.Duration
	// Retries is how many times a command whose reply was lost or garbled is sent again (default 3).
	Retries int
	// Trace, if not nil, receives one line per frame sent (>) or received (<), in hex, and the
	// text the chip prints outside frames: for reporting problems with real hardware. Data that
	// may be secret (flash contents written or read, eFuse key words) is left out.
	Trace io.Writer
	// TraceData shows the data left out of the trace as well.
	TraceData bool

	sleep func(time.Duration) // replaced by tests
}

// Loader is a connection to a chip's ROM loader.
type Loader struct {
	c         *conn
	rw        io.ReadWriter
	opts      Options
	chip      Chip
	sec       *SecurityInfo
	reset     resetter
	attached  bool
	flashSize int
	bootLog   []byte
	retries   int
	baud      int // the host side's current baud rate
}

// SecurityInfo is the GET_SECURITY_INFO reply (ESP32-S2 and later).
type SecurityInfo struct {
	Flags         uint32
	FlashCryptCnt uint8
	KeyPurposes   [7]uint8
	ChipID        uint32 // 0 when the reply is the 12-byte form (ESP32-S2)
	APIVersion    uint32
	HasChipID     bool
}

// Security flag bits in SecurityInfo.Flags.
const (
	SecureBootEnabled       = 1 << 0
	SecureDownloadEnabled   = 1 << 2
	SoftDisabledJTAG        = 1 << 6
	HardDisabledJTAG        = 1 << 7
	USBDisabled             = 1 << 8
	DownloadDCacheDisabled  = 1 << 9
	DownloadICacheDisabled  = 1 << 10
	secureBootAggressRevoke = 1 << 1
)

// FlashEncryption reports whether flash encryption is on: an odd number of bits set in
// the FLASH_CRYPT_CNT (SPI_BOOT_CRYPT_CNT) eFuse.
func (s SecurityInfo) FlashEncryption() bool {
	n := 0
	for v := s.FlashCryptCnt; v != 0; v &= v - 1 {
		n++
	}
	return n%2 == 1
}

// SecureBoot reports whether secure boot is on.
func (s SecurityInfo) SecureBoot() bool { return s.Flags&SecureBootEnabled != 0 }

// SecureDownload reports whether Secure Download Mode is on.
func (s SecurityInfo) SecureDownload() bool { return s.Flags&SecureDownloadEnabled != 0 }

func (o *Options) fill() {
	if o.Attempts <= 0 {
		o.Attempts = 7
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = 100 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 3
	}
	if o.sleep == nil {
		o.sleep = time.Sleep
	}
}

// bootModes returns every "boot:0xNN (TEXT)" the ROM printed in log, in order: what the
// regular expression `boot:0x[0-9a-fA-F]+ \([^)]*\)` finds, without compiling one at start-up.
func bootModes(log string) []string {
	const prefix = "boot:0x"
	var out []string
	for i := 0; i < len(log); {
		j := strings.Index(log[i:], prefix)
		if j < 0 {
			break
		}
		start := i + j
		h := start + len(prefix)
		for h < len(log) && strings.IndexByte("0123456789abcdefABCDEF", log[h]) >= 0 {
			h++
		}
		if h > start+len(prefix) && h+1 < len(log) && log[h] == ' ' && log[h+1] == '(' {
			if e := strings.IndexByte(log[h+2:], ')'); e >= 0 {
				end := h + 2 + e + 1
				out = append(out, log[start:end])
				i = end
				continue
			}
		}
		i = start + 1
	}
	return out
}

// Connect resets the chip into download mode (if it can), synchronises with its ROM loader and
// detects the chip. rw is any byte stream: a serial port, a TCP connection, a pty. If rw
// implements Lines (or opts.Lines is set) the reset sequences use it.
func Connect(rw io.ReadWriter, opts Options) (*Loader, error) {
	opts.fill()
	if opts.Lines == nil {
		if l, ok := rw.(Lines); ok {
			opts.Lines = l
		}
	}
	l := &Loader{c: newConn(rw), rw: rw, opts: opts, baud: 115200}
	l.c.trace, l.c.traceData = opts.Trace, opts.TraceData
	l.reset = resetter{lines: opts.Lines, sleep: opts.sleep}
	if err := l.sync(); err != nil {
		return nil, err
	}
	if err := l.detect(); err != nil {
		return nil, err
	}
	if opts.USBJTAG && !(l.sec != nil && l.sec.SecureDownload()) {
		if err := l.disableWatchdogs(); err != nil {
			return nil, fmt.Errorf("turning off the watchdogs: %w", err)
		}
	}
	return l, nil
}

// disableWatchdogs turns off the RTC watchdog and lets the super watchdog feed itself, which
// over USB-Serial/JTAG could otherwise reset the chip in the middle of an operation.
func (l *Loader) disableWatchdogs() error {
	w := l.chip.wdt
	if w == nil {
		return nil
	}
	for _, s := range [][2]uint32{{w.wdtProtect, wdtKey}, {w.wdtConfig0, 0}, {w.wdtProtect, 0}, {w.swdProtect, w.swdKey}} {
		if err := l.WriteReg(s[0], s[1]); err != nil {
			return err
		}
	}
	v, err := l.ReadReg(w.swdConf)
	if err != nil {
		return err
	}
	if err := l.WriteReg(w.swdConf, v|w.swdAutoFeed); err != nil {
		return err
	}
	return l.WriteReg(w.swdProtect, 0)
}

func (l *Loader) sync() error {
	var log []byte
	for a := 0; a < l.opts.Attempts; a++ {
		l.c.dec.ResetLog()
		l.reset.plan(l.opts.Reset, l.opts.USBJTAG, a)()
		for try := 0; try < 5; try++ {
			r, err := l.c.command(CmdSync, syncData(), 0, l.opts.SyncTimeout)
			log = append(log, l.c.dec.Log()...)
			l.c.dec.ResetLog()
			if errors.Is(err, ErrDisconnected) {
				return &ConnectError{Err: ErrDisconnected, BootLog: string(log)}
			}
			if err == nil {
				if _, err := r.Status(0); err == nil {
					// The ROM answers one SYNC with several replies; let them arrive and drop them.
					l.c.flush(50 * time.Millisecond)
					l.bootLog = log
					if r.Value != syncValue {
						// A ROM puts 0x20120707 in its SYNC replies, a stub 0.
						return &ConnectError{Err: ErrStubRunning, BootLog: string(log)}
					}
					return nil
				}
			}
			l.opts.sleep(50 * time.Millisecond)
		}
		if len(log) > maxLog {
			log = log[len(log)-maxLog:]
		}
	}
	ce := &ConnectError{Err: ErrNoSync, BootLog: string(log)}
	if m := bootModes(string(log)); len(m) > 0 {
		last := m[len(m)-1]
		if !bytes.Contains([]byte(last), []byte("waiting")) && !bytes.Contains([]byte(last), []byte("DOWNLOAD")) {
			ce.Err, ce.BootMode = ErrWrongBootMode, last
		}
	}
	return ce
}

// retriable reports whether a command can be sent again after err.
func retriable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		// A garbled request is refused as invalid or with a checksum error.
		return se.Code == CodeInvalidMessage || se.Code == CodeChecksum
	}
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrBadReply)
}

// do sends a command, checks its status and returns its payload, retrying lost or garbled
// exchanges. With payloadLen < 0 the caller checks the status itself.
func (l *Loader) do(cmd Command, data []byte, checksum uint32, payloadLen int, timeout time.Duration) (Response, []byte, error) {
	var err error
	for try := 0; try <= l.opts.Retries; try++ {
		var r Response
		r, err = l.c.command(cmd, data, checksum, timeout)
		if err == nil && payloadLen < 0 {
			return r, nil, nil
		}
		if err == nil {
			var p []byte
			p, err = r.Status(payloadLen)
			if err == nil {
				return r, p, nil
			}
		}
		if !retriable(err) {
			return Response{}, nil, err
		}
		var se *StatusError
		if errors.As(err, &se) && se.Unsupported() && !l.implements(cmd) {
			// Refused by a loader that does not run this command: final, no retry.
			return Response{}, nil, err
		}
		// A command the loader runs was refused as invalid: the request arrived garbled.
		l.retries++
		if se == nil || se.Code != CodeInvalidMessage { // a refusal has been drained already
			l.c.flush(20 * time.Millisecond)
		}
	}
	return Response{}, nil, err
}

func (l *Loader) detect() error {
	// GET_SECURITY_INFO: try the 20-byte form, fall back to 12 bytes.
	r, _, err := l.do(CmdGetSecurityInfo, nil, 0, -1, l.opts.Timeout)
	if err == nil {
		var p []byte
		if len(r.Data) >= 24 {
			p, err = r.Status(20)
		} else {
			p, err = r.Status(12)
		}
		var si SecurityInfo
		if err == nil {
			si, err = ParseSecurityInfo(p)
		}
		if err == nil {
			l.sec = &si
			if si.HasChipID {
				c, ok := chipByID(si.ChipID)
				if !ok {
					return fmt.Errorf("%w: chip id %d in the security info", ErrUnknownChip, si.ChipID)
				}
				l.chip = c
				return nil
			}
		}
	} else if errors.Is(err, ErrDisconnected) {
		return err
	}
	// Not answered (the ESP32 ROM does not implement it; its refusal has been drained), or the
	// 12-byte form without a chip id (ESP32-S2): the magic register tells.
	v, err := l.ReadReg(MagicReg)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.Unsupported() && l.sec != nil {
			l.chip, _ = ChipByName("ESP32-S2")
			return nil
		}
		return fmt.Errorf("detecting the chip: %w", err)
	}
	c, ok := chipByMagic(v)
	if !ok {
		return fmt.Errorf("%w: magic value 0x%08X", ErrUnknownChip, v)
	}
	l.chip = c
	return nil
}

// Chip returns the detected chip.
func (l *Loader) Chip() Chip { return l.chip }

// SecurityInfo returns the chip's security state, if its ROM reports one (ESP32-S2 and later).
func (l *Loader) SecurityInfo() (SecurityInfo, bool) {
	if l.sec == nil {
		return SecurityInfo{}, false
	}
	return *l.sec, true
}

// Timeouts returns how many commands (SYNC aside) waited out their timeout without a reply
// since Connect began: 0 on a good link in the normal path.
func (l *Loader) Timeouts() int { return l.c.timeouts }

// WireBytes returns the bytes written to and read from the stream so far.
func (l *Loader) WireBytes() (out, in int64) { return l.c.out.Load(), l.c.inN.Load() }

// BootLog returns the text the chip printed outside SLIP frames while connecting and since,
// up to the last call.
func (l *Loader) BootLog() string {
	s := string(l.bootLog) + string(l.c.dec.Log())
	l.bootLog = nil
	l.c.dec.ResetLog()
	return s
}

// c2UARTClkDiv is the ESP32-C2's UART clock divider register.
const c2UARTClkDiv = 0x60000014

// ESP32 eFuse block 0 words: word 0 holds FLASH_CRYPT_CNT in bits 20..26, words 3 and 5 the
// SPI pad configuration of in-package flash.
const (
	esp32EfuseBlk0Word0 = 0x3FF5A000
	esp32EfuseBlk0Word3 = 0x3FF5A00C
	esp32EfuseBlk0Word5 = 0x3FF5A014
)

// FlashEncryption reports whether flash encryption is on: from the security info on chips that
// report it, from the FLASH_CRYPT_CNT eFuse on the ESP32. An odd number of set bits means on.
func (l *Loader) FlashEncryption() (bool, error) {
	if l.sec != nil {
		return l.sec.FlashEncryption(), nil
	}
	if l.chip.Name != "ESP32" {
		return false, fmt.Errorf("the %s did not report its security state", l.chip.Name)
	}
	v, err := l.ReadReg(esp32EfuseBlk0Word0)
	if err != nil {
		return false, fmt.Errorf("reading the FLASH_CRYPT_CNT eFuse: %w", err)
	}
	return SecurityInfo{FlashCryptCnt: uint8(v >> 20 & 0x7F)}.FlashEncryption(), nil
}

// HardReset pulses EN (RTS) so the chip leaves the loader and runs its application. It does
// nothing on a port without modem lines.
func (l *Loader) HardReset() {
	l.reset.hard(l.opts.USBJTAG)
}

// ReadReg reads a 32-bit register.
func (l *Loader) ReadReg(addr uint32) (uint32, error) {
	r, _, err := l.do(CmdReadReg, words(addr), 0, 0, l.opts.Timeout)
	if err != nil {
		return 0, err
	}
	return r.Value, nil
}

// WriteReg writes a 32-bit register (mask 0xFFFFFFFF, no delay).
func (l *Loader) WriteReg(addr, value uint32) error {
	_, _, err := l.do(CmdWriteReg, words(addr, value, 0xFFFFFFFF, 0), 0, 0, l.opts.Timeout)
	return err
}

// MAC reads the chip's base MAC address from eFuse.
func (l *Loader) MAC() (net.HardwareAddr, error) {
	var hi, lo uint32
	var err error
	if l.chip.Name == "ESP32" {
		if hi, err = l.ReadReg(esp32EfuseMAC2); err == nil {
			lo, err = l.ReadReg(esp32EfuseMAC1)
		}
	} else {
		if lo, err = l.ReadReg(l.chip.MACReg); err == nil {
			hi, err = l.ReadReg(l.chip.MACReg + 4)
		}
		hi &= 0xFFFF
	}
	if err != nil {
		return nil, fmt.Errorf("reading the MAC: %w", err)
	}
	var b [8]byte
	binary.BigEndian.PutUint32(b[:], hi)
	binary.BigEndian.PutUint32(b[4:], lo)
	return net.HardwareAddr(b[2:8]), nil
}

// FlashID reads the flash chip's JEDEC id (manufacturer, type, capacity) through the SPI
// controller's user-command registers.
func (l *Loader) FlashID() (uint32, error) {
	c := l.chip
	base := c.SPIBase
	if err := l.attach(); err != nil {
		return 0, err
	}
	oldUsr, err := l.ReadReg(base + c.SPIUsr)
	if err != nil {
		return 0, err
	}
	oldUsr2, err := l.ReadReg(base + c.SPIUsr2)
	if err != nil {
		return 0, err
	}
	const (
		usrCommand = 1 << 31
		usrMISO    = 1 << 28
		cmdUSR     = 1 << 18
	)
	steps := [][2]uint32{
		{base + c.SPIMISODLen, 24 - 1},
		{base + c.SPIUsr, usrCommand | usrMISO},
		{base + c.SPIUsr2, 7<<28 | 0x9F},
		{base + c.SPIW0, 0},
		{base, cmdUSR},
	}
	for _, s := range steps {
		if err := l.WriteReg(s[0], s[1]); err != nil {
			return 0, err
		}
	}
	for i := 0; ; i++ {
		v, err := l.ReadReg(base)
		if err != nil {
			return 0, err
		}
		if v&cmdUSR == 0 {
			break
		}
		if i == 10 {
			return 0, errors.New("the SPI flash command did not complete")
		}
	}
	id, err := l.ReadReg(base + c.SPIW0)
	if err != nil {
		return 0, err
	}
	_ = l.WriteReg(base+c.SPIUsr, oldUsr)
	_ = l.WriteReg(base+c.SPIUsr2, oldUsr2)
	return id & 0xFFFFFF, nil
}

// DetectFlashSize reads the JEDEC id and returns the flash size it names, 0 if unknown.
func (l *Loader) DetectFlashSize() (int, error) {
	id, err := l.FlashID()
	if err != nil {
		return 0, err
	}
	capb := id >> 16 & 0xFF
	if capb < 0x12 || capb > 0x1A {
		return 0, nil
	}
	return 1 << capb, nil
}

// SetFlashSize sets the flash size sent with SPI_SET_PARAMS (default: detected, else 4 MiB).
func (l *Loader) SetFlashSize(n int) { l.flashSize = n; l.attached = false }

// attach runs SPI_ATTACH and SPI_SET_PARAMS once per session.
func (l *Loader) attach() error {
	if l.attached {
		return nil
	}
	// SPI_ATTACH: the pin configuration (0: default pins) plus the 4 zero bytes ROM loaders
	// expect. The ESP32 ROM does not attach in-package flash by itself: take the pins from the
	// eFuse SPI pad configuration when it is set.
	var pins uint32
	if l.chip.Name == "ESP32" && !(l.sec != nil && l.sec.SecureDownload()) {
		r5, err := l.ReadReg(esp32EfuseBlk0Word5)
		if err != nil {
			return fmt.Errorf("reading the SPI pad eFuses: %w", err)
		}
		r3, err := l.ReadReg(esp32EfuseBlk0Word3)
		if err != nil {
			return fmt.Errorf("reading the SPI pad eFuses: %w", err)
		}
		clk, q, d, cs, hd := r5&0x1F, r5>>5&0x1F, r5>>10&0x1F, r5>>15&0x1F, r3>>4&0x1F
		pins = hd<<24 | cs<<18 | d<<12 | q<<6 | clk
	}
	if _, _, err := l.do(CmdSPIAttach, words(pins, 0), 0, 0, l.opts.Timeout); err != nil {
		return fmt.Errorf("attaching the SPI flash: %w", err)
	}
	l.attached = true
	size := l.flashSize
	if size == 0 {
		if n, err := l.DetectFlashSize(); err == nil && n > 0 {
			size = n
		} else {
			size = 4 << 20
		}
		l.flashSize = size
	}
	if _, _, err := l.do(CmdSPISetParams, words(0, uint32(size), 64<<10, 4<<10, 256, 0xFFFF), 0, 0, l.opts.Timeout); err != nil {
		l.attached = false
		return fmt.Errorf("setting the SPI flash parameters: %w", err)
	}
	return nil
}

// FlashSize returns the flash size used for SPI_SET_PARAMS, detecting it if needed.
func (l *Loader) FlashSize() (int, error) {
	if err := l.attach(); err != nil {
		return 0, err
	}
	return l.flashSize, nil
}

// ChangeBaud asks the ROM to switch to baud, then switches the host side if the stream
// implements SetBaudRate(int) error. It corrects for the ESP32 ROM's crystal estimate and for
// the ESP32-C2 ROM on a 26 MHz crystal (which assumes 40 MHz), as esptool does; a C2 in Secure
// Download Mode cannot change its rate, and stays at the current one.
func (l *Loader) ChangeBaud(baud int) error {
	rom := uint32(baud)
	if l.chip.Name == "ESP32" {
		// The ESP32 ROM derives its UART clock from a drifting estimate of the crystal; scale
		// the request the way the ROM will mis-scale it.
		if cal, err := l.ReadReg(esp32RTCCaliCfg1); err == nil {
			if w4, err := l.ReadReg(esp32EfuseWord4); err == nil {
				f := float64(cal>>7&0x1FFFFFF) * 15625 * float64(w4&0xFF) / 40
				if f > 20e6 && f < 50e6 {
					valid := 26e6
					if f > 33e6 {
						valid = 40e6
					}
					rom = uint32(float64(baud) * f / valid)
				}
			}
		}
	}
	if l.chip.Name == "ESP32-C2" {
		if l.sec != nil && l.sec.SecureDownload() {
			return nil // the C2 cannot change its baud rate in Secure Download Mode: stay
		}
		// A C2 with a 26 MHz crystal runs a ROM that assumes 40 MHz. The crystal shows in the
		// UART clock divider at the current baud rate.
		if div, err := l.ReadReg(c2UARTClkDiv); err == nil {
			if est := float64(l.baud) * float64(div&0xFFFFF) / 1e6; est > 20 && est < 33 {
				rom = uint32(baud * 40 / 26)
			}
		}
	}
	if _, _, err := l.do(CmdChangeBaudrate, words(rom, 0), 0, 0, l.opts.Timeout); err != nil {
		return err
	}
	l.baud = baud
	if s, ok := l.rw.(interface{ SetBaudRate(int) error }); ok {
		if err := s.SetBaudRate(baud); err != nil {
			return fmt.Errorf("switching the port to %d baud: %w", baud, err)
		}
	}
	l.c.flush(50 * time.Millisecond)
	return nil
}

// sizeTimeout scales a timeout with a size: perMB seconds per MiB, at least the default.
func (l *Loader) sizeTimeout(perMB float64, n int) time.Duration {
	t := time.Duration(perMB * float64(n) / (1 << 20) * float64(time.Second))
	if t < l.opts.Timeout {
		t = l.opts.Timeout
	}
	return t
}

// FlashMD5 returns the MD5 of size bytes of flash at offset, computed by the chip.
func (l *Loader) FlashMD5(offset uint32, size int) ([16]byte, error) {
	var sum [16]byte
	if err := l.attach(); err != nil {
		return sum, err
	}
	if l.sec != nil && l.sec.SecureDownload() {
		return sum, ErrSecureDownload
	}
	r, _, err := l.do(CmdSPIFlashMD5, words(offset, uint32(size), 0, 0), 0, -1, l.sizeTimeout(8, size))
	if err != nil {
		return sum, err
	}
	if len(r.Data) < 18 {
		if _, err := r.Status(0); err != nil {
			return sum, err
		}
		return sum, fmt.Errorf("%w: MD5 reply of %d bytes", ErrBadReply, len(r.Data))
	}
	// The ROM sends 32 hex characters, a stub 16 raw bytes.
	if p, err := r.Status(32); err == nil {
		if _, err := hex.Decode(sum[:], p); err != nil {
			return sum, fmt.Errorf("%w: MD5 reply %q is not hex", ErrBadReply, p)
		}
		return sum, nil
	}
	p, err := r.Status(16)
	if err != nil {
		return sum, err
	}
	copy(sum[:], p)
	return sum, nil
}

// readChunk is how much ReadFlash reads before it checks the data against the chip's MD5.
const readChunk = 0x1000

// ReadFlash reads size bytes at offset with READ_FLASH_SLOW, 64 bytes per round trip, and
// checks every 4 KiB against the MD5 the chip computes of it: READ_FLASH_SLOW replies carry no
// checksum, so a byte garbled on the wire would otherwise pass. A chunk whose data or reply is
// damaged is read again (Options.Retries times). progress, if not nil, is called with the bytes
// read so far.
func (l *Loader) ReadFlash(offset uint32, size int, progress func(done, total int)) ([]byte, error) {
	if err := l.attach(); err != nil {
		return nil, err
	}
	if l.sec != nil && l.sec.SecureDownload() {
		return nil, ErrSecureDownload
	}
	out := make([]byte, 0, size)
	for len(out) < size {
		at := offset + uint32(len(out))
		n := min(readChunk, size-len(out))
		for try := 0; ; try++ {
			chunk, err := l.readChunk(at, n, func(d int) {
				if progress != nil {
					progress(len(out)+d, size)
				}
			})
			if err == nil {
				var sum [16]byte
				if sum, err = l.FlashMD5(at, n); err == nil && sum != md5.Sum(chunk) {
					err = fmt.Errorf("%w: 0x%X+0x%X", ErrReadMismatch, at, n)
				}
				if err == nil {
					out = append(out, chunk...)
					break
				}
			}
			if errors.Is(err, ErrDisconnected) || errors.Is(err, ErrSecureDownload) || try >= l.opts.Retries {
				return nil, fmt.Errorf("reading flash at 0x%X: %w", at, err)
			}
			l.retries++
			l.c.flush(20 * time.Millisecond)
		}
	}
	return out, nil
}

// readChunk reads n bytes at offset with READ_FLASH_SLOW.
func (l *Loader) readChunk(offset uint32, n int, progress func(done int)) ([]byte, error) {
	out := make([]byte, 0, n)
	for len(out) < n {
		k := min(64, n-len(out))
		_, p, err := l.do(CmdReadFlashSlow, words(offset+uint32(len(out)), uint32(k)), 0, 64, l.opts.Timeout)
		if err != nil {
			return nil, err
		}
		out = append(out, p[:k]...)
		progress(len(out))
	}
	return out, nil
}

// EraseRegion erases size bytes at offset (both multiples of 4 KiB). The ROM has no erase
// command: FLASH_BEGIN with no blocks erases the range, as esptool --no-stub erase-region does.
func (l *Loader) EraseRegion(offset uint32, size int) error {
	if offset%0x1000 != 0 || size%0x1000 != 0 {
		return fmt.Errorf("erase 0x%X+0x%X: %w", offset, size, ErrUnaligned)
	}
	if err := l.attach(); err != nil {
		return err
	}
	_, _, err := l.do(CmdFlashBegin, l.beginWords(uint32(size), 0, romBlock, offset), 0, 0, l.sizeTimeout(30, size))
	if err != nil {
		return fmt.Errorf("erasing 0x%X+0x%X: %w", offset, size, err)
	}
	return nil
}

// romBlock is the ROM loader's flash block size.
const romBlock = 0x400

func (l *Loader) beginWords(size, blocks, block, offset uint32) []byte {
	if l.chip.BeginWords == 5 {
		return words(size, blocks, block, offset, 0)
	}
	return words(size, blocks, block, offset)
}
