package loadersim

import (
	"bytes"
	"compress/zlib"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nvskit/nvskit/flashcrypt"
)

// Config describes the simulated chip.
type Config struct {
	// Chip is the chip to impersonate: "esp32", "esp32s2", "s3", "ESP32-C3", ... (default esp32).
	Chip string
	// FlashSize is the flash size in bytes (default 4 MiB, or the size of File's content).
	FlashSize int
	// File, if set, backs the flash: its content is loaded (padded with 0xFF to FlashSize) and
	// every change is written back to it.
	File string
	// Baud, if not 0, emulates a UART at this baud rate: every byte in either direction takes
	// 10 bit times, and CHANGE_BAUDRATE switches the rate.
	Baud int
	// Crystal26MHz gives an ESP32-C2 a 26 MHz crystal: its UART clock divider shows it, and its
	// ROM, which assumes 40 MHz, sets baud rates 26/40 of what CHANGE_BAUDRATE asks for.
	Crystal26MHz bool
	// MAC is the base MAC in eFuse (default derived from the chip name).
	MAC net.HardwareAddr
	// FlashEncryption turns flash encryption on, in development mode: CRYPT_CNT = 1 in the
	// eFuses and the GET_SECURITY_INFO reply. The ROM's encrypted writes (S2 and later) encrypt
	// with FlashKey; reads return the raw (encrypted) flash, as a chip's do.
	FlashEncryption bool
	// Release puts flash encryption on in ESP-IDF's release mode: encrypted download disabled
	// (ESP32: DISABLE_DL_ENCRYPT, _DECRYPT and _CACHE) and CRYPT_CNT write-protected.
	Release bool
	// FlashKey is the flash-encryption key as an espsecure key file holds it (ESP32: 32 or 24
	// bytes; later chips: 16, 32 or 64). nil with flash encryption on: a random key, as a chip
	// makes on its first boot, which the host cannot know (FlashKey returns it for tests).
	FlashKey []byte
	// FlashKeyReadable leaves the ESP32's BLOCK1 readable; by default a key block holding a
	// secret key is read-protected and reads as zeros.
	FlashKeyReadable bool
	// NoFlashKey: no flash-encryption key is burnt (whatever FlashEncryption says).
	NoFlashKey bool
	// KeyPurposes sets KEY_PURPOSE_n of the eFuse key blocks (S2 and later except the C2), by
	// block index. The flash key gets the first free block (XTS_AES_128_KEY, or
	// XTS_AES_256_KEY_1/2 for a 64-byte key) unless a block already has an XTS purpose.
	KeyPurposes map[int]uint8
	// DownloadEncryptDisabled sets DIS_DOWNLOAD_MANUAL_ENCRYPT (ESP32: DISABLE_DL_ENCRYPT)
	// without the rest of release mode.
	DownloadEncryptDisabled bool
	// SecureBoot turns secure boot on.
	SecureBoot bool
	// SecureDownload makes the ROM behave as in Secure Download Mode (S2 and later): reads,
	// register access and MD5 are refused.
	SecureDownload bool
	// NormalBoot makes the chip boot its application instead of the loader: it prints a
	// normal boot log and never answers.
	NormalBoot bool
	// StubRunning answers SYNC as a flasher stub does (value 0), as when an earlier session
	// left esptool's stub running.
	StubRunning bool
	// NoBanner suppresses the boot banner at the start of a session.
	NoBanner bool
	// Faults are injected into the session in order of their trigger.
	Faults []Fault
}

// FaultKind is a kind of injected fault.
type FaultKind int

// The faults the simulator can inject.
const (
	// DropByte removes one byte: from the request (the ROM then refuses it as invalid) or
	// from the reply (the client cannot parse it).
	DropByte FaultKind = iota + 1
	// CorruptByte flips one byte: in a request's payload (checksum error for *_DATA, invalid
	// length otherwise) or in the reply's length field.
	CorruptByte
	// Delay holds the reply back for Fault.Delay.
	Delay
	// Disconnect closes the stream when the command arrives, without answering.
	Disconnect
	// WrongMD5 answers SPI_FLASH_MD5 with a wrong digest.
	WrongMD5
)

