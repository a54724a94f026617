// Package esploader speaks the ESP serial ROM loader protocol: the download mode every
// ESP32-family chip enters when IO0 is held low at reset.
//
// It holds the wire format (SLIP framing, request and reply packets, the 4-byte and 2-byte
// status forms, the *_DATA checksum), the reset sequences (classic DTR/RTS, the Unix "tight"
// variant, USB-Serial/JTAG, none) driven through the Lines interface, chip detection for the
// ESP32, -S2, -S3, -C2, -C3, -C5, -C6, -H2 and -P4, and the flash operations nvskit needs:
// SPI attach and parameters, writes verified by the chip's MD5 (compressed only where the ROM
// programs exactly the image: the ESP32 ROM programs its whole 32 KiB decompression buffer past
// a compressed image), read-back checked by MD5 per 4 KiB, erase of a region, baud-rate change,
// MAC and flash-id reads. rom.go records, for every command it sends, what each chip's ROM does
// with it, including the ESP32 ROM's answer to a command it lacks (stale replies carrying the
// previous command's opcode), which is recognised and drained rather than waited out.
//
// It reads a chip's security state (Security): the GET_SECURITY_INFO reply where the ROM has
// one (ParseSecurityInfo) and the eFuse registers of each chip (DecodeSecurity): flash encryption
// and its development or release mode, encrypted download, secure boot, Secure Download Mode,
// each key block's purpose and protection, the MAC. WriteFlashEncrypted writes through the chip's
// flash encryption with the ROM's encrypted write (ESP32-S2 and later), verified against the
// ciphertext of a known key when the caller gives one.
//
// It talks to the ROM loader only: an NVS partition is tens of KiB, so no flasher stub is
// uploaded. Everything runs over any io.ReadWriter (a serial port from package port, a TCP
// connection, a pty); timeouts do not depend on the stream supporting deadlines.
//
// A write is never reported successful unless the MD5 the chip computes over the written range
// matches the image. Lost or garbled exchanges are retried; what cannot be retried is returned as
// one of the sentinel errors (ErrNoSync, ErrWrongBootMode, ErrMD5Mismatch, ErrDisconnected, ...)
// with a message that says what to do.
package esploader
