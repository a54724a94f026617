package esploader

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrTimeout: no matching reply arrived in time.
	ErrTimeout = errors.New("no reply from the chip in time")
	// ErrBadReply: a reply frame could not be parsed.
	ErrBadReply = errors.New("malformed reply")
	// ErrDisconnected: the stream ended or failed (cable pulled, port closed, simulator gone).
	ErrDisconnected = errors.New("the connection to the chip was lost; check the cable and the port, then run the command again")
	// ErrNoSync: the chip never answered SYNC.
	ErrNoSync = errors.New("the chip did not answer; check the port, put it in download mode (hold BOOT/IO0 while pressing RESET/EN) and try again")
	// ErrWrongBootMode: the chip printed a boot log showing it did not enter download mode.
	ErrWrongBootMode = errors.New("the chip is not in download mode")
	// ErrUnknownChip: the chip's id or magic value is not one nvskit knows.
	ErrUnknownChip = errors.New("unknown chip")
	// ErrMD5Mismatch: the flash content after a write differs from the data sent.
	ErrMD5Mismatch = errors.New("flash verification failed: the MD5 of the flash does not match the image")
	// ErrUnaligned: a flash offset or size is not aligned to a 4 KiB sector.
	ErrUnaligned = errors.New("not aligned to a 4 KiB flash sector")
	// ErrStubRunning: a flasher stub left running by an earlier esptool session answered instead
	// of the ROM loader.
	ErrStubRunning = errors.New("a flasher stub from an earlier session (esptool --after no_reset?) is answering instead of the ROM loader; reset the board (press RESET/EN, or unplug it) and run again")
	// ErrReadMismatch: data read with READ_FLASH_SLOW differs from the chip's MD5 of the range,
	// every time it was read.
	ErrReadMismatch = errors.New("the data read differs from the chip's MD5 of the range; the serial link garbles data: try a lower --baud, a shorter cable or another USB port")
	// ErrDeflateOverrun: a compressed write was asked of a ROM that programs past the end of it
	// (the ESP32's programs its whole 32 KiB decompression buffer).
	ErrDeflateOverrun = errors.New("compressed writes are unsafe on this chip's ROM: it programs up to 32 KiB past the image; write uncompressed")
	// ErrSecureDownload: the chip is in Secure Download Mode, which refuses reads and verification.
	ErrSecureDownload = errors.New("the chip is in Secure Download Mode: reading and MD5 verification are not available")
)

// ConnectError is a failed connection attempt, with the text the chip printed while it was reset.
type ConnectError struct {
	Err     error  // ErrNoSync, ErrWrongBootMode or ErrDisconnected
	BootLog string // bytes seen outside SLIP frames, as text
	// BootMode is the "boot:0x.. (...)" part of the log, when present.
	BootMode string
}

// Error says what went wrong and what to do, followed by the boot log.
func (e *ConnectError) Error() string {
	var b strings.Builder
	if e.Err == ErrWrongBootMode {
		fmt.Fprintf(&b, "%v: it booted with %s; hold BOOT (IO0) low while it resets, or check the DTR/RTS auto-reset wiring", e.Err, e.BootMode)
	} else {
		b.WriteString(e.Err.Error())
	}
	if log := strings.TrimSpace(e.BootLog); log != "" {
		fmt.Fprintf(&b, "\nboot log:\n%s", log)
	}
	return b.String()
}

// Unwrap returns the sentinel error.
func (e *ConnectError) Unwrap() error { return e.Err }
