// Package loadersim is a simulated ESP ROM loader: it speaks the serial download protocol over
// any byte stream, for the ESP32, -S2, -S3, -C2, -C3, -C5, -C6, -H2 and -P4.
//
// It models each chip's ROM where ROMs differ (profile.go): the ESP32's stale replies to a
// command it does not have, the 32 KiB decompression buffer it programs past the end of a
// compressed write (with what a previous write left in it), the C3's refusal of compressed
// encrypted writes (01 64), the 4-word FLASH_BEGIN of the ESP32 and the 5-word one of later
// chips. Sessions on a listener are served one at a time, with a busy message for other clients
// and a timeout for idle ones.
//
// Its flash behaves like NOR flash (an erase sets bytes to 0xFF, a write only clears bits) and
// lives in memory or in a file. It can emulate the UART's speed (following CHANGE_BAUDRATE),
// print a boot banner (or a normal-boot log, for the wrong-boot-mode case), and inject faults:
// dropped, corrupted or delayed bytes, a disconnect in the middle of a write, a wrong MD5.
//
// It carries a chip's security state: flash encryption in development or release mode, the
// flash-encryption key (given, or a random one of the chip's own), eFuse key purposes,
// encrypted download disabled, secure boot, Secure Download Mode. It shows them as the chip's
// ROM does, in the GET_SECURITY_INFO reply (not on the ESP32) and the eFuse read registers,
// encrypts the ROM's encrypted writes with its key (package flashcrypt), refuses them as the
// ROM refuses them, and returns raw flash on reads.
//
// It is written from the serial protocol's description (Espressif's esptool documentation),
// independently of package esploader (it shares no code with it), so that it can check the
// client; it is also checked against esptool-js.
// "nvskit simulate" serves it on a TCP port.
package loadersim
