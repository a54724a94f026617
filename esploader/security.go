package esploader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sort"
)

// ErrSecurityInfoLength: a GET_SECURITY_INFO payload is neither the 12-byte (ESP32-S2) nor the
// 20-byte form.
var ErrSecurityInfoLength = errors.New("security info is neither 12 nor 20 bytes")

// ParseSecurityInfo decodes a GET_SECURITY_INFO reply payload (the data before the status
// bytes): u32 flags, u8 FLASH_CRYPT_CNT, 7 key-purpose bytes and, in the 20-byte form, u32 chip
// id and u32 API version. Longer payloads are decoded as the 20-byte form and the rest ignored.
func ParseSecurityInfo(p []byte) (SecurityInfo, error) {
	if len(p) < 12 || (len(p) > 12 && len(p) < 20) {
		return SecurityInfo{}, fmt.Errorf("%w: %d bytes", ErrSecurityInfoLength, len(p))
	}
	si := SecurityInfo{Flags: binary.LittleEndian.Uint32(p), FlashCryptCnt: p[4]}
	copy(si.KeyPurposes[:], p[5:12])
	if len(p) >= 20 {
		si.ChipID, si.APIVersion, si.HasChipID = binary.LittleEndian.Uint32(p[12:]), binary.LittleEndian.Uint32(p[16:]), true
	}
	return si, nil
}

// Key purposes of the eFuse key blocks (KEY_PURPOSE_n) of the ESP32-S2 and later chips.
const (
	PurposeUser             = 0
	PurposeXTSAES256Key1    = 2
	PurposeXTSAES256Key2    = 3
	PurposeXTSAES128Key     = 4
	PurposeHMACDownAll      = 5
	PurposeHMACDownJTAG     = 6
	PurposeHMACDownDS       = 7
	PurposeHMACUp           = 8 // the purpose the NVS HMAC scheme uses
	PurposeSecureBootDigest = 9 // 9, 10, 11: SECURE_BOOT_DIGEST0..2
	PurposeKMInitKey        = 12
	PurposeXTSAES128PSRAM   = 15
)

// PurposeName returns espefuse's name of a key purpose value on the named chip.
func PurposeName(chip string, v uint8) string {
	switch v {
	case PurposeUser:
		return "USER"
	case 1:
		switch chip {
		case "ESP32-H2", "ESP32-C5", "ESP32-P4":
			return "ECDSA_KEY"
		}
		return "RESERVED"
	case PurposeXTSAES256Key1, PurposeXTSAES256Key2:
		switch chip {
		case "ESP32-S2", "ESP32-S3", "ESP32-P4":
			return fmt.Sprintf("XTS_AES_256_KEY_%d", v-1)
		}
		return "RESERVED"
	case PurposeXTSAES128Key:
		return "XTS_AES_128_KEY"
	case PurposeHMACDownAll:
		return "HMAC_DOWN_ALL"
	case PurposeHMACDownJTAG:
		return "HMAC_DOWN_JTAG"
	case PurposeHMACDownDS:
		return "HMAC_DOWN_DIGITAL_SIGNATURE"
	case PurposeHMACUp:
		return "HMAC_UP"
	case 9, 10, 11:
		return fmt.Sprintf("SECURE_BOOT_DIGEST%d", v-9)
	case PurposeKMInitKey:
		return "KM_INIT_KEY"
	case PurposeXTSAES128PSRAM:
		return "XTS_AES_128_PSRAM_KEY"
	case 16:
		return "ECDSA_KEY_P192"
	case 17:
		return "ECDSA_KEY_P384_L"
	case 18:
		return "ECDSA_KEY_P384_H"
	}
	return fmt.Sprintf("UNKNOWN_%d", v)
}

// PurposeByName parses an espefuse key-purpose name (or a number) as PurposeName prints it.
func PurposeByName(s string) (uint8, bool) {
	for v := 0; v < 32; v++ {
		for _, chip := range []string{"ESP32-S3", "ESP32-C5"} {
			if PurposeName(chip, uint8(v)) == s {
				return uint8(v), true
			}
		}
	}
	var n uint8
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s && n < 32 {
		return n, true
	}
	return 0, false
}

// field is a bit field of one eFuse read register.
type field struct {
	addr  uint32
	shift uint8
	width uint8 // 0: the field does not exist on this chip
}

func (f field) ok() bool { return f.width != 0 }

