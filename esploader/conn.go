package esploader

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// conn moves SLIP frames over an io.ReadWriter. A goroutine pumps the reader into a channel so
// that every read can have a timeout whatever the stream is.
type conn struct {
	w      io.Writer
	in     chan []byte
	done   chan struct{}
	rerr   error
	dec    SLIPDecoder
	frames [][]byte
	out    atomic.Int64 // bytes written
	inN    atomic.Int64 // bytes read
	trace  io.Writer    // if not nil, every frame is logged here
	start  time.Time
	// traceData shows data payloads in the trace (trace.go); lastReg is the address of the last
	// READ_REG request, whose reply may be an eFuse key word.
	traceData bool
	lastReg   uint32
	// timeouts counts the commands other than SYNC that waited out their timeout.
	timeouts int
}

// tracef logs one line of the exchange, with the time since the connection started.
func (c *conn) tracef(dir string, p []byte) {
	if c.trace == nil {
		return
	}
	const limit = 48
	more := ""
	total := len(p)
	if !c.traceData {
		p, more = redact(dir, p, c.lastReg)
	}
	if len(p) > limit {
		more = fmt.Sprintf(" ... (%d bytes)", total)
		p = p[:limit]
	}
	fmt.Fprintf(c.trace, "%8.3f %s % x%s\n", time.Since(c.start).Seconds(), dir, p, more)
}

func newConn(rw io.ReadWriter) *conn {
	c := &conn{w: rw, in: make(chan []byte, 256), done: make(chan struct{}), start: time.Now()}
	go c.pump(rw)
	return c
}

func (c *conn) pump(r io.Reader) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			c.in <- append([]byte(nil), buf[:n]...)
		}
		if err != nil {
			c.rerr = err
			close(c.done)
			return
		}
	}
}

func (c *conn) feed(p []byte) {
	c.inN.Add(int64(len(p)))
	n, first := len(c.dec.Log()), len(c.frames)
	c.dec.Feed(p, func(f []byte) { c.frames = append(c.frames, f) })
	if c.trace != nil {
		// Text first: the chip prints its banner before it answers.
		if len(c.dec.Log()) > n {
			fmt.Fprintf(c.trace, "%8.3f < text %q\n", time.Since(c.start).Seconds(), c.dec.Log()[n:])
		}
		for _, f := range c.frames[first:] {
			c.tracef("<", f)
		}
	}
}

// readFrame returns the next frame, waiting at most timeout.
func (c *conn) readFrame(timeout time.Duration) ([]byte, error) {
	var t *time.Timer
	for len(c.frames) == 0 {
		select {
		case p := <-c.in:
			c.feed(p)
			continue
		default:
		}
		if t == nil {
			t = time.NewTimer(timeout)
			defer t.Stop()
		}
		select {
		case p := <-c.in:
			c.feed(p)
		case <-c.done:
			select {
			case p := <-c.in:
				c.feed(p)
				continue
			default:
			}
			if len(c.frames) > 0 {
				break
			}
			if c.rerr != nil && c.rerr != io.EOF {
				return nil, fmt.Errorf("%w (%v)", ErrDisconnected, c.rerr)
			}
			return nil, ErrDisconnected
		case <-t.C:
			return nil, ErrTimeout
		}
	}
	f := c.frames[0]
	c.frames = c.frames[1:]
	return f, nil
}

// write sends one request.
func (c *conn) write(cmd Command, data []byte, checksum uint32) error {
	req := EncodeRequest(cmd, data, checksum)
	if cmd == CmdReadReg && len(data) >= 4 {
		c.lastReg = uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
	}
	c.tracef(">", req)
	b := SLIPEncode(req)
	n, err := c.w.Write(b)
	c.out.Add(int64(n))
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrDisconnected, err)
	}
	return nil
}