// Fault is one injected fault, applied to the Nth (1-based, default 1) occurrence of the
// command Cmd (0: any command after SYNC), Count times in a row (default 1, -1: forever).
type Fault struct {
	Kind  FaultKind
	Cmd   byte
	Nth   int
	Count int
	Reply bool          // DropByte/CorruptByte: damage the reply instead of the request
	Delay time.Duration // for Delay
	// At, for CorruptByte with Reply, is the 1-based index of the reply byte (header included,
	// before framing) to invert; 0 makes the length field invalid instead.
	At int
}

// Stats counts a simulator's traffic.
type Stats struct {
	BytesIn, BytesOut int64 // bytes on the wire
	Commands          int64 // request frames handled
	Faults            int64 // faults injected
	// Baud is the rate the last CHANGE_BAUDRATE asked for (0: none yet).
	Baud int64
}

// Sim is a simulated ESP ROM loader with its flash. One Sim serves sessions one after
// another; its flash persists across them.
type Sim struct {
	cfg   Config
	chip  chip
	mu    sync.Mutex
	flash []byte
	file  *os.File
	regs  map[uint32]uint32
	// attachConfig is the pin configuration of the last SPI_ATTACH.
	attachConfig uint32
	// cryptCnt and purposes are the security eFuses the GET_SECURITY_INFO reply shows.
	cryptCnt     uint8
	purposes     [6]uint8
	generatedKey bool
	cipher       flashcrypt.Cipher
	// deflBuf is the ESP32 ROM's decompression buffer (profile.go); like the chip's RAM it
	// keeps its content from one session to the next.
	deflBuf [deflBufSize]byte

	bytesIn, bytesOut, commands, faults, baud atomic.Int64
	perCmd                                    [256]atomic.Int64
}

// New makes a simulator.
func New(cfg Config) (*Sim, error) {
	if cfg.Chip == "" {
		cfg.Chip = "esp32"
	}
	c, err := findChip(cfg.Chip)
	if err != nil {
		return nil, err
	}
	if cfg.SecureDownload && c.secInfo == 0 {
		return nil, fmt.Errorf("%s has no Secure Download Mode", c.name)
	}
	s := &Sim{cfg: cfg, chip: c}
	var content []byte
	if cfg.File != "" {
		content, err = os.ReadFile(cfg.File)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	size := cfg.FlashSize
	if size == 0 {
		size = max(4<<20, len(content))
	}
	if size < len(content) || size%4096 != 0 || size < 64<<10 || size > 128<<20 {
		return nil, fmt.Errorf("flash size %d: must be a multiple of 4096 between 64 KiB and 128 MiB, and hold the file", size)
	}
	s.flash = bytes.Repeat([]byte{0xFF}, size)
	copy(s.flash, content)
	if cfg.File != "" {
		// The flash holds what provisioning wrote: NVS keys, private keys. A new file is the
		// owner's only (less the umask); an existing one keeps its mode.
		f, err := os.OpenFile(cfg.File, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.WriteAt(s.flash, 0); err != nil {
			f.Close()
			return nil, err
		}
		s.file = f
	}
	if cfg.MAC == nil {
		cfg.MAC = net.HardwareAddr{0x24, 0x0A, 0xC4, 0x00, byte(c.id), byte(c.magic)}
		s.cfg.MAC = cfg.MAC
	}
	s.initRegs()
	if err := s.setupSecurity(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Sim) initRegs() {
	m := s.cfg.MAC
	s.regs = map[uint32]uint32{
		0x40001000:   s.chip.magic,
		s.chip.macLo: uint32(m[2])<<24 | uint32(m[3])<<16 | uint32(m[4])<<8 | uint32(m[5]),
		s.chip.macHi: uint32(m[0])<<8 | uint32(m[1]),
	}
	if s.chip.name == "ESP32-C2" {
		// UART clock divider at 115200 baud from the crystal.
		xtal := 40e6
		if s.cfg.Crystal26MHz {
			xtal = 26e6
		}
		s.regs[0x60000014] = uint32(xtal / 115200)
	}
	if s.chip.name == "ESP32" {
		// The RTC calibration value and the 8 MHz clock eFuse that make the ROM's crystal
		// estimate exactly 40 MHz (no baud drift to correct).
		s.regs[0x3FF5F06C] = 1024 << 7
		s.regs[0x3FF5A010] = 100
	}
}

// Close releases the flash file.
func (s *Sim) Close() error {
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}

// Flash returns a copy of the flash content.
func (s *Sim) Flash() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.flash...)
}

// SetFlash copies data into the flash at offset, as if it had been there all along.
func (s *Sim) SetFlash(offset int, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	copy(s.flash[offset:], data)
	s.sync(offset, len(data))
}

// Stats returns the traffic counters.
func (s *Sim) Stats() Stats {
	return Stats{BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(), Commands: s.commands.Load(), Faults: s.faults.Load(), Baud: s.baud.Load()}
}

// CommandCount returns how many requests with opcode cmd the simulator has received, refused
// ones included.
func (s *Sim) CommandCount(cmd byte) int64 { return s.perCmd[cmd].Load() }

// Reg returns the value of a simulated register (0 for one never written or preset).
func (s *Sim) Reg(addr uint32) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.regs[addr]
}

