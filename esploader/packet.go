package esploader

import (
	"encoding/binary"
	"fmt"
)

// Command is a loader command code.
type Command byte

// The loader commands nvskit uses (and a few it recognises in replies).
const (
	CmdFlashBegin      Command = 0x02
	CmdFlashData       Command = 0x03
	CmdFlashEnd        Command = 0x04
	CmdMemBegin        Command = 0x05
	CmdMemEnd          Command = 0x06
	CmdMemData         Command = 0x07
	CmdSync            Command = 0x08
	CmdWriteReg        Command = 0x09
	CmdReadReg         Command = 0x0A
	CmdSPISetParams    Command = 0x0B
	CmdSPIAttach       Command = 0x0D
	CmdReadFlashSlow   Command = 0x0E
	CmdChangeBaudrate  Command = 0x0F
	CmdFlashDeflBegin  Command = 0x10
	CmdFlashDeflData   Command = 0x11
	CmdFlashDeflEnd    Command = 0x12
	CmdSPIFlashMD5     Command = 0x13
	CmdGetSecurityInfo Command = 0x14
)

var cmdNames = map[Command]string{
	CmdFlashBegin: "FLASH_BEGIN", CmdFlashData: "FLASH_DATA", CmdFlashEnd: "FLASH_END",
	CmdMemBegin: "MEM_BEGIN", CmdMemEnd: "MEM_END", CmdMemData: "MEM_DATA", CmdSync: "SYNC",
	CmdWriteReg: "WRITE_REG", CmdReadReg: "READ_REG", CmdSPISetParams: "SPI_SET_PARAMS",
	CmdSPIAttach: "SPI_ATTACH", CmdReadFlashSlow: "READ_FLASH_SLOW", CmdChangeBaudrate: "CHANGE_BAUDRATE",
	CmdFlashDeflBegin: "FLASH_DEFL_BEGIN", CmdFlashDeflData: "FLASH_DEFL_DATA", CmdFlashDeflEnd: "FLASH_DEFL_END",
	CmdSPIFlashMD5: "SPI_FLASH_MD5", CmdGetSecurityInfo: "GET_SECURITY_INFO",
}

// String returns the command's protocol name, or its hex code.
func (c Command) String() string {
	if n, ok := cmdNames[c]; ok {
		return n
	}
	return fmt.Sprintf("command 0x%02X", byte(c))
}

// syncValue is what a ROM loader puts in the value field of its SYNC replies.
const syncValue = 0x20120707

// syncData is the SYNC request's data: 07 07 12 20 followed by 32 bytes of 0x55.
func syncData() []byte {
	b := []byte{0x07, 0x07, 0x12, 0x20}
	for i := 0; i < 32; i++ {
		b = append(b, 0x55)
	}
	return b
}

// EncodeRequest lays out a request packet (before SLIP framing): direction 0, the command,
// the data length, the checksum word and the data.
func EncodeRequest(cmd Command, data []byte, checksum uint32) []byte {
	p := make([]byte, 8+len(data))
	p[0] = 0x00
	p[1] = byte(cmd)
	binary.LittleEndian.PutUint16(p[2:], uint16(len(data)))
	binary.LittleEndian.PutUint32(p[4:], checksum)
	copy(p[8:], data)
	return p
}

// Checksum is the *_DATA commands' checksum: 0xEF XORed with every payload byte.
func Checksum(payload []byte) uint32 {
	c := byte(0xEF)
	for _, b := range payload {
		c ^= b
	}
	return uint32(c)
}

