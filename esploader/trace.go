package esploader

import "fmt"

// Trace redaction: unless Options.TraceData is set, the trace shows no data that may be secret:
// the payload of FLASH_DATA, FLASH_DEFL_DATA and MEM_DATA requests, the data of READ_FLASH_SLOW
// replies, and the value READ_REG returns from an eFuse key block. The headers, lengths and
// status bytes stay, which is what a bug report needs.

// secretRegs are the eFuse key blocks of every chip, as [first, end) address ranges: the
// ESP32's BLOCK1..3 (flash-encryption key, secure-boot key, user block) and BLOCK_KEY0..5 of
// the later chips (the C2's single BLOCK_KEY0).
var secretRegs = [][2]uint32{
	{0x3FF5A038, 0x3FF5A098}, // ESP32
	{0x3F41A09C, 0x3F41A15C}, // ESP32-S2
	{0x6000709C, 0x6000715C}, // ESP32-S3
	{0x60008860, 0x60008880}, // ESP32-C2
	{0x6000889C, 0x6000895C}, // ESP32-C3
	{0x600B489C, 0x600B495C}, // ESP32-C5
	{0x600B089C, 0x600B095C}, // ESP32-C6, -H2
	{0x5012D09C, 0x5012D15C}, // ESP32-P4
}

func secretReg(addr uint32) bool {
	for _, r := range secretRegs {
		if addr >= r[0] && addr < r[1] {
			return true
		}
	}
	return false
}

// redact returns the text to trace for packet p (dir ">" for requests, "<" for replies), with
// data payloads replaced by their length. lastReg is the address of the last READ_REG request.
func redact(dir string, p []byte, lastReg uint32) (shown []byte, note string) {
	if len(p) < 8 {
		return p, ""
	}
	cmd := Command(p[1])
	switch {
	case dir == ">" && (cmd == CmdFlashData || cmd == CmdFlashDeflData || cmd == CmdMemData) && len(p) > 24:
		return p[:24], fmt.Sprintf(" [%d data bytes not shown; --trace-data shows them]", len(p)-24)
	case dir == "<" && cmd == CmdReadFlashSlow && len(p) > 12:
		return p[:8], fmt.Sprintf(" [%d data bytes not shown; --trace-data shows them] % x", len(p)-12, p[len(p)-4:])
	case dir == "<" && cmd == CmdReadReg && secretReg(lastReg):
		q := append([]byte(nil), p...)
		copy(q[4:8], "????")
		return q, " [eFuse key word not shown; --trace-data shows it]"
	}
	return p, ""
}