// AttachConfig returns the pin configuration word of the last SPI_ATTACH (0: default pins).
func (s *Sim) AttachConfig() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attachConfig
}

// SetReg presets a simulated register.
func (s *Sim) SetReg(addr, v uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.regs[addr] = v
}

// ChipName returns the simulated chip's name.
func (s *Sim) ChipName() string { return s.chip.name }

func (s *Sim) sync(off, n int) {
	if s.file != nil {
		s.file.WriteAt(s.flash[off:off+n], int64(off))
	}
}

// Serve runs the loader on rw until the stream ends or a fault disconnects it.
// When rw is an io.Closer it is closed on return.
func (s *Sim) Serve(rw io.ReadWriter) error {
	sess := &session{sim: s, rom: romOf(s.chip.name), rw: rw, baud: s.cfg.Baud, counts: map[byte]int{}, booted: s.cfg.NormalBoot}
	for i := range s.cfg.Faults {
		f := s.cfg.Faults[i]
		if f.Nth <= 0 {
			f.Nth = 1
		}
		if f.Count == 0 {
			f.Count = 1
		}
		sess.faults = append(sess.faults, &f)
	}
	if c, ok := rw.(io.Closer); ok {
		defer c.Close()
	}
	return sess.run()
}

// session is one connection to the loader.
type session struct {
	sim *Sim
	rom rom
	// lastOp and lastValue are the opcode and value of the last reply, which a ROM that answers
	// unsupported commands the stale way repeats.
	lastOp    byte
	lastValue uint32
	rw        io.ReadWriter
	baud      int
	synced    bool
	booted    bool // left the loader (FLASH_END) or never entered it
	attach    bool
	faults    []*Fault
	counts    map[byte]int
	closed    bool
	// lineFree is when the emulated UART has sent everything queued so far.
	lineFree time.Time

	// flash write state
	wr *writeState
}

type writeState struct {
	defl      bool
	encrypt   bool // FLASH_BEGIN with the encrypted word: each block goes through flash encryption
	offset    int
	size      int // bytes erased and writable
	blocks    int
	blockSize int
	next      int // next expected sequence number
	pos       int // bytes written so far
	in        chan []byte
	state     chan error
	done      bool
	err       error
}

// frame decoding, written independently of the client's.
type slipReader struct {
	in, esc bool
	buf     []byte
	bad     bool
}

func (d *slipReader) feed(p []byte, emit func([]byte)) {
	for _, b := range p {
		if !d.in {
			if b == 0xC0 {
				d.in, d.buf, d.esc, d.bad = true, d.buf[:0], false, false
			}
			continue
		}
		if b == 0xC0 {
			if len(d.buf) > 0 && !d.bad {
				emit(append([]byte(nil), d.buf...))
				d.in = false
			} else if d.bad {
				d.in = false
			}
			continue
		}
		if d.esc {
			d.esc = false
			switch b {
			case 0xDC:
				d.buf = append(d.buf, 0xC0)
			case 0xDD:
				d.buf = append(d.buf, 0xDB)
			default:
				d.bad = true
			}
			continue
		}
		if b == 0xDB {
			d.esc = true
			continue
		}
		if len(d.buf) < 1<<16 {
			d.buf = append(d.buf, b)
		}
	}
}

func slipWrap(p []byte) []byte {
	out := []byte{0xC0}
	for _, b := range p {
		switch b {
		case 0xC0:
			out = append(out, 0xDB, 0xDC)
		case 0xDB:
			out = append(out, 0xDB, 0xDD)
		default:
			out = append(out, b)
		}
	}
	return append(out, 0xC0)
}

