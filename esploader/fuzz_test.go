package esploader

import (
	"bytes"
	"testing"
)

// FuzzSLIPDecode: the decoder never panics, never emits an empty frame, and every frame it
// emits encodes back to bytes that decode to the same frame.
func FuzzSLIPDecode(f *testing.F) {
	f.Add([]byte{0xC0, 1, 2, 3, 0xC0})
	f.Add([]byte("ets Jun  8 2016\r\n\xC0\x01\x08\x04\x00\x07\x07\x12\x20\x00\x00\x00\x00\xC0"))
	f.Add([]byte{0xC0, 0xDB, 0xDC, 0xDB, 0xDD, 0xC0, 0xC0, 0xDB, 0xC0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 {
			return // larger inputs find nothing new and make the minimiser crawl
		}
		var d SLIPDecoder
		half := len(in) / 2
		var frames [][]byte
		emit := func(fr []byte) { frames = append(frames, fr) }
		d.Feed(in[:half], emit)
		d.Feed(in[half:], emit)
		whole, _ := SLIPDecode(in)
		if len(whole) != len(frames) {
			t.Fatalf("split feed gave %d frames, whole %d", len(frames), len(whole))
		}
		for i, fr := range frames {
			if len(fr) == 0 {
				t.Fatal("empty frame")
			}
			if !bytes.Equal(fr, whole[i]) {
				t.Fatal("split feed changed a frame")
			}
			again, _ := SLIPDecode(SLIPEncode(fr))
			if len(again) != 1 || !bytes.Equal(again[0], fr) {
				t.Fatal("encode/decode round trip")
			}
		}
	})
}

// FuzzParseResponse: the reply parser and the status check never panic, whatever the bytes and
// the expected payload length.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte{1, 0x0A, 4, 0, 0x83, 0x1D, 0xF0, 0, 0, 0, 0, 0}, 0)
	f.Add([]byte{1, 0x13, 36, 0, 0, 0, 0, 0, 'e', 'd', 'c', 'e', 'e', '7', '0', '6', '2', '1', '5', '5', 'c', '9', '0', '8', '8', '0', '4', '0', 'e', '2', 'd', '2', '4', 'f', '9', '5', 'e', '8', '5', '2', 0, 0, 0, 0}, 32)
	f.Add([]byte{1, 0x11, 2, 0, 0, 0, 0, 0, 0xC1, 0}, 0)
	f.Add([]byte{1, 0x14, 0xFF, 0xFF, 0, 0, 0, 0}, 20)
	f.Add([]byte{1, 0x08, 4, 0, 7, 7, 0x12, 0x20, 1, 5, 0, 0}, 0) // the ESP32's stale refusal
	f.Add([]byte{1, 0x0E, 68, 0}, 64)
	f.Fuzz(func(t *testing.T, pkt []byte, payloadLen int) {
		if len(pkt) > 1024 {
			return // larger inputs find nothing new and make the minimiser crawl
		}
		// The trace's redaction reads untrusted replies too.
		for _, dir := range []string{"<", ">"} {
			if shown, _ := redact(dir, pkt, 0x3FF5A038); len(shown) > len(pkt) {
				t.Fatal("redaction grew the packet")
			}
		}
		r, err := ParseResponse(pkt)
		if err != nil {
			return
		}
		_ = refusal(r)
		if len(r.Data) > len(pkt)-8 {
			t.Fatal("data longer than the packet")
		}
		p, err := r.Status(payloadLen % 80)
		if err == nil && len(p) != payloadLen%80 {
			t.Fatalf("payload %d bytes, want %d", len(p), payloadLen%80)
		}
	})
}
