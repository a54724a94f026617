package loadersim

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/nvskit/nvskit/flashcrypt"
)

// This file models a chip's security eFuses as its ROM loader shows them: the GET_SECURITY_INFO
// reply and the eFuse read registers (device-security notes §1.2, §1.3), written from the notes
// independently of the client's decoder.

// Key purposes used by the simulator.
const (
	purposeXTS256Key1 = 2
	purposeXTS256Key2 = 3
	purposeXTS128     = 4
	purposeHMACUp     = 8
)

// efuseMap is where one chip keeps the eFuse fields the simulator sets.
type efuseMap struct {
	wrDis, blk0, cnt, purpA, purpB, sdmReg, sbReg uint32 // register addresses
	cntShift                                      uint
	dlEncBit, sbBit, sdmBit, wpBit                uint
	purpWidth                                     uint // 4, or 5 on the C5
	purpShiftA                                    [2]uint
	keyData                                       uint32 // BLOCK_KEY0's first word
	blocks                                        int
}

func s2Like(base uint32, dlEncBit uint) efuseMap {
	return efuseMap{wrDis: base + 0x2C, blk0: base + 0x30, cnt: base + 0x34, purpA: base + 0x34, purpB: base + 0x38,
		sdmReg: base + 0x3C, sbReg: base + 0x38, cntShift: 18, dlEncBit: dlEncBit, sbBit: 20, sdmBit: 5, wpBit: 4,
		purpWidth: 4, purpShiftA: [2]uint{24, 28}, keyData: base + 0x9C, blocks: 6}
}

func efuseMapOf(chip string) (efuseMap, bool) {
	switch chip {
	case "ESP32-S2":
		return s2Like(0x3F41A000, 19), true
	case "ESP32-S3":
		return s2Like(0x60007000, 20), true
	case "ESP32-C3":
		return s2Like(0x60008800, 20), true
	case "ESP32-C6", "ESP32-H2":
		return s2Like(0x600B0800, 20), true
	case "ESP32-P4":
		return s2Like(0x5012D000, 20), true
	case "ESP32-C5":
		m := s2Like(0x600B4800, 20)
		m.cntShift, m.sbBit, m.purpWidth, m.purpShiftA = 16, 25, 5, [2]uint{22, 27}
		return m, true
	case "ESP32-C2":
		return efuseMap{wrDis: 0x6000882C, blk0: 0x60008830, cnt: 0x60008830, sdmReg: 0x60008830, sbReg: 0x60008830,
			cntShift: 7, dlEncBit: 6, sbBit: 21, sdmBit: 16, wpBit: 2, keyData: 0x60008860, blocks: 1}, true
	}
	return efuseMap{}, false
}