// pace emulates the UART: n bytes take 10 bit times each. A virtual clock of when the line
// is next free keeps the sleeps' own overhead from adding up.
func (ss *session) pace(n int) {
	if ss.baud <= 0 || n <= 0 {
		return
	}
	now := time.Now()
	if ss.lineFree.Before(now) {
		ss.lineFree = now
	}
	ss.lineFree = ss.lineFree.Add(time.Duration(n) * 10 * time.Second / time.Duration(ss.baud))
	if d := time.Until(ss.lineFree); d > 0 {
		time.Sleep(d)
	}
}

func (ss *session) send(p []byte) error {
	if ss.closed {
		return io.ErrClosedPipe
	}
	ss.pace(len(p))
	n, err := ss.rw.Write(p)
	ss.sim.bytesOut.Add(int64(n))
	return err
}

func (ss *session) run() error {
	if ss.sim.cfg.NormalBoot && !ss.sim.cfg.NoBanner {
		ss.send([]byte(ss.sim.chip.banner[:bytes.Index([]byte(ss.sim.chip.banner), []byte("rst:"))] +
			"rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\nconfigsip: 0, SPIWP:0xee\r\nmode:DIO, clock div:2\r\nload:0x3fff0030,len:1344\r\nentry 0x400805f0\r\nI (31) boot: ESP-IDF v5.3 2nd stage bootloader\r\nI (120) app_init: Project name: blink\r\n"))
	} else if !ss.sim.cfg.NoBanner && !ss.sim.cfg.NormalBoot {
		ss.send([]byte(ss.sim.chip.banner))
	}
	defer ss.endWrite()
	var dec slipReader
	buf := make([]byte, 4096)
	for {
		n, err := ss.rw.Read(buf)
		if n > 0 {
			ss.sim.bytesIn.Add(int64(n))
			ss.pace(n)
			var frames [][]byte
			dec.feed(buf[:n], func(f []byte) { frames = append(frames, f) })
			for _, f := range frames {
				if herr := ss.handle(f); herr != nil {
					return herr
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// errDisconnect ends a session on an injected disconnect.
var errDisconnect = errors.New("loadersim: injected disconnect")

// fault returns the fault to apply to this occurrence of cmd, if any.
func (ss *session) fault(cmd byte) *Fault {
	ss.counts[cmd]++
	ss.counts[0]++
	for _, f := range ss.faults {
		n := ss.counts[f.Cmd]
		if (f.Cmd == 0 || f.Cmd == cmd) && n >= f.Nth && (f.Count < 0 || n < f.Nth+f.Count) {
			ss.sim.faults.Add(1)
			return f
		}
	}
	return nil
}

// ROM status codes.
const (
	stInvalid   = 0x05
	stFailed    = 0x06
	stChecksum  = 0x07
	stReadLen   = 0x0A
	stDeflate   = 0x0B
	stAdler     = 0x0C
	stDeflParam = 0x0D
)

func le(p []byte, i int) uint32 { return binary.LittleEndian.Uint32(p[4*i:]) }

func (ss *session) handle(f []byte) error {
	if ss.booted {
		return nil // the application is running: frames are just noise to it
	}
	if len(f) < 8 || f[0] != 0x00 {
		return nil // not a request; the ROM ignores it
	}
	cmd := f[1]
	if !ss.synced && cmd != 0x08 {
		return nil // before SYNC the ROM is still detecting the baud rate
	}
	ss.sim.commands.Add(1)
	ss.sim.perCmd[cmd].Add(1)
	var flt *Fault
	if ss.synced {
		flt = ss.fault(cmd)
	}
	if flt != nil {
		switch flt.Kind {
		case Disconnect:
			ss.closed = true
			if c, ok := ss.rw.(io.Closer); ok {
				c.Close()
			}
			return errDisconnect
		case DropByte:
			if !flt.Reply {
				f = append(f[:len(f)/2:len(f)/2], f[len(f)/2+1:]...)
			}
		case CorruptByte:
			if !flt.Reply {
				f = append([]byte(nil), f...)
				if (cmd == 0x03 || cmd == 0x11) && len(f) > 24 {
					f[24] ^= 0x5A
				} else {
					f[2] ^= 0x01
				}
			}
		}
	}
	if refused, stale := ss.rom.refusal(cmd, ss.sim.cfg.SecureDownload); refused {
		if stale {
			return ss.staleReplies()
		}
		return ss.reply(cmd, 0, nil, stInvalid, flt)
	}
	size := int(binary.LittleEndian.Uint16(f[2:]))
	var value uint32
	var payload []byte
	var status byte
	if size != len(f)-8 {
		status = stInvalid
	} else {
		value, payload, status = ss.exec(cmd, le(f, 1), f[8:], flt)
	}
	if cmd == 0x08 && status == 0 {
		// The ROM answers a SYNC several times.
		for i := 0; i < 7; i++ {
			if err := ss.reply(cmd, value, nil, 0, nil); err != nil {
				return err
			}
		}
	}
	if err := ss.reply(cmd, value, payload, status, flt); err != nil {
		return err
	}
	if cmd == 0x0F && status == 0 && ss.baud > 0 {
		ss.baud = int(le(f[8:], 0))
		if ss.sim.chip.name == "ESP32-C2" && ss.sim.cfg.Crystal26MHz {
			ss.baud = ss.baud * 26 / 40
		}
	}
	if (cmd == 0x04 || cmd == 0x12) && status == 0 {
		ss.booted = true
		ss.endWrite()
		ss.send([]byte("\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"))
	}
	return nil
}

func (ss *session) reply(cmd byte, value uint32, payload []byte, status byte, flt *Fault) error {
	data := append(append([]byte(nil), payload...), 0, 0, 0, 0)
	if status != 0 {
		data[len(payload)], data[len(payload)+1] = 1, status
	}
	p := make([]byte, 8, 8+len(data))
	p[0], p[1] = 0x01, cmd
	binary.LittleEndian.PutUint16(p[2:], uint16(len(data)))
	binary.LittleEndian.PutUint32(p[4:], value)
	p = append(p, data...)
	if flt != nil && flt.Reply {
		switch flt.Kind {
		case DropByte:
			p = append(p[:3:3], p[4:]...)
		case CorruptByte:
			if flt.At > 0 && flt.At <= len(p) {
				p[flt.At-1] ^= 0xFF
			} else {
				p[2], p[3] = 0xFF, 0xFF
			}
		}
	}
	if flt != nil && flt.Kind == Delay {
		time.Sleep(flt.Delay)
	}
	ss.lastOp, ss.lastValue = cmd, value
	return ss.send(slipWrap(p))
}

// replyRaw sends a reply with the given opcode, value and data (status bytes included).
func (ss *session) replyRaw(cmd byte, value uint32, data []byte) error {
	p := make([]byte, 8, 8+len(data))
	p[0], p[1] = 0x01, cmd
	binary.LittleEndian.PutUint16(p[2:], uint16(len(data)))
	binary.LittleEndian.PutUint32(p[4:], value)
	return ss.send(slipWrap(append(p, data...)))
}

// exec runs one well-formed command and returns the value field, the reply payload and the
// error code (0: success).
func (ss *session) exec(cmd byte, checksum uint32, d []byte, flt *Fault) (uint32, []byte, byte) {
	sdm := ss.sim.cfg.SecureDownload
	s := ss.sim
	switch cmd {
	case 0x08: // SYNC
		if len(d) != 36 || !bytes.Equal(d[:4], []byte{7, 7, 0x12, 0x20}) || bytes.Count(d[4:], []byte{0x55}) != 32 {
			return 0, nil, stInvalid
		}
		ss.synced = true
		if ss.sim.cfg.StubRunning {
			return 0, nil, 0
		}
		return 0x20120707, nil, 0
	case 0x0A: // READ_REG
		if sdm {
			return 0, nil, stInvalid
		}
		if len(d) != 4 {
			return 0, nil, stInvalid
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.regs[le(d, 0)], nil, 0
	case 0x09: // WRITE_REG
		if sdm {
			return 0, nil, stInvalid
		}
		if len(d) == 0 || len(d)%16 != 0 {
			return 0, nil, stInvalid
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for i := 0; i < len(d)/16; i++ {
			addr, v, mask := le(d, 4*i), le(d, 4*i+1), le(d, 4*i+2)
			s.regs[addr] = s.regs[addr]&^mask | v&mask
			ss.spiCommand(addr)
		}
		return 0, nil, 0
	case 0x14: // GET_SECURITY_INFO
		if ss.sim.chip.secInfo == 0 || len(d) != 0 {
			return 0, nil, stInvalid
		}
		return 0, ss.securityInfo(), 0
	case 0x0D: // SPI_ATTACH: the ROM takes 8 bytes
		if len(d) != 8 {
			return 0, nil, stInvalid
		}
		ss.attach = true
		ss.sim.mu.Lock()
		ss.sim.attachConfig = le(d, 0)
		ss.sim.mu.Unlock()
		return 0, nil, 0
	case 0x0B: // SPI_SET_PARAMS
		// A size larger than the flash is accepted, as by the ROM; writes past the end fail.
		if len(d) != 24 {
			return 0, nil, stInvalid
		}
		return 0, nil, 0
	case 0x0F: // CHANGE_BAUDRATE
		if len(d) != 8 || le(d, 0) < 300 {
			return 0, nil, stInvalid
		}
		if sdm && s.chip.name == "ESP32-C2" {
			return 0, nil, stFailed
		}
		s.baud.Store(int64(le(d, 0)))
		return 0, nil, 0
	case 0x02, 0x10: // FLASH_BEGIN, FLASH_DEFL_BEGIN
		if cmd == 0x10 && sdm {
			return 0, nil, stInvalid
		}
		if len(d) != 4*ss.sim.chip.beginWords {
			return 0, nil, stInvalid
		}
		if !ss.attach {
			return 0, nil, stFailed
		}
		if cmd == 0x10 && len(d) == 20 && le(d, 4) != 0 && ss.rom.deflEncryptRefused {
			return 0, nil, stEncryptRefused
		}
		enc := len(d) == 20 && le(d, 4) != 0
		if enc {
			if st := ss.encryptedBegin(); st != 0 {
				return 0, nil, st
			}
		}
		st := ss.begin(cmd == 0x10, int(le(d, 0)), int(le(d, 1)), int(le(d, 2)), int(le(d, 3)))
		if st == 0 && ss.wr != nil {
			ss.wr.encrypt = enc
		}
		return 0, nil, st
	case 0x03, 0x11: // FLASH_DATA, FLASH_DEFL_DATA
		return 0, nil, ss.data(cmd == 0x11, checksum, d)
	case 0x04, 0x12: // FLASH_END, FLASH_DEFL_END
		if len(d) != 4 {
			return 0, nil, stInvalid
		}
		if ss.wr == nil || ss.wr.defl != (cmd == 0x12) {
			return 0, nil, stFailed
		}
		return 0, nil, 0
	case 0x13: // SPI_FLASH_MD5
		if sdm {
			return 0, nil, stInvalid
		}
		if len(d) != 16 {
			return 0, nil, stInvalid
		}
		if !ss.attach {
			return 0, nil, stFailed
		}
		off, n := int(le(d, 0)), int(le(d, 1))
		if off < 0 || n < 0 || off+n > len(s.flash) {
			return 0, nil, stFailed
		}
		s.mu.Lock()
		sum := md5.Sum(s.flash[off : off+n])
		s.mu.Unlock()
		if flt != nil && flt.Kind == WrongMD5 {
			sum[0] ^= 0xFF
		}
		return 0, []byte(hex.EncodeToString(sum[:])), 0
	case 0x0E: // READ_FLASH_SLOW
		if sdm {
			return 0, nil, stInvalid
		}
		if len(d) != 8 {
			return 0, nil, stInvalid
		}
		if !ss.attach {
			return 0, nil, stFailed
		}
		off, n := int(le(d, 0)), int(le(d, 1))
		if n > 64 {
			return 0, nil, stReadLen
		}
		if off+n > len(s.flash) {
			return 0, nil, stFailed
		}
		p := make([]byte, 64)
		s.mu.Lock()
		copy(p, s.flash[off:off+n])
		s.mu.Unlock()
		return 0, p, 0
	}
	return 0, nil, stInvalid
}

// spiCommand runs the SPI flash "user command" when the CMD register's USR bit is set: only
// RDID (0x9F) is modelled, answering a GigaDevice part of the flash's size.
func (ss *session) spiCommand(addr uint32) {
	c := ss.sim.chip
	if addr != c.spiBase || ss.sim.regs[addr]&(1<<18) == 0 {
		return
	}
	if ss.sim.regs[c.spiBase+c.spiUsr2]&0xFFFF == 0x9F {
		capb := uint32(0)
		for 1<<capb < len(ss.sim.flash) {
			capb++
		}
		ss.sim.regs[c.spiBase+c.spiW0] = 0xC8 | 0x40<<8 | capb<<16
	}
	ss.sim.regs[addr] &^= 1 << 18
}

// begin erases the range and prepares for the data blocks.
func (ss *session) begin(defl bool, size, blocks, blockSize, offset int) byte {
	s := ss.sim
	if offset%4096 != 0 || size < 0 || offset+size > len(s.flash) || blockSize <= 0 || blockSize > 0x4000 {
		return stFailed
	}
	ss.endWrite()
	end := (offset + size + 4095) / 4096 * 4096
	s.mu.Lock()
	for i := offset; i < end; i++ {
		s.flash[i] = 0xFF
	}
	s.sync(offset, end-offset)
	s.mu.Unlock()
	w := &writeState{defl: defl, offset: offset, size: end - offset, blocks: blocks, blockSize: blockSize}
	if defl {
		w.in = make(chan []byte)
		w.state = make(chan error)
		go ss.inflate(w)
		if err := <-w.state; err != nil {
			w.done, w.err = true, err
		}
	}
	ss.wr = w
	return 0
}

// program writes p at off the way NOR flash does: bits can only go from 1 to 0.
func (s *Sim) program(off int, p []byte) {
	s.mu.Lock()
	s.programLocked(off, p)
	s.mu.Unlock()
}

// programLocked is program with s.mu held; bytes past the end of the flash are dropped.
func (s *Sim) programLocked(off int, p []byte) {
	if off >= len(s.flash) {
		return
	}
	p = p[:min(len(p), len(s.flash)-off)]
	for i, b := range p {
		s.flash[off+i] &= b
	}
	s.sync(off, len(p))
}

func (ss *session) data(defl bool, checksum uint32, d []byte) byte {
	w := ss.wr
	if w == nil || w.defl != defl || (defl && ss.sim.cfg.SecureDownload) {
		return stFailed
	}
	if len(d) < 16 {
		return stInvalid
	}
	n, seq := int(le(d, 0)), int(le(d, 1))
	p := d[16:]
	if n != len(p) {
		return stInvalid
	}
	sum := byte(0xEF)
	for _, b := range p {
		sum ^= b
	}
	if uint32(sum) != checksum {
		return stChecksum
	}
	if seq == w.next-1 {
		return 0 // a block sent again because its reply was lost: already written
	}
	if seq != w.next || seq >= w.blocks || len(p) > w.blockSize {
		return stFailed
	}
	if !defl {
		if len(p) != w.blockSize || w.pos+len(p) > w.size {
			return stFailed
		}
		if w.encrypt {
			p = ss.sim.encryptAt(w.offset+w.pos, p)
		}
		ss.sim.program(w.offset+w.pos, p)
		w.pos += len(p)
		w.next++
		return 0
	}
	if w.done {
		if w.err != nil {
			return stDeflate
		}
		return stDeflParam // data after the end of the stream
	}
	w.in <- p
	err := <-w.state
	w.next++
	if err == nil {
		return 0
	}
	w.done = true
	if err == io.EOF {
		return 0
	}
	w.err = err
	if w.pos > w.size {
		return stFailed
	}
	if errors.Is(err, zlib.ErrChecksum) {
		return stAdler
	}
	return stDeflate
}

// inflate runs the decompressor for one FLASH_DEFL session. It reports on w.state each time it
// needs input (nil), at the end of the stream (io.EOF) or on an error.
func (ss *session) inflate(w *writeState) {
	src := &chanReader{in: w.in, state: w.state}
	zr, err := zlib.NewReader(src)
	if err != nil {
		w.state <- err
		return
	}
	sink := &deflSink{s: ss.sim, offset: w.offset, overrun: ss.rom.deflateOverrun}
	buf := make([]byte, 4096)
	for {
		n, err := zr.Read(buf)
		if n > 0 {
			if w.pos+n > w.size {
				w.pos += n
				w.state <- errors.New("inflated data beyond the erased range")
				return
			}
			sink.write(buf[:n])
			w.pos += n
		}
		if err == io.EOF {
			sink.end()
			w.state <- io.EOF
			return
		}
		if err != nil {
			if !src.closed {
				w.state <- err
			}
			return
		}
	}
}

// chanReader hands the decompressor one block at a time.
type chanReader struct {
	in     chan []byte
	state  chan error
	buf    []byte
	closed bool
}

func (r *chanReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		r.state <- nil
		b, ok := <-r.in
		if !ok {
			r.closed = true
			return 0, io.ErrUnexpectedEOF
		}
		r.buf = b
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// endWrite stops a running decompressor.
func (ss *session) endWrite() {
	if w := ss.wr; w != nil && w.defl && !w.done {
		close(w.in)
		w.done = true
	}
	ss.wr = nil
}