func (f field) get(r regs) (uint32, bool) {
	if !f.ok() {
		return 0, false
	}
	v, ok := r[f.addr]
	if !ok {
		return 0, false
	}
	return v >> f.shift & (1<<f.width - 1), true
}

func bit(addr uint32, n uint8) field { return field{addr, n, 1} }

// regs are register values read from a chip: address to value. A missing address is unknown.
type regs map[uint32]uint32

// efuseLayout says where one chip keeps its security eFuses (device-security notes §1.2, §1.3).
type efuseLayout struct {
	cryptCnt   field
	dlEncDis   field // DIS_DOWNLOAD_MANUAL_ENCRYPT (ESP32: DISABLE_DL_ENCRYPT)
	rdDis      field
	secureBoot []field // any set means secure boot on
	sdm        field   // ENABLE_SECURITY_DOWNLOAD
	cryptCntWP field   // write protection of CRYPT_CNT
	purposes   []field // KEY_PURPOSE_0..5
	keyData    uint32  // first word of BLOCK_KEY0 (ESP32: BLOCK1)
	keyStride  uint32  // bytes between key blocks
	forceKM    field   // FORCE_USE_KEY_MANAGER_KEY's "XTS" bit (C5, P4)
	xts256     field   // C2: XTS_KEY_LENGTH_256
	// ESP32 only
	dlDecDis, dlCacheDis, uartDLDis, cryptConfig, codingScheme field
	hmac                                                       bool // the chip has the HMAC peripheral
}

// purposesAt are the KEY_PURPOSE_0..5 fields of S2-style layouts: two registers, 4-bit fields.
func purposesAt(a, b uint32) []field {
	return []field{{a, 24, 4}, {a, 28, 4}, {b, 0, 4}, {b, 4, 4}, {b, 8, 4}, {b, 12, 4}}
}

// s2Style is the layout shared by the S2, S3, C3, C6, H2 and P4 (BLOCK0 at base+0x2C..).
func s2Style(base uint32, dlEncBit uint8) efuseLayout {
	return efuseLayout{
		cryptCnt:   field{base + 0x34, 18, 3},
		dlEncDis:   bit(base+0x30, dlEncBit),
		rdDis:      field{base + 0x30, 0, 7},
		secureBoot: []field{bit(base+0x38, 20)},
		sdm:        bit(base+0x3C, 5),
		cryptCntWP: bit(base+0x2C, 4),
		purposes:   purposesAt(base+0x34, base+0x38),
		keyData:    base + 0x9C,
		keyStride:  0x20,
		hmac:       true,
	}
}

var efuseLayouts = map[string]efuseLayout{
	"ESP32": {
		cryptCnt:     field{0x3FF5A000, 20, 7},
		dlEncDis:     bit(0x3FF5A018, 7),
		dlDecDis:     bit(0x3FF5A018, 8),
		dlCacheDis:   bit(0x3FF5A018, 9),
		rdDis:        field{0x3FF5A000, 16, 4},
		secureBoot:   []field{bit(0x3FF5A018, 4), bit(0x3FF5A018, 5)},
		uartDLDis:    bit(0x3FF5A000, 27),
		cryptCntWP:   bit(0x3FF5A000, 2),
		keyData:      0x3FF5A038,
		cryptConfig:  field{0x3FF5A014, 28, 4},
		codingScheme: field{0x3FF5A018, 0, 2},
	},
	"ESP32-S2": s2Style(0x3F41A000, 19),
	"ESP32-S3": s2Style(0x60007000, 20),
	"ESP32-C2": {
		cryptCnt:   field{0x60008830, 7, 3},
		dlEncDis:   bit(0x60008830, 6),
		rdDis:      field{0x60008830, 0, 2},
		secureBoot: []field{bit(0x60008830, 21)},
		sdm:        bit(0x60008830, 16),
		cryptCntWP: bit(0x6000882C, 2),
		keyData:    0x60008860,
		xts256:     bit(0x60008830, 10),
	},
	"ESP32-C3": s2Style(0x60008800, 20),
	"ESP32-C5": func() efuseLayout {
		l := s2Style(0x600B4800, 20)
		l.cryptCnt = field{0x600B4834, 16, 3}
		l.secureBoot = []field{bit(0x600B4838, 25)}
		a, b := uint32(0x600B4834), uint32(0x600B4838)
		l.purposes = []field{{a, 22, 5}, {a, 27, 5}, {b, 0, 5}, {b, 5, 5}, {b, 10, 5}, {b, 15, 5}}
		l.forceKM = bit(0x600B4834, 11)
		return l
	}(),
	"ESP32-C6": s2Style(0x600B0800, 20),
	"ESP32-H2": s2Style(0x600B0800, 20),
	"ESP32-P4": func() efuseLayout {
		l := s2Style(0x5012D000, 20)
		l.forceKM = bit(0x5012D034, 10)
		return l
	}(),
}

