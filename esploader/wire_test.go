package esploader

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

func TestSLIP(t *testing.T) {
	cases := []struct {
		name  string
		frame []byte
		wire  []byte
	}{
		{"plain", []byte{1, 2, 3}, []byte{0xC0, 1, 2, 3, 0xC0}},
		{"escape C0", []byte{0xC0}, []byte{0xC0, 0xDB, 0xDC, 0xC0}},
		{"escape DB", []byte{0xDB}, []byte{0xC0, 0xDB, 0xDD, 0xC0}},
		{"both, DB first", []byte{0xDB, 0xDC, 0xC0, 0xDD}, []byte{0xC0, 0xDB, 0xDD, 0xDC, 0xDB, 0xDC, 0xDD, 0xC0}},
	}
	for _, c := range cases {
		if got := SLIPEncode(c.frame); !bytes.Equal(got, c.wire) {
			t.Errorf("%s: encode % X, want % X", c.name, got, c.wire)
		}
		frames, noise := SLIPDecode(c.wire)
		if len(frames) != 1 || !bytes.Equal(frames[0], c.frame) || len(noise) != 0 {
			t.Errorf("%s: decode %v %q", c.name, frames, noise)
		}
	}
}

func TestSLIPDecoderStream(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		frames  []string
		noise   string
		dropped int
	}{
		{"banner then frame", "boot:0x3\r\n\xC0ab\xC0", []string{"ab"}, "boot:0x3\r\n", 0},
		{"back to back", "\xC0a\xC0\xC0b\xC0", []string{"a", "b"}, "", 0},
		{"empty frames ignored", "\xC0\xC0\xC0\xC0x\xC0", []string{"x"}, "", 0},
		{"bad escape dropped", "\xC0a\xDBzb\xC0\xC0c\xC0", []string{"c"}, "", 1},
		{"escape at end dropped", "\xC0a\xDB\xC0", nil, "", 1},
		{"unterminated", "\xC0abc", nil, "", 0},
	}
	for _, c := range cases {
		var d SLIPDecoder
		var got []string
		// Feed byte by byte: framing must not depend on how reads split the stream.
		for i := 0; i < len(c.in); i++ {
			d.Feed([]byte{c.in[i]}, func(f []byte) { got = append(got, string(f)) })
		}
		if len(got) != len(c.frames) || string(d.Log()) != c.noise || d.Dropped != c.dropped {
			t.Errorf("%s: frames %q noise %q dropped %d", c.name, got, d.Log(), d.Dropped)
			continue
		}
		for i := range got {
			if got[i] != c.frames[i] {
				t.Errorf("%s: frame %d %q, want %q", c.name, i, got[i], c.frames[i])
			}
		}
	}
}

func TestParseResponseAndStatus(t *testing.T) {
	cases := []struct {
		name       string
		pkt        []byte
		payloadLen int
		wantErr    error
		code       byte
		payload    []byte
	}{
		{"ok, 4-byte status", []byte{1, 0x0A, 4, 0, 0x83, 0x1D, 0xF0, 0, 0, 0, 0, 0}, 0, nil, 0, []byte{}},
		{"ok, 2-byte status", []byte{1, 0x0A, 2, 0, 0, 0, 0, 0, 0, 0}, 0, nil, 0, []byte{}},
		{"ROM failure", []byte{1, 0x11, 4, 0, 0, 0, 0, 0, 1, 0x07, 0, 0}, 0, &StatusError{}, 0x07, nil},
		{"stub failure", []byte{1, 0x11, 2, 0, 0, 0, 0, 0, 0xC1, 0}, 0, &StatusError{}, 0xC1, nil},
		{"payload then status", []byte{1, 0x0E, 6, 0, 0, 0, 0, 0, 0xAA, 0xBB, 0, 0, 0, 0}, 2, nil, 0, []byte{0xAA, 0xBB}},
		{"short", []byte{1, 0x0A, 4}, 0, ErrBadReply, 0, nil},
		{"request, not reply", []byte{0, 0x0A, 0, 0, 0, 0, 0, 0}, 0, ErrBadReply, 0, nil},
		{"length past the end", []byte{1, 0x0A, 9, 0, 0, 0, 0, 0, 0, 0}, 0, ErrBadReply, 0, nil},
		{"no status bytes", []byte{1, 0x0A, 0, 0, 0, 0, 0, 0}, 0, ErrBadReply, 0, nil},
	}
	for _, c := range cases {
		r, err := ParseResponse(c.pkt)
		var p []byte
		if err == nil {
			p, err = r.Status(c.payloadLen)
		}
		var se *StatusError
		switch {
		case c.wantErr == nil:
			if err != nil || !bytes.Equal(p, c.payload) {
				t.Errorf("%s: %v % X", c.name, err, p)
			}
		case errors.As(c.wantErr, &se):
			if !errors.As(err, &se) || se.Code != c.code {
				t.Errorf("%s: %v, want status code 0x%02X", c.name, err, c.code)
			}
		default:
			if !errors.Is(err, c.wantErr) {
				t.Errorf("%s: %v, want %v", c.name, err, c.wantErr)
			}
		}
	}
}

