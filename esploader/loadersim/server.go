package loadersim

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultIdleTimeout is how long a session may stay silent before ServeListener closes it.
const DefaultIdleTimeout = 30 * time.Second

// BusyMessage is the text a client that connects while another is being served receives
// before its connection is closed.
const BusyMessage = "loadersim: busy: another client is connected to this simulated chip; try again when it has finished\r\n"

// ServeOptions tune ServeListenerWith.
type ServeOptions struct {
	// Sessions, if > 0, stops serving (and closes the listener) after this many sessions.
	Sessions int
	// IdleTimeout closes a session whose client has sent nothing for this long, so that an
	// idle client cannot hold the chip for everyone else (0: DefaultIdleTimeout; < 0: never).
	IdleTimeout time.Duration
	// Log, if not nil, receives one line when a session starts, ends, or a client is turned
	// away because another is being served.
	Log func(string)
}

// ServeListener serves the connections on ln as ServeListenerWith does with default options,
// until ln is closed.
func (s *Sim) ServeListener(ln net.Listener) error { return s.ServeListenerWith(ln, ServeOptions{}) }

// ServeListenerWith accepts connections on ln and serves one at a time, as a chip has one
// UART: a client that connects while another is served gets BusyMessage and is disconnected,
// and a session idle for o.IdleTimeout is closed. It returns when ln is closed (closing the
// session in progress) or after o.Sessions sessions.
func (s *Sim) ServeListenerWith(ln net.Listener, o ServeOptions) error {
	idle := o.IdleTimeout
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, args...))
		}
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		active net.Conn
		closed bool
		served atomic.Int64
	)
	free := make(chan struct{}, 1)
	free <- struct{}{}
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			mu.Lock()
			closed = true
			if active != nil {
				active.Close()
			}
			mu.Unlock()
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A client that connects just as the previous one leaves waits for its session to
			// wind down; one that connects while another is being served is turned away.
			select {
			case <-free:
			case <-time.After(busyWait):
				logf("busy: turned away %s", c.RemoteAddr())
				c.SetWriteDeadline(time.Now().Add(time.Second))
				c.Write([]byte(BusyMessage))
				c.Close()
				return
			}
			defer func() { free <- struct{}{} }()
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			active = c
			mu.Unlock()
			logf("session from %s", c.RemoteAddr())
			var rw net.Conn = c
			if idle > 0 {
				rw = &idleConn{Conn: c, idle: idle}
			}
			err := s.Serve(rw)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				logf("session from %s closed: idle for %s", c.RemoteAddr(), idle)
			} else {
				logf("session from %s ended", c.RemoteAddr())
			}
			mu.Lock()
			active = nil
			mu.Unlock()
			if o.Sessions > 0 && served.Add(1) >= int64(o.Sessions) {
				ln.Close()
			}
		}()
	}
}

// busyWait is how long a new client waits for the session in progress to end before it is
// turned away as busy.
const busyWait = time.Second

// idleConn ends a session whose client sends nothing for idle: each read gets a deadline.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	return c.Conn.Read(p)
}
