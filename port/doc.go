// Package port opens the connection to a chip by name: a serial device (COM3, /dev/ttyUSB0,
// /dev/cu.usbserial-0001) through go.bug.st/serial, or a TCP socket written socket://HOST:PORT
// (for "nvskit simulate" or a serial-to-network bridge). It lists the machine's serial ports
// and drives the DTR/RTS lines the reset sequences of package esploader use. It knows nothing
// of the protocol.
//
// Open's errors say what to do: ErrNotFound lists the ports that exist, ErrBusy names the
// usual culprits, and ErrPermission on Linux says to join the dialout group.
package port