// EfuseRegisters returns the addresses of the eFuse read registers Security decodes on the named
// chip: the security fields, the key purposes, the key blocks' data and the MAC words.
func EfuseRegisters(chip Chip) []uint32 {
	l, ok := efuseLayouts[chip.Name]
	if !ok {
		return nil
	}
	set := map[uint32]bool{}
	add := func(fs ...field) {
		for _, f := range fs {
			if f.ok() {
				set[f.addr] = true
			}
		}
	}
	add(l.cryptCnt, l.dlEncDis, l.rdDis, l.sdm, l.cryptCntWP, l.forceKM, l.xts256, l.dlDecDis, l.dlCacheDis, l.uartDLDis, l.cryptConfig, l.codingScheme)
	add(l.secureBoot...)
	add(l.purposes...)
	for _, a := range keyWords(chip.Name, l) {
		set[a] = true
	}
	if chip.Name == "ESP32" {
		set[esp32EfuseMAC1], set[esp32EfuseMAC2] = true, true
	} else if chip.MACReg != 0 {
		set[chip.MACReg], set[chip.MACReg+4] = true, true
	}
	var out []uint32
	for a := range set {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// keyWords are the addresses of the key data words: BLOCK_KEY0..5 (8 words each), the ESP32's
// BLOCK1, or the C2's single key block.
func keyWords(chip string, l efuseLayout) []uint32 {
	blocks := len(l.purposes)
	if blocks == 0 {
		blocks = 1
	}
	var a []uint32
	for b := 0; b < blocks; b++ {
		for w := 0; w < 8; w++ {
			a = append(a, l.keyData+uint32(b)*l.keyStride+uint32(4*w))
		}
	}
	return a
}

// KeyBlock is one eFuse key block as read from the chip.
type KeyBlock struct {
	// Name is espefuse's name of the block: BLOCK_KEY0..5, BLOCK_KEY0 on the ESP32-C2, BLOCK1 (the
	// flash-encryption key) on the ESP32.
	Name string `json:"name"`
	// Index is n in BLOCK_KEYn (the HMAC key id of the NVS HMAC scheme); 0 on the ESP32 and C2.
	Index int `json:"index"`
	// Purpose is the KEY_PURPOSE_n value; nil where the chip has no purpose fields (ESP32, C2).
	Purpose     *uint8 `json:"purpose,omitempty"`
	PurposeName string `json:"purpose_name,omitempty"`
	// ReadProtected: the block's RD_DIS bit is set (its data reads as zeros); nil when unknown.
	ReadProtected *bool `json:"read_protected,omitempty"`
	// Blank: every data word reads zero and the block is not read-protected; nil when unknown.
	Blank *bool `json:"blank,omitempty"`
}

// Security is a chip's security state, from GET_SECURITY_INFO and the eFuse registers. Pointer
// fields are nil when the state cannot be known (Secure Download Mode refuses register reads).
type Security struct {
	Chip string `json:"chip"`
	// Source says where the state comes from: "GET_SECURITY_INFO", "eFuse" or
	// "GET_SECURITY_INFO+eFuse".
	Source string `json:"source"`
	// FlashCryptCnt is the raw CRYPT_CNT eFuse field (3 bits; 7 on the ESP32).
	FlashCryptCnt uint8 `json:"flash_crypt_cnt"`
	// FlashEncryption: an odd number of bits set in FlashCryptCnt.
	FlashEncryption bool `json:"flash_encryption"`
	// Mode is "off", "development", "release", or "unknown" (flash encryption on in Secure
	// Download Mode, where the eFuses that tell cannot be read).
	Mode string `json:"mode"`
	// DownloadEncryptDisabled: the ROM loader may not encrypt what it writes
	// (DIS_DOWNLOAD_MANUAL_ENCRYPT; DISABLE_DL_ENCRYPT on the ESP32).
	DownloadEncryptDisabled *bool `json:"download_encrypt_disabled,omitempty"`
	// CryptCntWriteProtected: the CRYPT_CNT eFuse can no longer be changed.
	CryptCntWriteProtected *bool `json:"crypt_cnt_write_protected,omitempty"`
	SecureBoot             bool  `json:"secure_boot"`
	SecureDownload         bool  `json:"secure_download_mode"`
	// FlashKeyPresent: an eFuse key block holds a flash-encryption key (esptool's rule);
	// nil when it cannot be known.
	FlashKeyPresent *bool `json:"flash_key_present,omitempty"`
	// KeyManager: the chip takes its flash-encryption key from the Key Manager (C5, P4).
	KeyManager *bool `json:"key_manager,omitempty"`
	// Keys are the eFuse key blocks.
	Keys []KeyBlock `json:"key_blocks"`
	// HMAC: the chip has the HMAC peripheral the NVS HMAC scheme needs.
	HMAC bool   `json:"hmac_peripheral"`
	MAC  string `json:"mac,omitempty"`
	// ESP32 only.
	DownloadDecryptDisabled *bool  `json:"download_decrypt_disabled,omitempty"`
	DownloadCacheDisabled   *bool  `json:"download_cache_disabled,omitempty"`
	UARTDownloadDisabled    *bool  `json:"uart_download_disabled,omitempty"`
	FlashCryptConfig        *uint8 `json:"flash_crypt_config,omitempty"`
	CodingScheme            *uint8 `json:"coding_scheme,omitempty"`
	// FlashKeyReadback is the flash-encryption key as an espsecure key file holds it, read back
	// from a key block that is not read-protected (the ESP32's BLOCK1 with 256-bit coding, or an
	// XTS_AES_128_KEY block); nil otherwise. It is a secret: never printed.
	FlashKeyReadback []byte `json:"-"`
}

// ROMCanEncrypt reports whether the ROM loader can write through flash encryption: not the
// ESP32, a flash-encryption key present, encrypted download allowed and not in Secure Download
// Mode (where it is unconfirmed), each known for certain.
func (s *Security) ROMCanEncrypt() (bool, string) {
	switch {
	case s.Chip == "ESP32":
		return false, "the ESP32 ROM loader has no encrypted write"
	case s.SecureDownload:
		return false, "the chip is in Secure Download Mode, where encrypted writes by the ROM are unconfirmed"
	case s.DownloadEncryptDisabled == nil:
		return false, "whether encrypted download is disabled cannot be read"
	case *s.DownloadEncryptDisabled:
		return false, "encrypted download is disabled in eFuse (DIS_DOWNLOAD_MANUAL_ENCRYPT, release mode)"
	case s.FlashKeyPresent == nil:
		return false, "whether a flash-encryption key is burnt cannot be read"
	case !*s.FlashKeyPresent:
		return false, "no flash-encryption key is burnt in eFuse"
	}
	return true, ""
}

// HMACKey returns the key block with index id, if the chip has it.
func (s *Security) HMACKey(id int) (KeyBlock, bool) {
	for _, k := range s.Keys {
		if k.Purpose != nil && k.Index == id {
			return k, true
		}
	}
	return KeyBlock{}, false
}

func parity(v uint32) bool {
	n := 0
	for ; v != 0; v &= v - 1 {
		n++
	}
	return n%2 == 1
}

func bp(b bool) *bool { return &b }

// DecodeSecurity derives a chip's security state from its GET_SECURITY_INFO reply (nil on the
// ESP32, whose ROM has none) and the eFuse register values read (nil or empty in Secure Download
// Mode; a missing register is unknown). It never fails: what cannot be known is left nil.
func DecodeSecurity(chip Chip, gsi *SecurityInfo, r map[uint32]uint32) Security {
	rg := regs(r)
	l, known := efuseLayouts[chip.Name]
	s := Security{Chip: chip.Name, Mode: "off", HMAC: l.hmac, Keys: []KeyBlock{}}
	haveRegs := known && len(r) > 0
	switch {
	case gsi != nil && haveRegs:
		s.Source = "GET_SECURITY_INFO+eFuse"
	case gsi != nil:
		s.Source = "GET_SECURITY_INFO"
	default:
		s.Source = "eFuse"
	}
	// The flash-encryption counter: the register where it can be read, else the GSI byte.
	if v, ok := l.cryptCnt.get(rg); ok && haveRegs {
		s.FlashCryptCnt = uint8(v)
	} else if gsi != nil {
		s.FlashCryptCnt = gsi.FlashCryptCnt
	}
	s.FlashEncryption = parity(uint32(s.FlashCryptCnt))
	if gsi != nil {
		s.SecureBoot = gsi.SecureBoot()
		s.SecureDownload = gsi.SecureDownload()
	}
	for _, f := range l.secureBoot {
		if v, ok := f.get(rg); ok && v == 1 {
			s.SecureBoot = true
		}
	}
	if v, ok := l.sdm.get(rg); ok && v == 1 {
		s.SecureDownload = true
	}
	getb := func(f field) *bool {
		if v, ok := f.get(rg); ok {
			return bp(v != 0)
		}
		return nil
	}
	s.DownloadEncryptDisabled = getb(l.dlEncDis)
	s.CryptCntWriteProtected = getb(l.cryptCntWP)
	s.KeyManager = getb(l.forceKM)
	s.DownloadDecryptDisabled = getb(l.dlDecDis)
	s.DownloadCacheDisabled = getb(l.dlCacheDis)
	s.UARTDownloadDisabled = getb(l.uartDLDis)
	// FLASH_CRYPT_CONFIG is read-protected together with RD_DIS bit 19 (bit 3 of the field),
	// and then reads 0 whatever it holds: unknown (esptool skips its check of the value then).
	if v, ok := l.cryptConfig.get(rg); ok {
		if rd, rdOK := l.rdDis.get(rg); rdOK && rd&8 == 0 {
			c := uint8(v)
			s.FlashCryptConfig = &c
		}
	}
	if v, ok := l.codingScheme.get(rg); ok {
		c := uint8(v)
		s.CodingScheme = &c
	}
	rdDis, rdKnown := l.rdDis.get(rg)
	// keyBlank: all 8 (or n) data words known and zero.
	keyBlank := func(b, n int) *bool {
		for w := 0; w < n; w++ {
			v, ok := rg[l.keyData+uint32(b)*l.keyStride+uint32(4*w)]
			if !ok {
				return nil
			}
			if v != 0 {
				return bp(false)
			}
		}
		return bp(true)
	}
	switch chip.Name {
	case "ESP32":
		k := KeyBlock{Name: "BLOCK1"}
		if rdKnown {
			k.ReadProtected = bp(rdDis&1 != 0)
			if rdDis&1 == 0 {
				k.Blank = keyBlank(0, 8)
			}
		}
		s.Keys = append(s.Keys, k)
		if k.Blank != nil && !*k.Blank && (s.CodingScheme == nil || *s.CodingScheme == 0) {
			s.FlashKeyReadback = keyBytes(rg, l.keyData)
		}
		// esptool's rule: a read-protected BLOCK1 is assumed to hold a key.
		if k.ReadProtected != nil && *k.ReadProtected {
			s.FlashKeyPresent = bp(true)
		} else if k.Blank != nil {
			s.FlashKeyPresent = bp(!*k.Blank)
		}
	case "ESP32-C2":
		k := KeyBlock{Name: "BLOCK_KEY0"}
		l256, ok256 := l.xts256.get(rg)
		if rdKnown && ok256 {
			words := 4
			if l256 == 1 {
				words = 8
			}
			// esptool's rule (notes §1.3): RD_DIS == 3 with a 256-bit key, RD_DIS == 1 with a
			// 128-bit key, means a key is assumed present; otherwise the key words must be set.
			prot := (l256 == 1 && rdDis == 3) || (l256 == 0 && rdDis == 1)
			k.ReadProtected = bp(rdDis != 0)
			if prot {
				s.FlashKeyPresent = bp(true)
			} else if b := keyBlank(0, words); b != nil {
				s.FlashKeyPresent = bp(!*b)
			}
			if rdDis == 0 {
				k.Blank = keyBlank(0, 8)
			}
		}
		s.Keys = append(s.Keys, k)
	default:
		if !known {
			break
		}
		var purposes [6]uint8
		havePurposes := false
		if haveRegs {
			havePurposes = true
			for i, f := range l.purposes {
				v, ok := f.get(rg)
				if !ok {
					havePurposes = false
					break
				}
				purposes[i] = uint8(v)
			}
		}
		if !havePurposes && gsi != nil {
			copy(purposes[:], gsi.KeyPurposes[:6])
			if chip.Name == "ESP32-C5" {
				for i := range purposes {
					purposes[i] &= 0x1F
				}
			}
			havePurposes = true
		}
		if !havePurposes {
			break
		}
		present := false
		has2, has3 := false, false
		for i, p := range purposes[:len(l.purposes)] {
			p := p
			k := KeyBlock{Name: fmt.Sprintf("BLOCK_KEY%d", i), Index: i, Purpose: &p, PurposeName: PurposeName(chip.Name, p)}
			if rdKnown {
				k.ReadProtected = bp(rdDis>>i&1 != 0)
				if rdDis>>i&1 == 0 {
					k.Blank = keyBlank(i, 8)
				}
			}
			s.Keys = append(s.Keys, k)
			switch p {
			case PurposeXTSAES128Key:
				present = true
				if k.Blank != nil && !*k.Blank && s.FlashKeyReadback == nil {
					s.FlashKeyReadback = keyBytes(rg, l.keyData+uint32(i)*l.keyStride)
				}
			case PurposeXTSAES256Key1:
				has2 = true
			case PurposeXTSAES256Key2:
				has3 = true
			}
		}
		switch chip.Name {
		case "ESP32-S2", "ESP32-S3", "ESP32-P4":
			if has2 && has3 {
				present = true
			}
		}
		if s.KeyManager != nil && *s.KeyManager {
			present = true
		}
		if l.forceKM.ok() && s.KeyManager == nil && !present {
			break // the Key Manager may hold the key: unknown
		}
		s.FlashKeyPresent = bp(present)
	}
	s.Mode = s.mode(chip.Name)
	if mac, ok := decodeMAC(chip, rg); ok {
		s.MAC = mac.String()
	}
	return s
}

// keyBytes returns the 8 key words at addr as the key file espefuse burnt them from: the words'
// little-endian bytes, reversed (espefuse reverses flash-encryption keys when it burns them).
func keyBytes(r regs, addr uint32) []byte {
	b := make([]byte, 32)
	for w := 0; w < 8; w++ {
		binary.LittleEndian.PutUint32(b[4*w:], r[addr+uint32(4*w)])
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b
}

// mode tells IDF's development mode from release mode (notes §2.3 step 4).
func (s *Security) mode(chip string) string {
	if !s.FlashEncryption {
		return "off"
	}
	if chip == "ESP32" {
		if s.DownloadEncryptDisabled == nil || s.DownloadDecryptDisabled == nil || s.DownloadCacheDisabled == nil {
			return "unknown"
		}
		if *s.DownloadEncryptDisabled && *s.DownloadDecryptDisabled && *s.DownloadCacheDisabled {
			return "release"
		}
		return "development"
	}
	if s.DownloadEncryptDisabled == nil || s.CryptCntWriteProtected == nil {
		return "unknown"
	}
	if *s.DownloadEncryptDisabled && (*s.CryptCntWriteProtected || s.FlashCryptCnt == 7) {
		return "release"
	}
	return "development"
}

func decodeMAC(chip Chip, r regs) (net.HardwareAddr, bool) {
	var hi, lo uint32
	var ok1, ok2 bool
	if chip.Name == "ESP32" {
		hi, ok1 = r[esp32EfuseMAC2]
		lo, ok2 = r[esp32EfuseMAC1]
	} else {
		lo, ok1 = r[chip.MACReg]
		hi, ok2 = r[chip.MACReg+4]
		hi &= 0xFFFF
	}
	if !ok1 || !ok2 || chip.MACReg == 0 {
		return nil, false
	}
	var b [8]byte
	binary.BigEndian.PutUint32(b[:], hi)
	binary.BigEndian.PutUint32(b[4:], lo)
	return net.HardwareAddr(b[2:8]), true
}

// Security reads the chip's security state: the GET_SECURITY_INFO reply taken while connecting
// and, unless the chip is in Secure Download Mode, the eFuse registers.
func (l *Loader) Security() (Security, error) {
	var gsi *SecurityInfo
	if l.sec != nil {
		g := *l.sec
		gsi = &g
	}
	r := map[uint32]uint32{}
	if gsi == nil || !gsi.SecureDownload() {
		for _, a := range EfuseRegisters(l.chip) {
			v, err := l.ReadReg(a)
			if err != nil {
				var se *StatusError
				if errors.As(err, &se) && se.Unsupported() && gsi != nil {
					// Register reads refused: Secure Download Mode (how esptool tells on the S2).
					g := *gsi
					g.Flags |= SecureDownloadEnabled
					gsi, r = &g, nil
					break
				}
				return Security{}, fmt.Errorf("reading eFuse register 0x%08X: %w", a, err)
			}
			r[a] = v
		}
	}
	return DecodeSecurity(l.chip, gsi, r), nil
}
