// Package port opens the connection to a chip by name: a serial device (COM3, /dev/ttyUSB0,
// /dev/cu.usbserial-0001) through go.bug.st/serial, or a TCP socket written socket://HOST:PORT
// (for "nvskit simulate" or a serial-to-network bridge). It lists the machine's serial ports,
// recognises the USB-serial bridges ESP boards carry (List fills Info.Bridge; Detect returns
// the one ESP board plugged in), and drives the DTR/RTS lines the reset sequences of package
// esploader use. It knows nothing of the protocol.
//
// Listing uses the serial library's USB enumerator, which gives vendor and product ids, except
// on macOS without cgo, where that enumerator cannot be built: there List reads the /dev/cu.*
// and /dev/tty.* devices and recognises ESP boards by their drivers' names (see Detailed). The
// choice is made by build tags, so every platform builds with CGO_ENABLED=0.
//
// Open's errors say what to do: ErrNotFound lists the ports that exist, ErrBusy names the
// usual culprits, and ErrPermission on Linux says to join the dialout group.
package port
