package loadersim

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func syncFrame() []byte {
	return slipWrap(append([]byte{0, 0x08, 0x24, 0, 0, 0, 0, 0, 7, 7, 0x12, 0x20}, bytes.Repeat([]byte{0x55}, 32)...))
}

// answers reports whether the simulator answers a SYNC on c.
func answers(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(syncFrame()); err != nil {
		return false
	}
	buf := make([]byte, 4096)
	var got []byte
	for !bytes.Contains(got, []byte{0xC0, 0x01, 0x08}) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return false
		}
	}
	return true
}

// An idle client does not hold the simulator for good: while it is connected, another client
// is told the simulator is busy; once it has been idle for the idle timeout it is disconnected
// and the next client is served.
func TestServeOneClientAtATime(t *testing.T) {
	s := newSim(t, "esp32c3")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var log []string
	done := make(chan struct{})
	go func() {
		s.ServeListenerWith(ln, ServeOptions{IdleTimeout: 1500 * time.Millisecond, Log: func(l string) {
			logMu.Lock()
			log = append(log, l)
			logMu.Unlock()
		}})
		close(done)
	}()
	defer func() { ln.Close(); <-done }()

	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !answers(t, a) {
		t.Fatal("first client not served")
	}
	// a stays idle; b is turned away.
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b.SetDeadline(time.Now().Add(5 * time.Second))
	msg, err := io.ReadAll(b)
	b.Close()
	if err != nil || string(msg) != BusyMessage {
		t.Fatalf("second client got %q, %v", msg, err)
	}
	// a is disconnected after being idle.
	a.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(a); err != nil {
		t.Fatalf("idle client not disconnected: %v", err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !answers(t, c) {
		t.Fatal("client after the idle one not served")
	}
	logMu.Lock()
	all := strings.Join(log, "\n")
	logMu.Unlock()
	if !strings.Contains(all, "busy: turned away") || !strings.Contains(all, "closed: idle for 1.5s") {
		t.Errorf("log:\n%s", all)
	}
}

// A client that connects right after the previous one left is served, not turned away.
func TestServeBackToBack(t *testing.T) {
	s := newSim(t, "esp32")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.ServeListenerWith(ln, ServeOptions{Sessions: 20}); close(done) }()
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if !answers(t, c) {
			t.Fatalf("client %d not served", i)
		}
		c.Close()
	}
	select {
	case <-done: // stopped after 20 sessions
	case <-time.After(5 * time.Second):
		t.Fatal("did not stop after the sessions")
	}
}
