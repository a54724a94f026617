package flashcrypt

import (
	"bytes"
	"crypto/aes"
	"errors"
	"fmt"
	"io"
	"testing"

	"golang.org/x/crypto/xts"
)

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

func TestErrors(t *testing.T) {
	k32 := seq(32)
	tests := []struct {
		name   string
		scheme Scheme
		key    []byte
		conf   uint8
		addr   uint32
		n      int
		want   error
	}{
		{"esp32 key 16", SchemeESP32, seq(16), 0xF, 0, 32, ErrKeyLength},
		{"esp32 key 64", SchemeESP32, seq(64), 0xF, 0, 32, ErrKeyLength},
		{"esp32 key 20", SchemeESP32, seq(20), 0xF, 0, 32, ErrKeyLength},
		{"esp32 key 0", SchemeESP32, nil, 0xF, 0, 32, ErrKeyLength},
		{"xts key 24", SchemeXTS, seq(24), 0, 0, 32, ErrKeyLength},
		{"xts key 48", SchemeXTS, seq(48), 0, 0, 32, ErrKeyLength},
		{"esp32 conf 16", SchemeESP32, k32, 0x10, 0, 32, ErrCryptConf},
		{"esp32 addr 8", SchemeESP32, k32, 0xF, 8, 32, ErrAlignment},
		{"xts addr 4", SchemeXTS, k32, 0, 0x1004, 32, ErrAlignment},
		{"esp32 len 15", SchemeESP32, k32, 0xF, 0, 15, ErrLength},
		{"xts len 17", SchemeXTS, k32, 0, 0, 17, ErrLength},
		{"esp32 empty", SchemeESP32, k32, 0xF, 0, 0, ErrLength},
		{"xts empty", SchemeXTS, k32, 0, 0, 0, ErrLength},
		{"esp32 at 16 MiB", SchemeESP32, k32, 0xF, 0x1000000, 16, ErrAddress},
		{"esp32 across 16 MiB", SchemeESP32, k32, 0xF, 0xFFFFF0, 32, ErrAddress},
		{"xts past 4 GiB", SchemeXTS, k32, 0, 0xFFFFFFF0, 32, ErrAddress},
		{"esp32 just below 16 MiB", SchemeESP32, k32, 0xF, 0xFFFFF0, 16, nil},
		{"xts last block of 4 GiB", SchemeXTS, k32, 0, 0xFFFFFFF0, 16, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.scheme, tt.key, tt.conf)
			if err == nil {
				buf := seq(tt.n)
				err = c.Encrypt(buf, buf, tt.addr)
				if err == nil {
					err = c.Decrypt(buf, buf, tt.addr)
				}
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestKeyInfo(t *testing.T) {
	tests := []struct {
		scheme   Scheme
		n        int
		bits     int
		extended bool
	}{
		{SchemeESP32, 32, 256, false},
		{SchemeESP32, 24, 192, true},
		{SchemeXTS, 16, 128, true},
		{SchemeXTS, 32, 256, false},
		{SchemeXTS, 64, 512, false},
	}
	for _, tt := range tests {
		c, err := New(tt.scheme, seq(tt.n), DefaultCryptConf)
		if err != nil {
			t.Fatal(err)
		}
		if c.KeyBits() != tt.bits || c.Extended() != tt.extended || c.Scheme() != tt.scheme {
			t.Errorf("%v %d bytes: %d bits extended=%v", tt.scheme, tt.n, c.KeyBits(), c.Extended())
		}
	}
}

func TestSchemeForChip(t *testing.T) {
	for chip, want := range map[string]Scheme{
		"ESP32": SchemeESP32, "esp32": SchemeESP32, "ESP32-C3": SchemeXTS, "ESP32-S2": SchemeXTS,
		"ESP32-P4": SchemeXTS, "ESP8266": 0, "": 0,
	} {
		if got := SchemeForChip(chip); got != want {
			t.Errorf("%q: %v, want %v", chip, got, want)
		}
	}
}

// The per-block XTS implementation agrees with x/crypto/xts applied to whole reversed units.
func TestXTSMatchesReference(t *testing.T) {
	for _, n := range []int{32, 64} {
		key := seq(n)
		c, err := NewXTS(key)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := xts.NewCipher(aes.NewCipher, key)
		if err != nil {
			t.Fatal(err)
		}
		data := seq(1024)
		const addr = 0x12380
		got := make([]byte, len(data))
		if err := c.Encrypt(got, data, addr); err != nil {
			t.Fatal(err)
		}
		want := make([]byte, len(data))
		rev := make([]byte, XTSUnitSize)
		for off := 0; off < len(data); off += XTSUnitSize {
			for i := range rev {
				rev[i] = data[off+XTSUnitSize-1-i]
			}
			ref.Encrypt(rev, rev, uint64(addr+off))
			for i := range rev {
				want[off+XTSUnitSize-1-i] = rev[i]
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d-byte key: differs from the reference", n)
		}
	}
}

// A sub-range gives the same bytes as the whole range it is part of, in both schemes.
func TestSubRange(t *testing.T) {
	for _, s := range []Scheme{SchemeESP32, SchemeXTS} {
		data := seq(0x400)
		whole, err := Encrypt(s, seq(32), 0x1000, data)
		if err != nil {
			t.Fatal(err)
		}
		part, err := Encrypt(s, seq(32), 0x1030, data[0x30:0x130])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(part, whole[0x30:0x130]) {
			t.Errorf("%v: sub-range differs", s)
		}
	}
}

// Each FLASH_CRYPT_CONFIG group changes the key only where the address has its bits set; with
// conf 0 the key is the same everywhere.
func TestCryptConf(t *testing.T) {
	c0, _ := NewESP32(seq(32), 0)
	if c0.BlockKey(0) != c0.BlockKey(0xFFFFE0) {
		t.Error("conf 0 tweaks the key")
	}
	cF, _ := NewESP32(seq(32), 0xF)
	if cF.BlockKey(0x20) == cF.BlockKey(0x40) {
		t.Error("conf 0xF does not tweak the key")
	}
	if cF.BlockKey(0x20) != cF.BlockKey(0x3F) || cF.BlockKey(0) != cF.BlockKey(0x1F) {
		t.Error("address bits below 5 change the key")
	}
	if cF.BlockKey(0) != cF.BlockKey(0x1000000) {
		t.Error("address bit 24 changes the key")
	}
	// The number of key bits flipped for address 0xFFFFE0 (bits 5..23 all set) is the number of
	// bits in the enabled groups.
	k := seq(32)
	for conf, want := range map[uint8]int{1: 67, 2: 65, 4: 63, 8: 61, 0xF: 256} {
		c, _ := NewESP32(k, conf)
		bk := c.BlockKey(0xFFFFE0)
		flipped := 0
		for i := range bk {
			for x := bk[i] ^ k[i]; x != 0; x &= x - 1 {
				flipped++
			}
		}
		if flipped != want {
			t.Errorf("conf %X: %d bits flipped, want %d", conf, flipped, want)
		}
	}
}

func TestWriterMatchesSlices(t *testing.T) {
	for _, s := range []Scheme{SchemeESP32, SchemeXTS} {
		c, _ := New(s, seq(32), DefaultCryptConf)
		data := seq(3*chunk + 48)
		want := make([]byte, len(data))
		if err := c.Encrypt(want, data, 0x9010); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		w := NewWriter(&out, c, 0x9010)
		// Odd-sized writes.
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1000+len(rest)%777)
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want) || w.Written() != int64(len(data)) {
			t.Fatalf("%v: stream differs", s)
		}
		var back bytes.Buffer
		d := NewDecryptWriter(&back, c, 0x9010)
		if _, err := io.Copy(d, bytes.NewReader(want)); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil || !bytes.Equal(back.Bytes(), data) {
			t.Fatalf("%v: decrypt stream differs: %v", s, err)
		}
		if _, err := d.Write([]byte{1}); err == nil {
			t.Fatal("write after Close accepted")
		}
	}
}

func TestWriterPartialAndEmpty(t *testing.T) {
	c, _ := NewXTS(seq(32))
	var out bytes.Buffer
	w := NewWriter(&out, c, 0)
	w.Write(seq(40))
	if err := w.Close(); !errors.Is(err, ErrLength) {
		t.Fatalf("partial block: %v", err)
	}
	if out.Len() != 32 {
		t.Fatalf("wrote %d bytes; only the 2 whole blocks may be written", out.Len())
	}
	if err := NewWriter(&out, c, 0).Close(); !errors.Is(err, ErrLength) {
		t.Fatalf("empty: %v", err)
	}
	if err := NewWriter(&out, c, 8).Close(); err == nil {
		t.Fatal("misaligned empty stream accepted")
	}
	w = NewWriter(&out, c, 4)
	w.Write(seq(chunk))
	if err := w.Close(); !errors.Is(err, ErrAlignment) {
		t.Fatalf("misaligned: %v", err)
	}
}

func TestPadFF(t *testing.T) {
	for n, want := range map[int]int{1: 16, 15: 16, 16: 16, 17: 32, 0: 0} {
		got := PadFF(seq(n))
		if len(got) != want || !bytes.Equal(got[:n], seq(n)) {
			t.Errorf("%d: %d bytes", n, len(got))
		}
		for _, b := range got[n:] {
			if b != 0xFF {
				t.Errorf("%d: pad byte %#x", n, b)
			}
		}
	}
}

func BenchmarkEncrypt(b *testing.B) {
	for _, tc := range []struct {
		s   Scheme
		key int
	}{{SchemeESP32, 32}, {SchemeXTS, 32}, {SchemeXTS, 64}} {
		b.Run(fmt.Sprintf("%v-%d", tc.s, tc.key*8), func(b *testing.B) {
			c, _ := New(tc.s, seq(tc.key), DefaultCryptConf)
			data := seq(64 << 10)
			out := make([]byte, len(data))
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := c.Encrypt(out, data, 0x10000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzCipher: any key, address, conf and data either fails with a sentinel or round-trips.
func FuzzCipher(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef"), uint32(0x9000), uint8(0xF), false, []byte("0123456789abcdef"))
	f.Add(make([]byte, 64), uint32(0x10), uint8(3), true, make([]byte, 300))
	f.Add(make([]byte, 24), uint32(0xFFFFF0), uint8(0xF), false, make([]byte, 16))
	f.Add(make([]byte, 16), uint32(0xFFFFFFF0), uint8(0), true, make([]byte, 32))
	f.Fuzz(func(t *testing.T, key []byte, addr uint32, conf uint8, useXTS bool, data []byte) {
		if len(key) > 128 || len(data) > 4096 {
			return // larger inputs find nothing new and make the minimiser crawl
		}
		s := SchemeESP32
		if useXTS {
			s = SchemeXTS
		}
		c, err := New(s, key, conf)
		if err != nil {
			if !errors.Is(err, ErrKeyLength) && !errors.Is(err, ErrCryptConf) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		enc := make([]byte, len(data))
		if err := c.Encrypt(enc, data, addr); err != nil {
			if !errors.Is(err, ErrAlignment) && !errors.Is(err, ErrLength) && !errors.Is(err, ErrAddress) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		dec := make([]byte, len(enc))
		if err := c.Decrypt(dec, enc, addr); err != nil || !bytes.Equal(dec, data) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
