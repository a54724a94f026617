package flashcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// BlockSize is the unit both schemes work in: addresses and lengths are multiples of it.
const BlockSize = 16

// XTSUnitSize is the XTS data unit: 128 bytes aligned on the absolute flash address, whose
// address is the tweak.
const XTSUnitSize = 128

// MaxESP32Address is the first address the ESP32 scheme does not support: the key tweak uses
// flash-address bits 5..23, and espsecure's tweak differs from the hardware's above 16 MiB.
const MaxESP32Address = 1 << 24

// DefaultCryptConf is the FLASH_CRYPT_CONFIG value ESP-IDF burns and espsecure assumes: all four
// key-tweak groups on.
const DefaultCryptConf = 0xF

// Sentinel errors. The errors of this package wrap one of them.
var (
	// ErrKeyLength: the key file has a length the scheme does not take.
	ErrKeyLength = errors.New("wrong key length")
	// ErrAlignment: the flash address is not a multiple of BlockSize.
	ErrAlignment = errors.New("address not aligned")
	// ErrLength: the data is empty or its length is not a multiple of BlockSize.
	ErrLength = errors.New("bad data length")
	// ErrAddress: the range lies beyond what the scheme supports (16 MiB for ESP32, 4 GiB).
	ErrAddress = errors.New("address out of range")
	// ErrCryptConf: a FLASH_CRYPT_CONFIG value above 0xF.
	ErrCryptConf = errors.New("bad FLASH_CRYPT_CONFIG")
)

// Scheme is a flash-encryption scheme.
type Scheme int

// The schemes.
const (
	// SchemeESP32 is the ESP32's: AES-256 with the key tweaked by the flash address.
	SchemeESP32 Scheme = iota + 1
	// SchemeXTS is XTS-AES of every later chip (ESP32-S2, -S3, -C2, -C3, -C5, -C6, -H2, -P4).
	SchemeXTS
)

// String returns "esp32" or "xts-aes".
func (s Scheme) String() string {
	switch s {
	case SchemeESP32:
		return "esp32"
	case SchemeXTS:
		return "xts-aes"
	}
	return fmt.Sprintf("scheme(%d)", int(s))
}

// SchemeForChip returns the scheme of a chip named as esploader names it ("ESP32",
// "ESP32-C3", ...): SchemeESP32 for the ESP32, SchemeXTS for every other ESP32-family chip,
// and 0 for a name it does not know (the ESP8266 has no flash encryption).
func SchemeForChip(chip string) Scheme {
	c := strings.ToUpper(strings.TrimSpace(chip))
	switch {
	case c == "ESP32":
		return SchemeESP32
	case strings.HasPrefix(c, "ESP32-"):
		return SchemeXTS
	}
	return 0
}

// Cipher encrypts and decrypts flash contents the way one chip's flash encryption does, with a
// known key. addr is the absolute flash address of src[0]; it and len(src) must be multiples of
// BlockSize, and len(src) > 0. dst and src may be the same slice; len(dst) must be at least
// len(src). A Cipher is safe for concurrent use.
type Cipher interface {
	Encrypt(dst, src []byte, addr uint32) error
	Decrypt(dst, src []byte, addr uint32) error
	// Scheme names the scheme.
	Scheme() Scheme
	// KeyBits is the key size the file gave (128, 192, 256 or 512) and Extended reports that
	// the key was extended from it (a 192-bit ESP32 key, a 128-bit XTS key).
	KeyBits() int
	Extended() bool
}

// New returns the Cipher of scheme s for key (the key file's bytes). conf is the ESP32's
// FLASH_CRYPT_CONFIG (use DefaultCryptConf); the XTS scheme ignores it.
func New(s Scheme, key []byte, conf uint8) (Cipher, error) {
	switch s {
	case SchemeESP32:
		return NewESP32(key, conf)
	case SchemeXTS:
		return NewXTS(key)
	}
	return nil, fmt.Errorf("flashcrypt: unknown scheme %d", int(s))
}

// Encrypt returns data encrypted with key at addr (ESP32: with DefaultCryptConf).
func Encrypt(s Scheme, key []byte, addr uint32, data []byte) ([]byte, error) {
	c, err := New(s, key, DefaultCryptConf)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(data))
	if err := c.Encrypt(out, data, addr); err != nil {
		return nil, err
	}
	return out, nil
}

// Decrypt returns data decrypted with key at addr (ESP32: with DefaultCryptConf).
func Decrypt(s Scheme, key []byte, addr uint32, data []byte) ([]byte, error) {
	c, err := New(s, key, DefaultCryptConf)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(data))
	if err := c.Decrypt(out, data, addr); err != nil {
		return nil, err
	}
	return out, nil
}

// checkKeyFileLength rejects the lengths no scheme takes, with espsecure's wording.
func checkKeyFileLength(key []byte) error {
	switch len(key) {
	case 16, 24, 32, 64:
		return nil
	}
	return fmt.Errorf("key file contains %d bytes; 16, 24, 32 or 64 expected: %w", len(key), ErrKeyLength)
}