func TestEncodeRequest(t *testing.T) {
	got := EncodeRequest(CmdReadReg, words(0x40001000), 0)
	want := []byte{0, 0x0A, 4, 0, 0, 0, 0, 0, 0x00, 0x10, 0x00, 0x40}
	if !bytes.Equal(got, want) {
		t.Fatalf("% X", got)
	}
	if Checksum([]byte{0xEF}) != 0 || Checksum(nil) != 0xEF {
		t.Fatal("checksum")
	}
	if len(syncData()) != 36 {
		t.Fatal("sync data")
	}
}

// lineLog records DTR/RTS changes.
type lineLog struct{ ops []string }

func (l *lineLog) SetDTR(on bool) error {
	l.ops = append(l.ops, map[bool]string{true: "D1", false: "D0"}[on])
	return nil
}
func (l *lineLog) SetRTS(on bool) error {
	l.ops = append(l.ops, map[bool]string{true: "R1", false: "R0"}[on])
	return nil
}

type bothLog struct{ lineLog }

func (l *bothLog) SetLines(dtr, rts bool) error {
	l.ops = append(l.ops, map[bool]string{true: "D1", false: "D0"}[dtr]+map[bool]string{true: "R1", false: "R0"}[rts])
	return nil
}

func TestResetSequences(t *testing.T) {
	var slept []time.Duration
	sleep := func(d time.Duration) { slept = append(slept, d) }
	cases := []struct {
		name  string
		mode  ResetMode
		usb   bool
		try   int
		lines Lines
		want  string
	}{
		{"classic", ResetClassic, false, 0, &lineLog{}, "D0 R1 D0 D1 R0 D1 D0"},
		{"tight", ResetUnixTight, false, 0, &bothLog{}, "D0R0 D1R1 D0R1 D1R0 D0R0 D0"},
		{"usb-jtag", ResetUSBJTAG, false, 0, &lineLog{}, "R0 D0 D1 R0 R1 D0 R1 D0 R0"},
		{"auto on usb", ResetAuto, true, 3, &lineLog{}, "R0 D0 D1 R0 R1 D0 R1 D0 R0"},
		{"auto 3rd try is classic", ResetAuto, false, 2, &lineLog{}, "D0 R1 D0 D1 R0 D1 D0"},
		{"none", ResetNone, false, 0, &lineLog{}, ""},
	}
	for _, c := range cases {
		slept = nil
		r := resetter{lines: c.lines, sleep: sleep}
		r.plan(c.mode, c.usb, c.try)()
		var ops []string
		switch l := c.lines.(type) {
		case *lineLog:
			ops = l.ops
		case *bothLog:
			ops = l.ops
		}
		if got := join(ops); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

// noLines fails like a pty: the reset stops at once and connecting carries on.
type noLines struct{ calls int }

func (n *noLines) SetDTR(bool) error { n.calls++; return errors.New("inappropriate ioctl for device") }
func (n *noLines) SetRTS(bool) error { n.calls++; return errors.New("inappropriate ioctl for device") }

func TestResetWithoutLines(t *testing.T) {
	n := &noLines{}
	resetter{lines: n, sleep: func(time.Duration) { t.Fatal("slept without lines") }}.plan(ResetClassic, false, 0)()
	if n.calls != 1 {
		t.Fatalf("%d calls", n.calls)
	}
}

func TestHardReset(t *testing.T) {
	l := &lineLog{}
	resetter{lines: l, sleep: func(time.Duration) {}}.hard(false)
	if got := join(l.ops); got != "R1 R0" {
		t.Fatalf("%q", got)
	}
}

// Every stream Compress makes inflates to exactly its input.
func TestCompressRoundTrip(t *testing.T) {
	img, err := os.ReadFile("../testdata/golden/nvs-gen/seed_certs_0x6000/expected.bin")
	if err != nil {
		t.Fatal(err)
	}
	inputs := [][]byte{img, img[:100], bytes.Repeat([]byte{0xFF}, 4096), {0}, append([]byte("x"), bytes.Repeat([]byte{0xFF}, 9000)...)}
	for i, in := range inputs {
		for _, lv := range []int{0, 1, 9} {
			r, err := zlib.NewReader(bytes.NewReader(Compress(in, lv)))
			if err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("input %d level %d: %v", i, lv, err)
			}
		}
	}
	if n := len(Compress(img, 0)); n >= 3454 {
		t.Errorf("golden image compresses to %d bytes, esptool's level 9 makes 3454", n)
	}
}

func TestChipByName(t *testing.T) {
	for in, want := range map[string]string{"esp32": "ESP32", "ESP32-C3": "ESP32-C3", "c3": "ESP32-C3", "esp32s3": "ESP32-S3", "ESP32_P4": "ESP32-P4", "h2": "ESP32-H2"} {
		if c, ok := ChipByName(in); !ok || c.Name != want {
			t.Errorf("%q: %q %v", in, c.Name, ok)
		}
	}
	for _, in := range []string{"", "esp8266", "c7"} {
		if _, ok := ChipByName(in); ok {
			t.Errorf("%q found", in)
		}
	}
}