// setupSecurity fills the simulated eFuses from the configuration and picks the flash key.
func (s *Sim) setupSecurity() error {
	cfg := &s.cfg
	name := s.chip.name
	if cfg.FlashKey == nil && (cfg.FlashEncryption || cfg.Release) && !cfg.NoFlashKey {
		// A chip enabling flash encryption on first boot makes its own key, which nobody knows.
		n := 32
		if name == "ESP32-C2" {
			n = 16
		}
		cfg.FlashKey = make([]byte, n)
		rand.Read(cfg.FlashKey)
		s.generatedKey = true
	}
	if cfg.FlashKey != nil {
		if err := checkSimKey(name, cfg.FlashKey); err != nil {
			return err
		}
	}
	if cfg.Release {
		cfg.FlashEncryption = true
	}
	cnt := uint32(0)
	if cfg.FlashEncryption {
		cnt = 1
	}
	s.cryptCnt = uint8(cnt)
	if name == "ESP32" {
		w0 := cnt << 20
		w6 := uint32(0)
		if cfg.Release {
			w0 |= 1 << 2 // FLASH_CRYPT_CNT write-protected
			w6 |= 1<<7 | 1<<8 | 1<<9
		}
		if cfg.DownloadEncryptDisabled {
			w6 |= 1 << 7
		}
		if cfg.SecureBoot {
			w6 |= 1 << 5
		}
		if cfg.FlashKey != nil && !cfg.NoFlashKey {
			s.regs[0x3FF5A014] |= 0xF << 28 // FLASH_CRYPT_CONFIG
			if !cfg.FlashKeyReadable {
				w0 |= 1 << 16 // RD_DIS of BLOCK1
			} else {
				s.setKeyWords(0x3FF5A038, cfg.FlashKey, true)
			}
		}
		s.regs[0x3FF5A000] |= w0
		s.regs[0x3FF5A018] |= w6
		return nil
	}
	m, ok := efuseMapOf(name)
	if !ok {
		return nil
	}
	set := func(addr uint32, v uint32) { s.regs[addr] |= v }
	set(m.cnt, cnt<<m.cntShift)
	if cfg.Release {
		set(m.wrDis, 1<<m.wpBit)
		set(m.blk0, 1<<m.dlEncBit)
	}
	if cfg.DownloadEncryptDisabled {
		set(m.blk0, 1<<m.dlEncBit)
	}
	if cfg.SecureBoot {
		set(m.sbReg, 1<<m.sbBit)
	}
	if cfg.SecureDownload {
		set(m.sdmReg, 1<<m.sdmBit)
	}
	if name == "ESP32-C2" {
		if cfg.FlashKey != nil && !cfg.NoFlashKey {
			if len(cfg.FlashKey) != 16 {
				set(0x60008830, 1<<10) // XTS_KEY_LENGTH_256
				set(0x60008830, 3)     // RD_DIS of the whole block
			} else {
				set(0x60008830, 1)
			}
		}
		return nil
	}
	purposes := map[int]uint8{}
	for i, p := range cfg.KeyPurposes {
		purposes[i] = p
	}
	if cfg.FlashKey != nil && !cfg.NoFlashKey && !hasXTSPurpose(purposes) {
		free := freeBlocks(purposes, m.blocks)
		switch {
		case len(cfg.FlashKey) == 64 && len(free) >= 2:
			purposes[free[0]], purposes[free[1]] = purposeXTS256Key1, purposeXTS256Key2
		case len(free) >= 1:
			purposes[free[0]] = purposeXTS128
		default:
			return fmt.Errorf("no free eFuse key block for the flash key")
		}
	}
	for i, p := range purposes {
		if i < 0 || i >= m.blocks {
			return fmt.Errorf("key block %d: the %s has BLOCK_KEY0..%d", i, name, m.blocks-1)
		}
		if p >= 1<<m.purpWidth {
			return fmt.Errorf("key purpose %d does not fit the %s's %d-bit field", p, name, m.purpWidth)
		}
		addr, shift := m.purpB, uint(4*(i-2))
		if m.purpWidth == 5 {
			shift = uint(5 * (i - 2))
		}
		if i < 2 {
			addr, shift = m.purpA, m.purpShiftA[i]
		}
		set(addr, uint32(p)<<shift)
		s.purposes[i] = p
		if p >= purposeXTS256Key1 && p <= purposeHMACUp {
			// Secret keys are burnt read-protected, as ESP-IDF and espefuse do; their data reads
			// back as zeros.
			set(m.blk0, 1<<uint(i))
		}
	}
	return nil
}

// setKeyWords stores a key block's data the way espefuse burns it: the key file byte-reversed
// for flash-encryption keys, then as little-endian words.
func (s *Sim) setKeyWords(addr uint32, key []byte, reverse bool) {
	b := append([]byte(nil), key...)
	if reverse {
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
	}
	for w := 0; w+4 <= len(b) && w < 32; w += 4 {
		s.regs[addr+uint32(w)] = binary.LittleEndian.Uint32(b[w:])
	}
}

func hasXTSPurpose(p map[int]uint8) bool {
	for _, v := range p {
		if v == purposeXTS128 || v == purposeXTS256Key1 {
			return true
		}
	}
	return false
}