// checkRange validates addr and the length n.
func checkRange(addr uint32, n, dst int) error {
	if addr%BlockSize != 0 {
		return fmt.Errorf("starting flash address 0x%X must be a multiple of %d: %w", addr, BlockSize, ErrAlignment)
	}
	if n == 0 {
		return fmt.Errorf("input data must be longer than 0: %w", ErrLength)
	}
	if n%BlockSize != 0 {
		return fmt.Errorf("input data length (%d) must be a multiple of %d: %w", n, BlockSize, ErrLength)
	}
	if uint64(addr)+uint64(n) > 1<<32 {
		return fmt.Errorf("0x%X + %d bytes passes the 4 GiB address space: %w", addr, n, ErrAddress)
	}
	if dst < n {
		return fmt.Errorf("flashcrypt: output buffer of %d bytes for %d bytes of input", dst, n)
	}
	return nil
}

func reverse16(dst, src []byte) {
	for i := range BlockSize {
		dst[i] = src[BlockSize-1-i]
	}
}

// ---------------------------------------------------------------------------------------------
// ESP32

// ESP32Cipher is the ESP32's flash encryption: each 16-byte block is byte-reversed, AES-256
// *decrypted* with the key tweaked by the block's flash address, and reversed again.
type ESP32Cipher struct {
	key   [32]byte
	bits  int
	conf  uint8
	masks [24][32]byte // masks[b]: the key bits address bit b flips (with conf applied)
}

// tweakPattern[n] is the flash-address bit that flips key bit n (n = 0 is the MSB of key byte 0).
var tweakPattern = func() [256]int8 {
	var p [256]int8
	n := 0
	run := func(hi, lo int) {
		for b := hi; b >= lo; b-- {
			p[n] = int8(b)
			n++
		}
	}
	for _, last := range []int{14, 12, 10, 8} {
		run(23, 5)
		run(23, 5)
		run(23, 5)
		run(last, 5)
	}
	return p
}()

// tweakGroupStart are the first key bits of the four groups FLASH_CRYPT_CONFIG enables.
var tweakGroupStart = [5]int{0, 67, 132, 195, 256}

// NewESP32 returns the ESP32 cipher for a 32-byte key file, or a 24-byte one (a 192-bit key of
// the 3/4 coding scheme, extended to 32 bytes with its bytes 8..15, as espsecure does). conf
// is FLASH_CRYPT_CONFIG: bit g enables key-tweak group g; 0xF is the default.
func NewESP32(key []byte, conf uint8) (*ESP32Cipher, error) {
	if err := checkKeyFileLength(key); err != nil {
		return nil, err
	}
	if len(key) != 24 && len(key) != 32 {
		return nil, fmt.Errorf("ESP32 supports only 192 and 256-bit keys, the key is %d bits (use the XTS scheme for other chips): %w", len(key)*8, ErrKeyLength)
	}
	if conf > 0xF {
		return nil, fmt.Errorf("FLASH_CRYPT_CONFIG 0x%X: must be 0..0xF: %w", conf, ErrCryptConf)
	}
	c := &ESP32Cipher{bits: len(key) * 8, conf: conf}
	copy(c.key[:], key)
	if len(key) == 24 {
		copy(c.key[24:], key[8:16])
	}
	for g := range 4 {
		if conf&(1<<g) == 0 {
			continue
		}
		for n := tweakGroupStart[g]; n < tweakGroupStart[g+1]; n++ {
			c.masks[tweakPattern[n]][n/8] |= 0x80 >> uint(n%8)
		}
	}
	return c, nil
}

// Scheme returns SchemeESP32.
func (c *ESP32Cipher) Scheme() Scheme { return SchemeESP32 }

// KeyBits returns 256 or 192.
func (c *ESP32Cipher) KeyBits() int { return c.bits }

// Extended reports a 192-bit key extended to 256 bits.
func (c *ESP32Cipher) Extended() bool { return c.bits == 192 }

// CryptConf returns the FLASH_CRYPT_CONFIG value the cipher tweaks the key with.
func (c *ESP32Cipher) CryptConf() uint8 { return c.conf }

// BlockKey returns the AES-256 key of the block at addr: the key with every bit of an enabled
// group flipped whose address bit is set. It is the same for both blocks of a 32-byte pair.
func (c *ESP32Cipher) BlockKey(addr uint32) [32]byte {
	k := c.key
	for b := 5; b < 24; b++ {
		if addr&(1<<uint(b)) != 0 {
			for i := range k {
				k[i] ^= c.masks[b][i]
			}
		}
	}
	return k
}

// Encrypt encrypts src as the ESP32 writes it at addr. Addresses must be below 16 MiB.
func (c *ESP32Cipher) Encrypt(dst, src []byte, addr uint32) error {
	return c.run(dst, src, addr, false)
}

// Decrypt decrypts src as read from flash at addr.
func (c *ESP32Cipher) Decrypt(dst, src []byte, addr uint32) error {
	return c.run(dst, src, addr, true)
}