// words packs little-endian 32-bit words.
func words(ws ...uint32) []byte {
	b := make([]byte, 4*len(ws))
	for i, w := range ws {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

// Response is one reply packet from the loader.
type Response struct {
	Cmd Command
	// Value is the 32-bit value field (READ_REG's result; 0x20120707 in a ROM's SYNC reply).
	Value uint32
	// Data is the reply data: the command's payload followed by the status bytes.
	Data []byte
}

// ParseResponse parses an unframed reply packet. It rejects packets that are not replies
// (direction byte not 1), shorter than the 8-byte header, or whose length field exceeds
// the data present. Bytes beyond the length field are ignored.
func ParseResponse(p []byte) (Response, error) {
	if len(p) < 8 {
		return Response{}, fmt.Errorf("%w: %d bytes, need at least 8", ErrBadReply, len(p))
	}
	if p[0] != 0x01 {
		return Response{}, fmt.Errorf("%w: direction byte 0x%02X, want 0x01", ErrBadReply, p[0])
	}
	n := int(binary.LittleEndian.Uint16(p[2:]))
	if 8+n > len(p) {
		return Response{}, fmt.Errorf("%w: length field %d but %d data bytes", ErrBadReply, n, len(p)-8)
	}
	return Response{
		Cmd:   Command(p[1]),
		Value: binary.LittleEndian.Uint32(p[4:]),
		Data:  append([]byte(nil), p[8:8+n]...),
	}, nil
}

// Status splits the reply data into the command's payload (payloadLen bytes) and checks the
// status bytes after it. ROM loaders of the ESP32 family send 4 status bytes [status, error, 0, 0];
// stub loaders and the ESP8266 ROM send 2, with the stub putting its error code in the first.
// Any non-zero status is returned as a *StatusError.
func (r Response) Status(payloadLen int) ([]byte, error) {
	if payloadLen < 0 || len(r.Data) < payloadLen+2 {
		return nil, fmt.Errorf("%w: %s reply has %d data bytes, want %d payload + status", ErrBadReply, r.Cmd, len(r.Data), payloadLen)
	}
	st := r.Data[payloadLen:]
	if st[0] != 0 {
		e := &StatusError{Cmd: r.Cmd, Status: st[0]}
		if len(st) >= 4 {
			e.Code = st[1]
		} else {
			e.Code = st[0]
		}
		return nil, e
	}
	return r.Data[:payloadLen], nil
}

// StatusError is a command the loader answered with a failure status.
type StatusError struct {
	Cmd    Command
	Status byte // first status byte (1 on a ROM, the error code on a stub)
	Code   byte // the reason code
	// Stale is set when the refusal came in replies carrying another command's opcode: the way
	// the ESP32 ROM answers a command it does not implement.
	Stale bool
}

// ROM and stub error codes, as found in the second (ROM) or first (stub) status byte.
const (
	CodeInvalidMessage = 0x05 // also the reply to an unsupported command
	CodeFailed         = 0x06
	CodeChecksum       = 0x07
	CodeFlashWrite     = 0x08
	CodeFlashRead      = 0x09
	CodeReadLength     = 0x0A
	CodeDeflate        = 0x0B
	CodeAdler32        = 0x0C
	CodeDeflateParam   = 0x0D
)

var codeText = map[byte]string{
	CodeInvalidMessage: "invalid message or unsupported command",
	CodeFailed:         "operation failed",
	CodeChecksum:       "checksum error",
	CodeFlashWrite:     "flash write error",
	CodeFlashRead:      "flash read error",
	CodeReadLength:     "flash read length error",
	CodeDeflate:        "deflate error",
	CodeAdler32:        "deflate Adler-32 error",
	CodeDeflateParam:   "deflate parameter error",
	0x0E:               "bad RAM size", 0x0F: "bad RAM address",
	0xC0: "bad data length", 0xC1: "bad checksum", 0xC2: "bad block size", 0xC3: "invalid command",
	0xC4: "SPI operation failed", 0xC5: "SPI unlock failed", 0xC6: "not in flash mode",
	0xC7: "inflate error", 0xC8: "not enough data", 0xC9: "too much data", 0xFF: "command not implemented",
}

// Error describes the failed command and the loader's reason.
func (e *StatusError) Error() string {
	t, ok := codeText[e.Code]
	if !ok {
		t = "error"
	}
	if e.Stale {
		return fmt.Sprintf("%s is not supported by this loader (it answered with another command's reply, status 0x%02X, code 0x%02X)", e.Cmd, e.Status, e.Code)
	}
	return fmt.Sprintf("%s failed: %s (status 0x%02X, code 0x%02X)", e.Cmd, t, e.Status, e.Code)
}

// Unsupported reports whether the loader refused the command as unknown or invalid (a ROM's
// code 0x05 is both; see Loader for how the two are told apart).
func (e *StatusError) Unsupported() bool {
	return e.Code == CodeInvalidMessage || e.Code == 0xFF || e.Code == 0xC3
}