func freeBlocks(p map[int]uint8, n int) []int {
	var free []int
	for i := 0; i < n; i++ {
		if p[i] == 0 {
			free = append(free, i)
		}
	}
	return free
}

func checkSimKey(chip string, key []byte) error {
	switch {
	case chip == "ESP32" && (len(key) == 32 || len(key) == 24):
		return nil
	case chip != "ESP32" && (len(key) == 16 || len(key) == 32 || len(key) == 64):
		if len(key) == 64 && chip != "ESP32-S2" && chip != "ESP32-S3" && chip != "ESP32-P4" {
			return fmt.Errorf("the %s has no XTS-AES-256 flash encryption: give a 32-byte key", chip)
		}
		return nil
	}
	return fmt.Errorf("flash key of %d bytes: the %s takes %s", len(key), chip, map[bool]string{true: "32 (or 24) bytes", false: "16, 32 or 64 bytes"}[chip == "ESP32"])
}

// securityInfo builds the GET_SECURITY_INFO payload: flags, the crypt counter, the key purposes
// and, in the 20-byte form, the chip id and API version.
func (ss *session) securityInfo() []byte {
	s := ss.sim
	p := make([]byte, s.chip.secInfo)
	var flags uint32
	if s.cfg.SecureBoot {
		flags |= 1 << 0
	}
	if s.cfg.SecureDownload {
		flags |= 1 << 2
	}
	binary.LittleEndian.PutUint32(p, flags)
	p[4] = s.cryptCnt
	copy(p[5:11], s.purposes[:])
	if s.chip.name == "ESP32-C3" {
		p[11] = 0x0C // what a blank C3 returns in the 7th purpose byte (observed)
	}
	if len(p) == 20 {
		binary.LittleEndian.PutUint32(p[12:], s.chip.id)
		api := uint32(1)
		if s.chip.name == "ESP32-C3" {
			api = 3
		}
		binary.LittleEndian.PutUint32(p[16:], api)
	}
	return p
}

// FlashKey returns the key the simulated chip encrypts with (generated when the configuration
// gave none), as an espsecure key file holds it.
func (s *Sim) FlashKey() []byte { return append([]byte(nil), s.cfg.FlashKey...) }

// encryptedBegin checks a FLASH_BEGIN with the encrypted word set: a ROM refuses it with 01 64
// when encrypted download is disabled (observed on the C3; assumed for the other chips). The
// compressed form is refused per ROM profile (profile.go).
func (ss *session) encryptedBegin() byte {
	s := ss.sim
	if s.cfg.Release || s.cfg.DownloadEncryptDisabled {
		return stEncryptRefused
	}
	return 0
}

// encryptAt returns block p as the chip's flash encryption stores it at absolute address addr,
// with the simulated chip's key. With no key burnt the C3 ROM under QEMU encrypted with an
// all-zero key; the simulator does the same (what hardware does is unconfirmed).
func (s *Sim) encryptAt(addr int, p []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cipher == nil {
		key := s.cfg.FlashKey
		if key == nil || s.cfg.NoFlashKey {
			key = make([]byte, 32)
		}
		c, err := flashcrypt.New(flashcrypt.SchemeForChip(s.chip.name), key, flashcrypt.DefaultCryptConf)
		if err != nil {
			// The key was checked in New; fall back to the zero key rather than store plaintext.
			c, _ = flashcrypt.New(flashcrypt.SchemeForChip(s.chip.name), make([]byte, 32), flashcrypt.DefaultCryptConf)
		}
		s.cipher = c
	}
	out := make([]byte, len(p))
	if err := s.cipher.Encrypt(out, p, uint32(addr)); err != nil {
		return p
	}
	return out
}

// FlashEncryption reports whether the simulated chip has flash encryption on.
func (s *Sim) FlashEncryption() bool { return s.cryptCnt&1 == 1 }