func (c *ESP32Cipher) run(dst, src []byte, addr uint32, decrypt bool) error {
	if err := checkRange(addr, len(src), len(dst)); err != nil {
		return err
	}
	if uint64(addr)+uint64(len(src)) > MaxESP32Address {
		return fmt.Errorf("0x%X + %d bytes: the ESP32 scheme covers addresses below 0x%X: %w", addr, len(src), MaxESP32Address, ErrAddress)
	}
	var block cipher.Block
	var in, out [BlockSize]byte
	for off := 0; off < len(src); off += BlockSize {
		a := addr + uint32(off)
		if block == nil || a%32 == 0 {
			k := c.BlockKey(a)
			block, _ = aes.NewCipher(k[:]) // 32 bytes: cannot fail
		}
		reverse16(in[:], src[off:])
		// Flash encryption runs AES backwards: the write path decrypts.
		if decrypt {
			block.Encrypt(out[:], in[:])
		} else {
			block.Decrypt(out[:], in[:])
		}
		reverse16(dst[off:], out[:])
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// XTS

// XTSCipher is the flash encryption of the chips after the ESP32: XTS-AES over 128-byte data
// units aligned on the flash address, the unit's address as the tweak, each unit byte-reversed
// before and after the cipher.
type XTSCipher struct {
	data, tweak cipher.Block
	bits        int
}

// NewXTS returns the XTS cipher for a key file of 32 bytes (XTS-AES-128: data key, then tweak
// key), 64 bytes (XTS-AES-256), or 16 bytes (replaced by its SHA-256, then XTS-AES-128, as
// espsecure does for the ESP32-C2's 128-bit key).
func NewXTS(key []byte) (*XTSCipher, error) {
	if err := checkKeyFileLength(key); err != nil {
		return nil, err
	}
	k := key
	switch len(key) {
	case 16:
		sum := sha256.Sum256(key)
		k = sum[:]
	case 32, 64:
	default:
		return nil, fmt.Errorf("XTS-AES supports only 128, 256 and 512-bit keys, the key is %d bits: %w", len(key)*8, ErrKeyLength)
	}
	half := len(k) / 2
	d, err := aes.NewCipher(k[:half])
	if err != nil {
		return nil, err
	}
	t, err := aes.NewCipher(k[half:])
	if err != nil {
		return nil, err
	}
	return &XTSCipher{data: d, tweak: t, bits: len(key) * 8}, nil
}

// Scheme returns SchemeXTS.
func (c *XTSCipher) Scheme() Scheme { return SchemeXTS }

// KeyBits returns 128, 256 or 512: the key file's size in bits.
func (c *XTSCipher) KeyBits() int { return c.bits }

// Extended reports a 128-bit key replaced by its SHA-256.
func (c *XTSCipher) Extended() bool { return c.bits == 128 }

// Encrypt encrypts src as the chip writes it at addr. A range that does not cover whole
// 128-byte units gives the bytes the chip would store for those blocks of the units.
func (c *XTSCipher) Encrypt(dst, src []byte, addr uint32) error {
	return c.run(dst, src, addr, false)
}

// Decrypt decrypts src as read from flash at addr.
func (c *XTSCipher) Decrypt(dst, src []byte, addr uint32) error {
	return c.run(dst, src, addr, true)
}

// run processes each 16-byte block on its own: block k of a unit is XTS block 7-k of the
// reversed unit, its bytes reversed, under the tweak E(key2, unit address) times alpha^(7-k).
func (c *XTSCipher) run(dst, src []byte, addr uint32, decrypt bool) error {
	if err := checkRange(addr, len(src), len(dst)); err != nil {
		return err
	}
	var tweaks [8][BlockSize]byte // tweaks[j]: XTS block j of the current unit
	unit := uint64(1) << 40       // no unit yet
	var buf [BlockSize]byte
	for off := 0; off < len(src); off += BlockSize {
		a := uint64(addr) + uint64(off)
		if u := a &^ (XTSUnitSize - 1); u != unit {
			unit = u
			var t [BlockSize]byte
			t[0], t[1], t[2], t[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
			c.tweak.Encrypt(tweaks[0][:], t[:])
			for j := 1; j < 8; j++ {
				tweaks[j] = mulAlpha(tweaks[j-1])
			}
		}
		t := &tweaks[7-(a-unit)/BlockSize]
		for i := range BlockSize {
			buf[i] = src[off+BlockSize-1-i] ^ t[i]
		}
		if decrypt {
			c.data.Decrypt(buf[:], buf[:])
		} else {
			c.data.Encrypt(buf[:], buf[:])
		}
		for i := range BlockSize {
			dst[off+BlockSize-1-i] = buf[i] ^ t[i]
		}
	}
	return nil
}

// mulAlpha multiplies an XTS tweak by alpha in GF(2^128) (little-endian, polynomial 0x87).
func mulAlpha(t [BlockSize]byte) [BlockSize]byte {
	var r [BlockSize]byte
	carry := byte(0)
	for i := range BlockSize {
		r[i] = t[i]<<1 | carry
		carry = t[i] >> 7
	}
	if carry != 0 {
		r[0] ^= 0x87
	}
	return r
}
