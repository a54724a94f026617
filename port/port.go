package port

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"runtime"
	"strings"
	"syscall"
	"time"

	"go.bug.st/serial"
)

// Port is an open connection to a chip: a serial device or a TCP socket.
type Port interface {
	io.ReadWriteCloser
	// Name is the name the port was opened with.
	Name() string
	// SetDTR and SetRTS drive the modem control lines; a socket has none and returns ErrNoLines.
	SetDTR(on bool) error
	SetRTS(on bool) error
	// SetBaudRate changes the host side's baud rate (a no-op on a socket).
	SetBaudRate(baud int) error
}

// Sentinel errors of Open.
var (
	// ErrNotFound: there is no such port.
	ErrNotFound = errors.New("no such port")
	// ErrBusy: another program has the port open.
	ErrBusy = errors.New("the port is in use by another program (a serial monitor, another nvskit or esptool?); close it and try again")
	// ErrPermission: the user may not open the port.
	ErrPermission = errors.New("permission denied")
	// ErrNoLines: the port has no DTR/RTS lines (a socket, a pty), so the chip cannot be reset.
	ErrNoLines = errors.New("the port has no DTR/RTS lines")
)

// DefaultBaud is the ROM loader's initial baud rate.
const DefaultBaud = 115200

// SocketPrefix marks a TCP port name: socket://HOST:PORT.
const SocketPrefix = "socket://"

// RFC2217Prefix marks an RFC 2217 (Telnet COM port control) port name, which nvskit does not
// support: Open refuses it with ErrRFC2217.
const RFC2217Prefix = "rfc2217://"

// ErrRFC2217: an rfc2217:// port was given.
var ErrRFC2217 = errors.New("rfc2217:// ports are not supported; run the bridge in raw TCP mode (ser2net: \"raw\" or \"accepter: tcp\" without telnet) and use socket://HOST:PORT, with the chip put in download mode by hand, or run nvskit on the machine the board is plugged into")

// ErrRefused: nothing listens at a socket:// address.
var ErrRefused = errors.New("connection refused")

// Open opens name: "socket://HOST:PORT" for TCP, otherwise a serial device (COM3,
// /dev/ttyUSB0) at baud (DefaultBaud if 0), 8N1, no flow control.
func Open(name string, baud int) (Port, error) {
	if baud <= 0 {
		baud = DefaultBaud
	}
	if strings.HasPrefix(strings.ToLower(name), RFC2217Prefix) {
		return nil, fmt.Errorf("%s: %w", name, ErrRFC2217)
	}
	if strings.HasPrefix(name, SocketPrefix) {
		addr := strings.TrimPrefix(name, SocketPrefix)
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%s: %w: nothing listens there; is nvskit simulate (or the serial-to-TCP bridge) running on that address?", name, ErrRefused)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return &socket{Conn: c, name: name}, nil
	}
	if name == "" {
		return nil, fmt.Errorf("%w: no port name given (use --port; nvskit ports lists them)", ErrNotFound)
	}
	p, err := serial.Open(name, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, openError(name, err)
	}
	return &serialPort{Port: p, name: name}, nil
}

func openError(name string, err error) error {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PortNotFound:
			return fmt.Errorf("%s: %w%s", name, ErrNotFound, listHint())
		case serial.PortBusy:
			return fmt.Errorf("%s: %w", name, ErrBusy)
		case serial.PermissionDenied:
			return permError(name)
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w%s", name, ErrNotFound, listHint())
	case errors.Is(err, fs.ErrPermission):
		return permError(name)
	}
	return fmt.Errorf("opening %s: %w", name, err)
}

func permError(name string) error {
	if runtime.GOOS == "linux" {
		return fmt.Errorf("%s: %w: add your user to the dialout group (sudo usermod -a -G dialout $USER), then log out and in again", name, ErrPermission)
	}
	return fmt.Errorf("%s: %w", name, ErrPermission)
}

func listHint() string {
	ps, err := List()
	if err != nil || len(ps) == 0 {
		return "; no serial ports found: is the board plugged in (and its USB-serial driver installed)?"
	}
	var n []string
	for _, p := range ps {
		n = append(n, p.Name)
	}
	return "; available: " + strings.Join(n, ", ")
}

// Lookup returns the Info of the named port, if List finds it.
func Lookup(name string) (Info, bool) {
	ps, err := List()
	if err != nil {
		return Info{}, false
	}
	for _, p := range ps {
		if p.Name == name {
			return p, true
		}
	}
	return Info{}, false
}

type serialPort struct {
	serial.Port
	name string
}

func (p *serialPort) Name() string { return p.name }

func (p *serialPort) SetBaudRate(baud int) error {
	return p.Port.SetMode(&serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
}

func (p *serialPort) SetDTR(on bool) error {
	if err := p.Port.SetDTR(on); err != nil {
		return fmt.Errorf("%w (%v)", ErrNoLines, err)
	}
	return nil
}

func (p *serialPort) SetRTS(on bool) error {
	if err := p.Port.SetRTS(on); err != nil {
		return fmt.Errorf("%w (%v)", ErrNoLines, err)
	}
	return nil
}

type socket struct {
	net.Conn
	name string
}

func (s *socket) Name() string          { return s.name }
func (s *socket) SetDTR(bool) error     { return ErrNoLines }
func (s *socket) SetRTS(bool) error     { return ErrNoLines }
func (s *socket) SetBaudRate(int) error { return nil }
