package esploader

import (
	"encoding/binary"
	"testing"
)

// FuzzParseSecurityInfo: the GET_SECURITY_INFO payload parser never panics, accepts exactly the
// 12-byte and 20-or-more-byte forms, and keeps the parity rule.
func FuzzParseSecurityInfo(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0C, 5, 0, 0, 0, 3, 0, 0, 0})
	f.Add([]byte{4, 0, 0, 0, 7, 4, 8, 0, 0, 0, 0, 0})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 2, 3, 4, 8, 9, 10, 11, 9, 0, 0, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) > 64 {
			return // a reply is at most 20 bytes; longer inputs find nothing new
		}
		si, err := ParseSecurityInfo(p)
		if err != nil {
			if len(p) == 12 || len(p) >= 20 {
				t.Fatalf("%d bytes refused: %v", len(p), err)
			}
			return
		}
		if si.HasChipID != (len(p) >= 20) {
			t.Fatal("chip id presence does not follow the length")
		}
		if si.FlashEncryption() != parity(uint32(p[4])) {
			t.Fatal("parity")
		}
		// Decoding the reply as every chip's never panics either.
		for _, c := range Chips {
			s := DecodeSecurity(c, &si, nil)
			if s.FlashEncryption != si.FlashEncryption() {
				t.Fatalf("%s: flash encryption %v from the security info %v", c.Name, s.FlashEncryption, si.FlashEncryption())
			}
		}
	})
}

// FuzzDecodeSecurity: decoding any eFuse words (every register the decoder reads gets a word
// from the input, missing ones stay unknown) never panics, and flash encryption always follows
// the parity of the crypt counter it reports.
func FuzzDecodeSecurity(f *testing.F) {
	f.Add(uint8(4), []byte{0, 0, 0x1C, 0, 0x20, 0, 0x10, 0})
	f.Add(uint8(0), []byte{0, 0, 0x10, 0, 0x80, 0x03, 0, 0})
	f.Add(uint8(5), []byte{0xFF, 0xFF, 0xFF, 0xFF})
	f.Add(uint8(3), []byte{})
	f.Fuzz(func(t *testing.T, chipIdx uint8, raw []byte) {
		if len(raw) > 1024 {
			return // more words than any chip's registers find nothing new
		}
		c := Chips[int(chipIdx)%len(Chips)]
		r := map[uint32]uint32{}
		for i, a := range EfuseRegisters(c) {
			if 4*i+4 > len(raw) {
				break
			}
			r[a] = binary.LittleEndian.Uint32(raw[4*i:])
		}
		var gsi *SecurityInfo
		if len(raw) >= 12 && c.SecurityInfo {
			si, _ := ParseSecurityInfo(raw[:12])
			gsi = &si
		}
		s := DecodeSecurity(c, gsi, r)
		if s.FlashEncryption != parity(uint32(s.FlashCryptCnt)) {
			t.Fatal("flash encryption does not follow the crypt counter's parity")
		}
		if !s.FlashEncryption && s.Mode != "off" {
			t.Fatalf("mode %q with flash encryption off", s.Mode)
		}
		s.ROMCanEncrypt()
	})
}

// TestKeyWordsRedacted: every key-block word Security reads is one the trace leaves out.
func TestKeyWordsRedacted(t *testing.T) {
	for _, c := range Chips {
		l := efuseLayouts[c.Name]
		for _, a := range keyWords(c.Name, l) {
			if !secretReg(a) {
				t.Errorf("%s: key word 0x%08X is not redacted from the trace", c.Name, a)
			}
		}
	}
}
