// Package loadersim is a simulated ESP ROM loader: it speaks the serial download protocol over
// any byte stream, for the ESP32, -S2, -S3, -C2, -C3, -C5, -C6, -H2 and -P4.
//
// Its flash behaves like NOR flash (an erase sets bytes to 0xFF, a write only clears bits) and
// lives in memory or in a file. It can emulate the UART's speed (following CHANGE_BAUDRATE),
// print a boot banner (or a normal-boot log, for the wrong-boot-mode case), report flash
// encryption or Secure Download Mode, and inject faults: dropped, corrupted or delayed bytes, a
// disconnect in the middle of a write, a wrong MD5.
//
// It is written from the serial protocol's description (Espressif's esptool documentation),
// independently of package esploader (it shares no code with it), so that it can check the
// client; it is also checked against esptool-js.
// "nvskit simulate" serves it on a TCP port.
package loadersim
