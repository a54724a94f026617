package loadersim

// This file holds the per-chip ROM behaviours the simulator models where the ROM loaders
// differ from one another. Each behaviour names where it comes from: "observed" means seen on
// the real ROM code (ESP32 v3 ROM "ets Jul 29 2019", ESP32-C3 "esp32c3-api1-20210207", both run
// under Espressif's QEMU next to esptool v5.3.1); "esptool" means inferred from how esptool
// handles the ROM; "assumed" means neither, and the simulator takes the cautious side.

// deflBufSize is the ESP32 ROM's decompression buffer: the inflater's 32 KiB window.
const deflBufSize = 32 << 10

// Status codes only some ROMs send.
const (
	// stEncryptRefused is the C3 ROM's answer to FLASH_DEFL_BEGIN with the encrypted word set.
	stEncryptRefused = 0x64
)

// rom is how one chip's ROM loader behaves where ROMs differ.
type rom struct {
	// commands are the opcodes the ROM implements; any other opcode is unsupported.
	commands map[byte]bool
	// staleUnsupported is how the ROM answers an opcode it does not implement (and, with
	// staleSDM, one Secure Download Mode refuses): 0 means one reply with the request's own
	// opcode and status 01 05; n > 0 means n replies that repeat the previous reply's opcode and
	// value with status 01 05 and nothing else (ESP32: observed; the count was not recorded, the
	// simulator sends 3).
	staleUnsupported int
	// staleSDM: commands refused in Secure Download Mode are answered the stale way too (ESP32-S2:
	// esptool recognises an S2 in Secure Download Mode by READ_REG being refused with another
	// opcode).
	staleSDM bool
	// deflateOverrun: at the end of a FLASH_DEFL stream the ROM programs its whole 32 KiB
	// decompression buffer, so up to 32 KiB after the image gets what the buffer held from the
	// previous compressed write (ESP32: observed). Without it the ROM programs exactly the image
	// (C3: observed; later chips: assumed).
	deflateOverrun bool
	// deflEncryptRefused: FLASH_DEFL_BEGIN with the 5th (encrypted) word set is refused with
	// 01 64 (C3: observed; other chips with a 5-word begin: assumed).
	deflEncryptRefused bool
}

// esp32Commands are the opcodes of the ESP32 ROM loader: FLASH_BEGIN to SPI_FLASH_MD5. It has
// no GET_SECURITY_INFO (observed) and none of the stub's 0xD0.. commands.
var esp32Commands = opcodes(0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13)

// laterCommands are the opcodes of the ROM loaders of the ESP32-S2 and later: the ESP32's and
// GET_SECURITY_INFO (FLASH_ENCRYPT_DATA, 0xD4, is refused by the C3 ROM: observed).
var laterCommands = opcodes(0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14)

func opcodes(ops ...byte) map[byte]bool {
	m := map[byte]bool{}
	for _, o := range ops {
		m[o] = true
	}
	return m
}

// sdmRefused are the commands a ROM in Secure Download Mode refuses: register access, reads,
// MD5 and compressed writes (C3: observed; S2 and later: esptool).
var sdmRefused = opcodes(0x09, 0x0A, 0x0E, 0x10, 0x11, 0x12, 0x13)

// romOf returns the ROM behaviour of the named chip.
func romOf(chipName string) rom {
	switch chipName {
	case "ESP32":
		return rom{commands: esp32Commands, staleUnsupported: 3, deflateOverrun: true}
	case "ESP32-S2":
		return rom{commands: laterCommands, staleUnsupported: 3, staleSDM: true, deflEncryptRefused: true}
	default:
		return rom{commands: laterCommands, deflEncryptRefused: true}
	}
}

// refusal reports whether the ROM refuses cmd before running it: unknown to it, or not allowed in
// Secure Download Mode. stale says it answers with stale replies rather than its own opcode.
func (r rom) refusal(cmd byte, sdm bool) (refused, stale bool) {
	if !r.commands[cmd] {
		return true, r.staleUnsupported > 0
	}
	if sdm && sdmRefused[cmd] {
		return true, r.staleSDM && r.staleUnsupported > 0
	}
	return false, false
}

// staleReplies sends the replies a ROM that answers the stale way gives to a refused command:
// the previous reply's opcode and value, status 01 05.
func (ss *session) staleReplies() error {
	for i := 0; i < ss.rom.staleUnsupported; i++ {
		if err := ss.replyRaw(ss.lastOp, ss.lastValue, []byte{1, stInvalid, 0, 0}); err != nil {
			return err
		}
	}
	return nil
}

// deflSink receives the inflated bytes of one FLASH_DEFL stream and programs them the way the
// ROM does: straight to flash, or (deflateOverrun) through the 32 KiB buffer, flushed whole
// each time it fills and once more at the end of the stream.
type deflSink struct {
	s       *Sim
	offset  int // where the stream's first byte goes
	overrun bool
	written int // bytes programmed through the buffer so far (multiples of deflBufSize)
	pos     int // fill level of the buffer
}

func (k *deflSink) write(p []byte) {
	if !k.overrun {
		k.s.program(k.offset+k.written+k.pos, p)
		k.pos += len(p)
		return
	}
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	for len(p) > 0 {
		n := copy(k.s.deflBuf[k.pos:], p)
		k.pos += n
		p = p[n:]
		if k.pos == deflBufSize {
			k.s.programLocked(k.offset+k.written, k.s.deflBuf[:])
			k.written += deflBufSize
			k.pos = 0
		}
	}
}

// end is called when the stream ends: the overrunning ROM programs the whole buffer, whatever
// part of it this stream filled.
func (k *deflSink) end() {
	if !k.overrun {
		return
	}
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	k.s.programLocked(k.offset+k.written, k.s.deflBuf[:])
}
