// Package flashcrypt implements the flash encryption of the ESP32 family with a known key, as
// the chip applies it when it writes flash and as espsecure's encrypt-flash-data and
// decrypt-flash-data compute it on the host (byte for byte the same as espsecure v5.3.1).
//
// Two schemes exist:
//
//   - SchemeESP32 (the ESP32): AES-256 per 16-byte block, with the key tweaked by flash-address
//     bits 5..23 under the control of the FLASH_CRYPT_CONFIG eFuse (normally 0xF), and run in
//     the decrypt direction to encrypt. Key files are 32 bytes, or 24 bytes for the 3/4 coding
//     scheme. Addresses must lie below 16 MiB.
//   - SchemeXTS (ESP32-S2, -S3, -C2, -C3, -C5, -C6, -H2, -P4): XTS-AES over 128-byte data units
//     aligned on the flash address, the unit's address as the tweak. Key files are 32 bytes
//     (XTS-AES-128), 64 bytes (XTS-AES-256) or 16 bytes (hashed to 32 with SHA-256, as espsecure
//     does for the ESP32-C2).
//
// Both reverse the bytes of every block (ESP32: 16 bytes; XTS: 128 bytes) around the cipher.
// The ciphertext depends on the absolute flash address, so data must be encrypted for the
// address it will be written at. Addresses and lengths are multiples of 16; partial XTS units
// are fine (each block is independent). The package never pads: PadFF pads with 0xFF when a
// caller wants it.
//
// The key file is the one given to espefuse burn-key and espsecure: the eFuse key block holds
// its bytes reversed, which this package does not need to know.
package flashcrypt
