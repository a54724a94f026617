package esploader

// SLIP framing (RFC 1055 with the ESP loader's conventions): every frame starts and ends
// with 0xC0; inside a frame 0xDB is sent as DB DD and 0xC0 as DB DC.

const (
	slipEnd    = 0xC0
	slipEsc    = 0xDB
	slipEscEnd = 0xDC
	slipEscEsc = 0xDD
)

// maxFrame bounds a frame the decoder will collect; longer frames are dropped.
const maxFrame = 64 << 10

// maxLog bounds the text kept from outside frames (the boot log).
const maxLog = 8 << 10

// SLIPEncode returns frame wrapped in 0xC0 delimiters with 0xC0 and 0xDB escaped.
func SLIPEncode(frame []byte) []byte {
	out := make([]byte, 0, len(frame)+len(frame)/16+2)
	out = append(out, slipEnd)
	for _, b := range frame {
		switch b {
		case slipEnd:
			out = append(out, slipEsc, slipEscEnd)
		case slipEsc:
			out = append(out, slipEsc, slipEscEsc)
		default:
			out = append(out, b)
		}
	}
	return append(out, slipEnd)
}

// SLIPDecoder splits a byte stream into SLIP frames. Bytes outside frames (a boot banner, a
// panic message) are kept in Log; frames with an invalid escape or over 64 KiB are dropped and
// counted. The zero value is ready to use.
type SLIPDecoder struct {
	inFrame bool
	esc     bool
	bad     bool
	buf     []byte
	log     []byte
	// Dropped counts frames discarded because of an invalid escape or excessive length.
	Dropped int
}

// Feed decodes p and calls emit for every complete, non-empty frame. The slice passed to
// emit is owned by the callee.
func (d *SLIPDecoder) Feed(p []byte, emit func(frame []byte)) {
	for _, b := range p {
		if !d.inFrame {
			if b == slipEnd {
				d.inFrame, d.esc, d.bad = true, false, false
				d.buf = d.buf[:0]
				continue
			}
			if len(d.log) < maxLog {
				d.log = append(d.log, b)
			}
			continue
		}
		switch {
		case b == slipEnd:
			if len(d.buf) == 0 && !d.bad && !d.esc {
				// C0 C0: the end of one frame and the start of the next, or an idle pair.
				continue
			}
			if d.bad || d.esc {
				d.Dropped++
			} else {
				emit(append([]byte(nil), d.buf...))
			}
			d.inFrame = false
			d.buf = d.buf[:0]
		case d.bad:
		case d.esc:
			d.esc = false
			switch b {
			case slipEscEnd:
				d.buf = append(d.buf, slipEnd)
			case slipEscEsc:
				d.buf = append(d.buf, slipEsc)
			default:
				d.bad = true
			}
		case b == slipEsc:
			d.esc = true
		default:
			d.buf = append(d.buf, b)
		}
		if len(d.buf) > maxFrame {
			d.bad = true
			d.buf = d.buf[:0]
		}
	}
}

// Log returns the bytes seen outside frames so far (at most 8 KiB).
func (d *SLIPDecoder) Log() []byte { return d.log }

// ResetLog forgets the bytes seen outside frames.
func (d *SLIPDecoder) ResetLog() { d.log = d.log[:0] }

// Reset drops any partial frame and the log.
func (d *SLIPDecoder) Reset() {
	d.inFrame, d.esc, d.bad = false, false, false
	d.buf = d.buf[:0]
	d.log = d.log[:0]
}

// SLIPDecode splits a complete byte sequence into its frames and the bytes outside them.
func SLIPDecode(p []byte) (frames [][]byte, noise []byte) {
	var d SLIPDecoder
	d.Feed(p, func(f []byte) { frames = append(frames, f) })
	return frames, d.Log()
}
