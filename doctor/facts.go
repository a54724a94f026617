package doctor

import (
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/partition"
)

// Facts is everything Diagnose looks at: what was read off the device and what the user gave.
// A nil pointer or empty slice means "not known" (not read, not readable, or not given), and
// the rules that need it are skipped; Diagnose never guesses a missing fact.
type Facts struct {
	// Chip is the chip's name as esploader names it ("ESP32", "ESP32-C3", ...); "" unknown.
	Chip string
	// Security is the chip's security state; nil when it could not be read.
	Security *Security
	// DeviceTable is the partition table read off the device (decrypted first when flash
	// encryption is on and the flash key is known); nil when it could not be read or parsed.
	DeviceTable *partition.Table
	// DeviceTableErr says why DeviceTable is nil ("" when reading it was not tried). With flash
	// encryption on, the table on flash is ciphertext and has no table magic.
	DeviceTableErr string
	// ProjectTable is the user's partition table (--partition-table); nil when not given.
	ProjectTable *partition.Table
	// NVSName is the name of the NVS partition the user means; "" means "nvs".
	NVSName string
	// NVS is the NVS data partition as read raw from flash; nil when not read.
	NVS *Partition
	// Keys is the first data/nvs_keys partition as read raw from flash; nil when the table has
	// none or it was not read.
	Keys *Partition
	// UserKeys is the user's keys-partition image (--keys): 64 key bytes and their CRC, as
	// generate-key writes it. nil when not given.
	UserKeys []byte
	// FlashKey is the chip's flash-encryption key as the user holds it (--flash-key): the file
	// espsecure and espefuse use (ESP32: 32 or 24 bytes; XTS chips: 16, 32 or 64 bytes). nil
	// when not given.
	FlashKey []byte
	// Scheme is the NVS encryption scheme the firmware uses; SchemeUnknown lets Diagnose infer
	// it (an nvs_keys partition in the table means the flash-encryption scheme).
	Scheme Scheme
	// HMACKeyID is the eFuse key block the firmware's HMAC scheme uses
	// (CONFIG_NVS_SEC_HMAC_EFUSE_KEY_ID, 0..5); -1 or any other value means "not given": then
	// any block with the HMAC_UP purpose satisfies the HMAC rule.
	HMACKeyID int
	// Expected are the values the user expects in NVS (--csv), in CSV order; nil when not
	// given. Items without a Key (namespace declarations) are ignored.
	Expected []nvs.Item
	// Inputs are the user's names for the files and port, used to write the fix commands.
	Inputs Inputs
}

// Inputs name the port and files the user gave, so that a Fix is a command the user can run
// as it stands. Empty names are written as placeholders (PORT, KEYS.bin, ...).
type Inputs struct {
	Port           string // --port
	KeysFile       string // --keys
	FlashKeyFile   string // --flash-key
	PartitionTable string // --partition-table
	CSVFile        string // --csv
}

// Scheme is an NVS encryption scheme of ESP-IDF.
type Scheme int

// The schemes.
const (
	// SchemeUnknown: not said; Diagnose infers the scheme from the facts.
	SchemeUnknown Scheme = iota
	// SchemeFlashEnc: the keys live in an nvs_keys partition written through flash encryption.
	SchemeFlashEnc
	// SchemeHMAC: the keys are derived from an HMAC key in an eFuse key block with purpose
	// HMAC_UP (ESP-IDF v5.2 and later, chips with an HMAC peripheral).
	SchemeHMAC
	// SchemeNone: the firmware does not encrypt NVS.
	SchemeNone
)

// String returns "unknown", "flash-enc", "hmac" or "none".
func (s Scheme) String() string {
	switch s {
	case SchemeFlashEnc:
		return "flash-enc"
	case SchemeHMAC:
		return "hmac"
	case SchemeNone:
		return "none"
	}
	return "unknown"
}

// MarshalText makes a Scheme a JSON string.
func (s Scheme) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Security is the chip's security state as read through the ROM loader (GET_SECURITY_INFO
// and eFuse registers).
type Security struct {
	// FlashEncryption is on: the crypt counter has an odd number of bits set.
	FlashEncryption bool `json:"flash_encryption"`
	// CryptCount is the raw crypt-counter field (FLASH_CRYPT_CNT on ESP32, SPI_BOOT_CRYPT_CNT
	// on later chips).
	CryptCount uint32 `json:"crypt_count"`
	// ReleaseMode: flash encryption is on in ESP-IDF's release mode (the ROM no longer
	// encrypts downloads); false with FlashEncryption on means development mode.
	ReleaseMode bool `json:"release_mode"`
	// EncryptedDownloadDisabled: the ROM refuses encrypted writes (DIS_DOWNLOAD_MANUAL_ENCRYPT,
	// DISABLE_DL_ENCRYPT on ESP32). Meaningful only when EncryptedDownloadKnown.
	EncryptedDownloadDisabled bool `json:"encrypted_download_disabled"`
	// EncryptedDownloadKnown is false when the bit could not be read (Secure Download Mode).
	EncryptedDownloadKnown bool `json:"encrypted_download_known"`
	// SecureBoot is enabled.
	SecureBoot bool `json:"secure_boot"`
	// SecureDownload: the ROM runs in Secure Download Mode (no reads of flash or registers).
	SecureDownload bool `json:"secure_download"`
	// FlashKeyPresent: an eFuse key block holds a flash-encryption key (esptool's rule).
	FlashKeyPresent bool `json:"flash_key_present"`
	// FlashCryptConfig is the ESP32's FLASH_CRYPT_CONFIG eFuse (the key tweak groups), nil when
	// not read or not an ESP32; Diagnose then assumes 0xF, the value ESP-IDF burns.
	FlashCryptConfig *uint8 `json:"flash_crypt_config,omitempty"`
	// KeyBlocks are the eFuse key blocks with their purposes, for chips that have purpose
	// fields (not ESP32 or ESP32-C2, where KeyBlocks is nil).
	KeyBlocks []KeyBlock `json:"key_blocks,omitempty"`
}

// KeyBlock is one eFuse key block (BLOCK_KEYn) and its purpose.
type KeyBlock struct {
	// Index is n in BLOCK_KEYn (0..5); the firmware's HMAC key id.
	Index int `json:"index"`
	// Purpose is the KEY_PURPOSE_n value; PurposeName its name (XTS_AES_128_KEY, HMAC_UP, ...).
	Purpose     uint8  `json:"purpose"`
	PurposeName string `json:"purpose_name"`
	// ReadProtected and WriteProtected are the block's RD_DIS and WR_DIS bits, when known.
	ReadProtected  bool `json:"read_protected"`
	WriteProtected bool `json:"write_protected"`
	// HasData: the block is not read-protected and its data reads non-zero. A block with
	// purpose USER that holds data is not free: the firmware cannot burn its HMAC key there.
	HasData bool `json:"has_data,omitempty"`
}

// PurposeHMACUp is the KEY_PURPOSE value of an HMAC key the NVS HMAC scheme uses (HMAC_UP).
const PurposeHMACUp = 8

// Partition is one partition as read raw from flash.
type Partition struct {
	// Name, Offset and Size come from the table the partition was located with.
	Name   string `json:"name"`
	Offset uint32 `json:"offset"`
	Size   uint32 `json:"size"`
	// Encrypted is the table's encrypted flag for the partition.
	Encrypted bool `json:"encrypted"`
	// Raw is what READ_FLASH returned: the bytes as stored (ciphertext where the chip
	// encrypted them). nil when the partition could not be read; ReadErr then says why.
	Raw     []byte `json:"-"`
	ReadErr string `json:"read_error,omitempty"`
}
