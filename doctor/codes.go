package doctor

// The finding codes. They are stable: scripts match on them. docs/doctor.md explains each.
const (
	// Chip and security state.
	CodeSecurityUnknown = "security-unknown" // the security state could not be read
	CodeSecureDownload  = "secure-download"  // Secure Download Mode: flash cannot be read

	// Partition tables.
	CodeTableUnreadable  = "table-unreadable"           // no table on the device and none given
	CodeTableMismatch    = "table-mismatch"             // the device's table differs from the project's
	CodeNVSMissing       = "nvs-partition-missing"      // no NVS partition of that name
	CodeNVSFlagEncrypted = "nvs-flagged-encrypted"      // the NVS partition carries the encrypted flag
	CodeKeysMissing      = "keys-partition-missing"     // flash-enc scheme without an nvs_keys partition
	CodeKeysNotFlagged   = "keys-not-flagged-encrypted" // nvs_keys without the encrypted flag

	// The nvs_keys partition.
	CodeKeysPlain      = "keys-written-plain"    // plain keys on flash while flash encryption is on
	CodeKeysEmpty      = "keys-empty"            // all 0xFF: the firmware makes its own keys
	CodeKeysDeviceMade = "keys-device-generated" // the firmware's own keys are on flash
	CodeKeysCorrupt    = "keys-corrupt"          // the keys do not pass the CRC check
	CodeKeysDiffer     = "keys-differ"           // the device's keys are not the user's --keys
	CodeKeysUnverified = "keys-unverified"       // encrypted keys and no --flash-key to read them

	// The HMAC scheme.
	CodeHMACUnsupported = "hmac-unsupported"  // the chip has no HMAC peripheral
	CodeHMACKeyMissing  = "hmac-key-missing"  // no eFuse key block with purpose HMAC_UP
	CodeHMACBlockInUse  = "hmac-block-in-use" // the chosen block holds another purpose

	// The NVS data partition.
	CodeNVSNotNVS              = "nvs-not-nvs"              // what is at the NVS offset is not NVS
	CodeNVSDoubleEncrypted     = "nvs-flash-encrypted"      // NVS written through flash encryption
	CodeNVSBlank               = "nvs-blank"                // the NVS partition is erased
	CodeNVSNoFreePage          = "nvs-no-free-page"         // the device cannot mount it: no free page
	CodeNVSNewVersion          = "nvs-new-version"          // a page has an NVS format version the firmware rejects
	CodeNVSWrongKeys           = "nvs-wrong-keys"           // the image does not decrypt with the device's keys
	CodeNVSPlaintext           = "nvs-plaintext"            // a plain image where the firmware decrypts
	CodeNVSUnexpectedEncrypted = "nvs-encrypted-unexpected" // an encrypted image where the firmware reads plain
	CodeNVSEntriesErased       = "nvs-entries-erased"       // the device erased the entries it could not read
	CodeNVSUnverified          = "nvs-unverified"           // encrypted image and no keys to read it

	// The user's CSV.
	CodeCSVMissing = "csv-missing" // a key of the CSV is not on the device
	CodeCSVDiffers = "csv-differs" // a key of the CSV has another type or value on the device
)

// Codes returns every finding code, in the order of the list above.
func Codes() []string {
	return []string{
		CodeSecurityUnknown,
		CodeSecureDownload,
		CodeTableUnreadable,
		CodeTableMismatch,
		CodeNVSMissing,
		CodeNVSFlagEncrypted,
		CodeKeysMissing,
		CodeKeysNotFlagged,
		CodeKeysPlain,
		CodeKeysEmpty,
		CodeKeysDeviceMade,
		CodeKeysCorrupt,
		CodeKeysDiffer,
		CodeKeysUnverified,
		CodeHMACUnsupported,
		CodeHMACKeyMissing,
		CodeHMACBlockInUse,
		CodeNVSNotNVS,
		CodeNVSDoubleEncrypted,
		CodeNVSBlank,
		CodeNVSNoFreePage,
		CodeNVSNewVersion,
		CodeNVSWrongKeys,
		CodeNVSPlaintext,
		CodeNVSUnexpectedEncrypted,
		CodeNVSEntriesErased,
		CodeNVSUnverified,
		CodeCSVMissing,
		CodeCSVDiffers,
	}
}
