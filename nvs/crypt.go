package nvs

import (
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/xts"
)

// Errors of the encryption layer.
var (
	// ErrKeysCRC: the keys partition's CRC does not match its keys. The device reports this as
	// ESP_ERR_NVS_CORRUPT_KEY_PART; usually the keys partition was flashed unencrypted onto a
	// device with flash encryption on (so the device reads it through decryption), or was never
	// written at all.
	ErrKeysCRC = errors.New("keys partition CRC mismatch")
	// ErrKeysSize: the keys partition image is shorter than its 68 meaningful bytes.
	ErrKeysSize = errors.New("keys partition too short")
	// ErrKeysEmpty: the keys partition is blank (all 0xFF), as after an erase.
	ErrKeysEmpty = errors.New("keys partition is blank")
	// ErrWrongKeys: decryption produced entries whose CRCs fail; the image was not encrypted
	// with these keys (or is not encrypted at all).
	ErrWrongKeys = errors.New("this image does not decrypt with these keys")
	// ErrNotEncrypted: the image to decrypt is a plain image (its entries have valid CRCs as
	// they are). Errors wrapping it wrap ErrWrongKeys too.
	ErrNotEncrypted = errors.New("the image is not encrypted")
	// ErrHMACKeySize: an HMAC key for the HMAC-based scheme must be 32 bytes.
	ErrHMACKeySize = errors.New("HMAC key must be 32 bytes")
)

// KeysLen is the size of the XTS key pair: data key then tweak key, 32 bytes each.
const KeysLen = 64

// KeysPartitionSize is the size of the nvs_keys partition image.
const KeysPartitionSize = PageSize

// Keys are NVS encryption keys: an AES-256-XTS data key ("eky") and tweak key ("tky").
type Keys struct {
	Data  [32]byte
	Tweak [32]byte
}

// Bytes returns the 64-byte XTS key: data key then tweak key.
func (k *Keys) Bytes() []byte {
	b := make([]byte, 0, KeysLen)
	return append(append(b, k.Data[:]...), k.Tweak[:]...)
}

// KeysFromBytes takes the first 64 bytes of b as data key and tweak key, with no CRC check
// (what nvs_partition_gen encrypt --inputkey does).
func KeysFromBytes(b []byte) (Keys, error) {
	var k Keys
	if len(b) < KeysLen {
		return k, fmt.Errorf("%d bytes, need %d: %w", len(b), KeysLen, ErrKeysSize)
	}
	copy(k.Data[:], b[:32])
	copy(k.Tweak[:], b[32:64])
	return k, nil
}

// MarshalPartition returns the 4096-byte nvs_keys partition image: the keys, their CRC32,
// then 0xFF.
func (k *Keys) MarshalPartition() []byte {
	b := make([]byte, KeysPartitionSize)
	fillFF(b)
	copy(b, k.Bytes())
	binary.LittleEndian.PutUint32(b[KeysLen:], CRC32(b[:KeysLen]))
	return b
}

// ParseKeysPartition reads an nvs_keys partition image and checks its CRC, as the device
// does. Errors wrap ErrKeysSize, ErrKeysEmpty or ErrKeysCRC.
func ParseKeysPartition(b []byte) (Keys, error) {
	if len(b) < KeysLen+4 {
		return Keys{}, fmt.Errorf("%d bytes, need at least %d: %w", len(b), KeysLen+4, ErrKeysSize)
	}
	blank := true
	for _, c := range b[:KeysLen+4] {
		if c != 0xFF {
			blank = false
			break
		}
	}
	if blank {
		return Keys{}, ErrKeysEmpty
	}
	k, _ := KeysFromBytes(b)
	if got, want := binary.LittleEndian.Uint32(b[KeysLen:]), CRC32(b[:KeysLen]); got != want {
		return k, fmt.Errorf("stored 0x%08x, computed 0x%08x: %w", got, want, ErrKeysCRC)
	}
	return k, nil
}

// HMAC seeds of ESP-IDF's nvs_sec_provider: the words 0xAEBE5A5A and 0xCEDEA5A5, 8 times each.
var (
	hmacDataSeed  = [4]byte{0x5A, 0x5A, 0xBE, 0xAE}
	hmacTweakSeed = [4]byte{0xA5, 0xA5, 0xDE, 0xCE}
)

// KeysFromHMAC derives the keys of the HMAC-based scheme from a 32-byte HMAC key (the one
// burnt into an eFuse key block): HMAC-SHA256 over the two fixed seeds.
func KeysFromHMAC(hmacKey []byte) (Keys, error) {
	var k Keys
	if len(hmacKey) != 32 {
		return k, fmt.Errorf("got %d bytes: %w", len(hmacKey), ErrHMACKeySize)
	}
	derive := func(seed [4]byte, out *[32]byte) {
		m := hmac.New(sha256.New, hmacKey)
		for range 8 {
			m.Write(seed[:])
		}
		copy(out[:], m.Sum(nil))
	}
	derive(hmacDataSeed, &k.Data)
	derive(hmacTweakSeed, &k.Tweak)
	return k, nil
}

