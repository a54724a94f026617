package loadersim

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestSecurityEfuses checks the simulated eFuse words against the addresses and bits of the
// device-security notes (§1.2, §1.3), one chip of each layout.
func TestSecurityEfuses(t *testing.T) {
	key := bytes.Repeat([]byte{1, 2, 3, 4}, 8)
	cases := []struct {
		cfg  Config
		regs map[uint32]uint32 // address: bits that must be set
	}{
		// C3, release: CRYPT_CNT 0x60008834 [20:18] = 1, DIS_DOWNLOAD_MANUAL_ENCRYPT 0x60008830
		// bit 20, CRYPT_CNT write-protect 0x6000882C bit 4, KEY_PURPOSE_0 = 4 at 0x60008834
		// [27:24], KEY_PURPOSE_1 = 8 at [31:28], RD_DIS bits 0 and 1, secure boot 0x60008838 bit 20.
		{Config{Chip: "esp32c3", Release: true, FlashKey: key, KeyPurposes: map[int]uint8{1: 8}, SecureBoot: true},
			map[uint32]uint32{0x60008834: 1<<18 | 4<<24 | 8<<28, 0x60008830: 1<<20 | 3, 0x6000882C: 1 << 4, 0x60008838: 1 << 20}},
		// S2: manual-encrypt disable is bit 19; KEY_PURPOSE_2 = 8 at 0x3F41A038 [3:0].
		{Config{Chip: "esp32s2", DownloadEncryptDisabled: true, KeyPurposes: map[int]uint8{2: 8}},
			map[uint32]uint32{0x3F41A030: 1<<19 | 1<<2, 0x3F41A038: 8}},
		// C5: CRYPT_CNT [18:16], 5-bit purposes: KEY0 at 0x600B4834 [26:22], KEY3 at 0x600B4838 [9:5].
		{Config{Chip: "esp32c5", FlashEncryption: true, FlashKey: key, KeyPurposes: map[int]uint8{3: 8}},
			map[uint32]uint32{0x600B4834: 1<<16 | 4<<22, 0x600B4838: 8 << 5}},
		// C2: CRYPT_CNT 0x60008830 [9:7], XTS_KEY_LENGTH_256 bit 10, RD_DIS [1:0] = 3, SDM bit 16.
		{Config{Chip: "esp32c2", FlashEncryption: true, FlashKey: key, SecureDownload: true},
			map[uint32]uint32{0x60008830: 1<<7 | 1<<10 | 3 | 1<<16}},
		// ESP32: FLASH_CRYPT_CNT 0x3FF5A000 [26:20], RD_DIS bit 16, DISABLE_DL_* 0x3FF5A018 bits 7..9,
		// FLASH_CRYPT_CONFIG 0x3FF5A014 [31:28], write protection bit 2.
		{Config{Chip: "esp32", Release: true, FlashKey: key},
			map[uint32]uint32{0x3FF5A000: 1<<20 | 1<<16 | 1<<2, 0x3FF5A018: 7 << 7, 0x3FF5A014: 0xF << 28}},
	}
	for _, c := range cases {
		s, err := New(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		for a, bits := range c.regs {
			if got := s.Reg(a); got&bits != bits {
				t.Errorf("%s: 0x%08X = 0x%08X, want bits 0x%08X set", c.cfg.Chip, a, got, bits)
			}
		}
	}
	// A readable ESP32 key: BLOCK1 holds the key file reversed, as little-endian words.
	s, _ := New(Config{Chip: "esp32", FlashEncryption: true, FlashKey: key, FlashKeyReadable: true})
	if s.Reg(0x3FF5A000)&(1<<16) != 0 || s.Reg(0x3FF5A038) != binary.LittleEndian.Uint32([]byte{4, 3, 2, 1}) {
		t.Errorf("BLOCK1 word 0 = 0x%08X", s.Reg(0x3FF5A038))
	}
	for _, bad := range []Config{
		{Chip: "esp32c3", FlashKey: make([]byte, 64)},
		{Chip: "esp32", FlashKey: make([]byte, 16)},
		{Chip: "esp32c3", KeyPurposes: map[int]uint8{6: 8}},
		{Chip: "esp32c3", KeyPurposes: map[int]uint8{0: 16}},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestSecurityInfoReply checks the GET_SECURITY_INFO payload: flags, crypt counter, purposes,
// chip id, as each ROM sends it.
func TestSecurityInfoReply(t *testing.T) {
	s, _ := New(Config{Chip: "esp32c3", FlashEncryption: true, SecureBoot: true, SecureDownload: true, KeyPurposes: map[int]uint8{2: 8}})
	p := (&session{sim: s}).securityInfo()
	want := []byte{5, 0, 0, 0, 1, 4, 0, 8, 0, 0, 0, 0x0C, 5, 0, 0, 0, 3, 0, 0, 0}
	if !bytes.Equal(p, want) {
		t.Fatalf("% x, want % x", p, want)
	}
	s2, _ := New(Config{Chip: "esp32s2"})
	if p := (&session{sim: s2}).securityInfo(); len(p) != 12 {
		t.Fatalf("S2: %d bytes", len(p))
	}
}
