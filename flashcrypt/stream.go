package flashcrypt

import (
	"fmt"
	"io"
)

// Writer encrypts (or decrypts) a stream as it is written: the first byte written lies at the
// flash address given to NewWriter, and the output goes to the underlying writer block by
// block. Close flushes and fails with ErrLength when the stream did not end on a block boundary
// (the bytes of a partial block are never written) or was empty. It does not close the
// underlying writer.
type Writer struct {
	c       Cipher
	w       io.Writer
	addr    uint32
	decrypt bool
	buf     []byte // pending input, less than chunk bytes
	out     []byte
	n       int64 // bytes processed
	err     error
}

// chunk is how much the Writer processes per call to the cipher.
const chunk = 64 << 10

// NewWriter returns a Writer that encrypts what is written to it with c, starting at addr, and
// writes the ciphertext to w.
func NewWriter(w io.Writer, c Cipher, addr uint32) *Writer {
	return &Writer{c: c, w: w, addr: addr, buf: make([]byte, 0, chunk), out: make([]byte, chunk)}
}

// NewDecryptWriter is NewWriter for decryption: what is written is flash contents read at addr,
// and the plaintext goes to w.
func NewDecryptWriter(w io.Writer, c Cipher, addr uint32) *Writer {
	wr := NewWriter(w, c, addr)
	wr.decrypt = true
	return wr
}

// Write buffers p and processes every whole chunk.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	total := len(p)
	for len(p) > 0 {
		n := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+n]
		p = p[n:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(len(w.buf)); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

// flush processes the first n bytes of the buffer (a multiple of BlockSize).
func (w *Writer) flush(n int) error {
	if n == 0 {
		return nil
	}
	addr64 := uint64(w.addr) + uint64(w.n)
	if addr64 >= 1<<32 {
		w.err = fmt.Errorf("stream passes the 4 GiB address space: %w", ErrAddress)
		return w.err
	}
	addr := uint32(addr64)
	var err error
	if w.decrypt {
		err = w.c.Decrypt(w.out[:n], w.buf[:n], addr)
	} else {
		err = w.c.Encrypt(w.out[:n], w.buf[:n], addr)
	}
	if err != nil {
		w.err = err
		return err
	}
	if _, err := w.w.Write(w.out[:n]); err != nil {
		w.err = err
		return err
	}
	w.n += int64(n)
	rest := copy(w.buf, w.buf[n:])
	w.buf = w.buf[:rest]
	return nil
}

// Close processes what is buffered. It fails with ErrLength when a partial block is left or
// nothing was written at all.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	whole := len(w.buf) - len(w.buf)%BlockSize
	if err := w.flush(whole); err != nil {
		return err
	}
	if len(w.buf) > 0 {
		w.err = fmt.Errorf("stream ends %d bytes into a %d-byte block: %w", len(w.buf), BlockSize, ErrLength)
		return w.err
	}
	if w.n == 0 {
		w.err = fmt.Errorf("input data must be longer than 0: %w", ErrLength)
		return w.err
	}
	w.err = errClosed
	return nil
}

// Written returns the number of bytes processed and written to the underlying writer.
func (w *Writer) Written() int64 { return w.n }

var errClosed = fmt.Errorf("flashcrypt: write to a closed Writer")

// PadFF returns data padded with 0xFF to a multiple of BlockSize (data itself when it is one
// already): what erased flash holds, and the deterministic stand-in for the random bytes
// espsecure pads an ESP32 encryption with.
func PadFF(data []byte) []byte {
	r := len(data) % BlockSize
	if r == 0 {
		return data
	}
	out := make([]byte, len(data)+BlockSize-r)
	copy(out, data)
	for i := len(data); i < len(out); i++ {
		out[i] = 0xFF
	}
	return out
}
