package esploader

// This file holds what nvskit relies on in each chip's ROM loader where the ROMs differ, and
// the decision taken for every command nvskit sends. docs/flashing.md has the same table for
// users, with where each behaviour comes from (observed on the real ROM code, or taken from
// esptool and the documentation).

// implements reports whether the ROM loader runs cmd in its current mode, so that a refusal
// (status 01 05, the ROMs' code for both "invalid message" and "unknown command") can be told
// apart: from a loader that runs the command, it means the request arrived garbled and is sent
// again; otherwise it is final and nvskit falls back or stops at once.
//
//   - SYNC, SPI_ATTACH, SPI_SET_PARAMS, CHANGE_BAUDRATE, FLASH_BEGIN, FLASH_DATA: every ROM.
//   - GET_SECURITY_INFO: the ESP32-S2 and later; not the ESP32, whose ROM answers it with stale
//     replies of the previous command (see conn.command). It is sent before the chip is known,
//     so a refusal then is final and detection falls back to the magic register.
//   - READ_REG, WRITE_REG, READ_FLASH_SLOW, SPI_FLASH_MD5, FLASH_DEFL_*: every ROM, except in
//     Secure Download Mode. Before the chip is known, READ_REG counts as run unless the
//     security info says Secure Download Mode (an ESP32-S2 in that mode is recognised by the
//     refusal).
func (l *Loader) implements(cmd Command) bool {
	sdm := l.sec != nil && l.sec.SecureDownload()
	switch cmd {
	case CmdGetSecurityInfo:
		return l.chip.Name != "" && l.chip.SecurityInfo
	case CmdReadReg, CmdWriteReg, CmdReadFlashSlow, CmdSPIFlashMD5, CmdFlashDeflBegin, CmdFlashDeflData, CmdFlashDeflEnd:
		return !sdm
	}
	return true
}

// romWrites says how a chip's ROM loader handles compressed writes.
type romWrites int

const (
	// deflateUnsafe: the ROM programs past the end of a compressed write (the ESP32: at the end
	// of the stream it programs its whole 32 KiB decompression buffer, observed on the real ROM
	// code), so nvskit writes uncompressed.
	deflateUnsafe romWrites = iota
	// deflateUnconfirmed: nobody has checked what the ROM programs at the end of a compressed
	// write; nvskit writes uncompressed, which every ROM programs exactly.
	deflateUnconfirmed
	// deflateExact: the ROM programs exactly the image (the ESP32-C3, observed on the real ROM
	// code); nvskit compresses.
	deflateExact
)

// deflateBehaviour returns how the chip's ROM handles compressed writes.
func deflateBehaviour(c Chip) romWrites {
	switch c.Name {
	case "ESP32":
		return deflateUnsafe
	case "ESP32-C3":
		return deflateExact
	}
	return deflateUnconfirmed
}

// CompressesWrites reports whether WriteFlash compresses by default on this chip: only where
// the ROM is known to program exactly the image (ESP32-C3). The ESP32 ROM programs its whole
// 32 KiB decompression buffer at the end of a compressed write, over whatever follows the image;
// the other ROMs have not been checked, so they get uncompressed writes.
func (c Chip) CompressesWrites() bool { return deflateBehaviour(c) == deflateExact }