// flush drops everything received so far, waiting quiet for the given time first.
func (c *conn) flush(wait time.Duration) {
	before := c.inN.Load()
	defer func() {
		if n := c.inN.Load() - before; n > 0 && c.trace != nil {
			fmt.Fprintf(c.trace, "%8.3f < %d bytes dropped\n", time.Since(c.start).Seconds(), n)
		}
	}()
	if wait > 0 {
		t := time.NewTimer(wait)
	loop:
		for {
			select {
			case p := <-c.in:
				c.inN.Add(int64(len(p)))
			case <-t.C:
				break loop
			case <-c.done:
				t.Stop()
				break loop
			}
		}
	}
	for {
		select {
		case p := <-c.in:
			c.inN.Add(int64(len(p)))
			continue
		default:
		}
		break
	}
	c.frames = nil
	c.dec.Reset()
}

// command sends a request and waits for the reply with the same command code, skipping stale
// or unparsable frames, for at most timeout.
func (c *conn) command(cmd Command, data []byte, checksum uint32, timeout time.Duration) (Response, error) {
	if err := c.write(cmd, data, checksum); err != nil {
		return Response{}, err
	}
	deadline := time.Now().Add(timeout)
	var lastErr error = ErrTimeout
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return Response{}, c.timedOut(cmd, lastErr)
		}
		f, err := c.readFrame(left)
		if errors.Is(err, ErrTimeout) {
			return Response{}, c.timedOut(cmd, lastErr)
		}
		if err != nil {
			return Response{}, err
		}
		r, err := ParseResponse(f)
		if err != nil {
			lastErr = err
			continue
		}
		if r.Cmd != cmd {
			if refusal(r) {
				// The ESP32 ROM answers an opcode it does not implement with replies that repeat
				// the previous reply's opcode and value, with status 01 05: the command is not
				// supported. Let the other copies arrive and drop them, so that they are not
				// taken for the answer to the next command.
				c.drain()
				return Response{}, &StatusError{Cmd: cmd, Status: r.Data[0], Code: r.Data[1], Stale: true}
			}
			continue
		}
		if refusal(r) {
			// A refusal may come more than once: drop the copies before the next command.
			c.drain()
		}
		return r, nil
	}
}

// timedOut counts a command that waited out its timeout and returns its error: the last
// unparsable reply's, or ErrTimeout.
func (c *conn) timedOut(cmd Command, lastErr error) error {
	if cmd != CmdSync {
		c.timeouts++
	}
	return fmt.Errorf("%s: %w", cmd, lastErr)
}

// refusal reports whether r carries nothing but a "message invalid / command unsupported"
// status: a failure with reason 0x05 and no payload (the rule esptool applies, limited to
// status-only replies so that a late reply with data cannot pass for one).
func refusal(r Response) bool {
	return (len(r.Data) == 4 || len(r.Data) == 2) && r.Data[0] != 0 && r.Data[1] == CodeInvalidMessage
}

// Drain timing: the loader sends the copies of a refusal back to back, so once the line has
// been quiet for drainQuiet they have all arrived; drainMax bounds the wait on a line that
// never goes quiet.
const (
	drainQuiet = 30 * time.Millisecond
	drainMax   = 500 * time.Millisecond
)

// drain drops everything received until the line has been quiet for drainQuiet (at most
// drainMax), and any frames already decoded.
func (c *conn) drain() {
	before := c.inN.Load()
	stop := time.NewTimer(drainMax)
	defer stop.Stop()
	quiet := time.NewTimer(drainQuiet)
	defer quiet.Stop()
loop:
	for {
		select {
		case p := <-c.in:
			c.inN.Add(int64(len(p)))
			// Since Go 1.23 Reset leaves no stale expiry in the channel (go.mod: go 1.26).
			quiet.Reset(drainQuiet)
		case <-quiet.C:
			break loop
		case <-stop.C:
			break loop
		case <-c.done:
			break loop
		}
	}
	if c.trace != nil {
		fmt.Fprintf(c.trace, "%8.3f < refused; %d frames and %d bytes after it dropped\n", time.Since(c.start).Seconds(), len(c.frames), c.inN.Load()-before)
	}
	c.frames = nil
	c.dec.Reset()
}