// Cipher encrypts and decrypts NVS entries with one set of keys. Making one is the costly part;
// reuse it for many images.
type Cipher struct{ x *xts.Cipher }

// NewCipher returns a Cipher for k.
func NewCipher(k Keys) (*Cipher, error) {
	x, err := xts.NewCipher(aes.NewCipher, k.Bytes())
	if err != nil {
		return nil, err
	}
	return &Cipher{x}, nil
}

// Encrypt encrypts image in place: every entry slot the page bitmap marks written or erased is
// encrypted as one 32-byte XTS unit whose tweak is the slot's offset in the partition. Page
// headers, bitmaps and unwritten slots stay plain (a written slot of all 0xFF is encrypted
// too). The image length must be a multiple of PageSize.
func (c *Cipher) Encrypt(image []byte) error {
	return c.apply(image, func(bitmap, slot []byte, i int) bool { return BitmapState(bitmap, i) != EntryEmpty }, c.x.Encrypt)
}

// Decrypt is the inverse of Encrypt, in place. It decrypts every slot that was ever
// programmed: the slots the bitmap does not mark empty, and any slot whose bytes are not all
// 0xFF (after a power cut the device may have programmed an entry before marking it).
func (c *Cipher) Decrypt(image []byte) error {
	return c.apply(image, func(bitmap, slot []byte, i int) bool {
		return BitmapState(bitmap, i) != EntryEmpty || !allFF(slot)
	}, c.x.Decrypt)
}

func (c *Cipher) apply(image []byte, programmed func(bitmap, slot []byte, i int) bool, f func(dst, src []byte, sector uint64)) error {
	if len(image)%PageSize != 0 {
		return fmt.Errorf("image is %d bytes, not a multiple of %d: %w", len(image), PageSize, ErrImageSize)
	}
	for p := 0; p < len(image); p += PageSize {
		bitmap := image[p+HeaderSize : p+FirstEntryOff]
		for i := range EntriesPerPage {
			off := p + FirstEntryOff + i*EntrySize
			slot := image[off : off+EntrySize]
			if programmed(bitmap, slot, i) {
				f(slot, slot, uint64(off))
			}
		}
	}
	return nil
}

// Encrypt returns an encrypted copy of a plain image (see Cipher.Encrypt).
func Encrypt(image []byte, k Keys) ([]byte, error) {
	c, err := NewCipher(k)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), image...)
	if err := c.Encrypt(out); err != nil {
		return nil, err
	}
	return out, nil
}

// Decrypt returns a decrypted copy of an encrypted image and checks the result: when written
// entries exist and their header CRCs fail after decryption, the keys are wrong and the error
// wraps ErrWrongKeys.
func Decrypt(image []byte, k Keys) ([]byte, error) {
	c, err := NewCipher(k)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), image...)
	if err := c.Decrypt(out); err != nil {
		return nil, err
	}
	good, bad := checkEntryCRCs(out)
	if bad > 0 && good == 0 {
		return nil, wrongKeys(image, bad)
	}
	return out, nil
}

// wrongKeys is the error for an image none of whose bad entry headers has a valid CRC after
// decryption: ErrNotEncrypted (wrapping ErrWrongKeys too) when the image as given has valid
// entry CRCs, a plain image; ErrWrongKeys otherwise.
func wrongKeys(image []byte, bad int) error {
	if good, _ := checkEntryCRCs(image); good > 0 {
		return fmt.Errorf("%w: %d entry headers have a valid CRC as they are, none after decryption (%w)", ErrNotEncrypted, good, ErrWrongKeys)
	}
	return fmt.Errorf("%w (none of the %d entry headers has a valid CRC after decryption)", ErrWrongKeys, bad)
}

// checkEntryCRCs counts item headers with valid and invalid CRCs in a plain image, following
// spans through each page's written entries.
func checkEntryCRCs(image []byte) (good, bad int) {
	for p := 0; p+PageSize <= len(image); p += PageSize {
		st := PageState(binary.LittleEndian.Uint32(image[p:]))
		if st != PageActive && st != PageFull && st != PageFreeing {
			continue
		}
		bitmap := image[p+HeaderSize : p+FirstEntryOff]
		for i := 0; i < EntriesPerPage; {
			if BitmapState(bitmap, i) != EntryWritten {
				i++
				continue
			}
			off := p + FirstEntryOff + i*EntrySize
			e := DecodeEntry(image[off:])
			if EntryCRC(image[off:off+EntrySize]) == e.CRC {
				good++
				i += max(int(e.Span), 1)
			} else {
				bad++
				i++
			}
		}
	}
	return good, bad
}
