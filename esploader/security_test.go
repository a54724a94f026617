package esploader_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/flashcrypt"
)

func TestParseSecurityInfo(t *testing.T) {
	// A blank C3 as seen on its real ROM: flags 0, count 0, purposes 0 but 0x0C in byte 6, chip id 5, API 3.
	c3 := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0C, 5, 0, 0, 0, 3, 0, 0, 0}
	si, err := esploader.ParseSecurityInfo(c3)
	if err != nil || !si.HasChipID || si.ChipID != 5 || si.APIVersion != 3 || si.FlashEncryption() || si.KeyPurposes[6] != 0x0C {
		t.Fatalf("%+v %v", si, err)
	}
	s2 := []byte{4, 0, 0, 0, 7, 4, 8, 0, 0, 0, 0, 0}
	si, err = esploader.ParseSecurityInfo(s2)
	if err != nil || si.HasChipID || !si.SecureDownload() || !si.FlashEncryption() || si.KeyPurposes[0] != 4 || si.KeyPurposes[1] != 8 {
		t.Fatalf("%+v %v", si, err)
	}
	for _, n := range []int{0, 4, 11, 13, 19} {
		if _, err := esploader.ParseSecurityInfo(make([]byte, n)); !errors.Is(err, esploader.ErrSecurityInfoLength) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
	// The parity rule: 0 off, 1 on, 3 off, 7 on.
	for cnt, on := range map[uint8]bool{0: false, 1: true, 3: false, 7: true, 2: true, 6: false} {
		if (esploader.SecurityInfo{FlashCryptCnt: cnt}).FlashEncryption() != on {
			t.Errorf("count %d: want %v", cnt, on)
		}
	}
}

// TestDecodeSecurityRegisters checks the decoder against register values written straight from
// the notes' tables, without the simulator.
func TestDecodeSecurityRegisters(t *testing.T) {
	chip := func(n string) esploader.Chip { c, _ := esploader.ChipByName(n); return c }
	// ESP32-C3: CRYPT_CNT 0x60008834 [20:18] = 0b011 (off: 2 bits set), DIS_DOWNLOAD_MANUAL_ENCRYPT
	// 0x60008830 bit 20, RD_DIS bit 1, KEY_PURPOSE_1 = 8 at 0x60008834 [31:28], KEY_PURPOSE_2 = 4 at
	// 0x60008838 [3:0], secure boot 0x60008838 bit 20, CRYPT_CNT write protect 0x6000882C bit 4.
	r := map[uint32]uint32{}
	for _, a := range esploader.EfuseRegisters(chip("c3")) {
		r[a] = 0
	}
	r[0x60008834] = 3<<18 | 8<<28
	r[0x60008830] = 1<<20 | 1<<1
	r[0x60008838] = 4 | 1<<20
	r[0x6000882C] = 1 << 4
	r[0x6000889C+2*0x20] = 0x1234 // BLOCK_KEY2 data, not read-protected
	s := esploader.DecodeSecurity(chip("c3"), nil, r)
	if s.FlashEncryption || s.Mode != "off" || s.FlashCryptCnt != 3 || !*s.DownloadEncryptDisabled || !s.SecureBoot || !*s.FlashKeyPresent {
		t.Fatalf("%+v", s)
	}
	if k := s.Keys[1]; *k.Purpose != 8 || k.PurposeName != "HMAC_UP" || !*k.ReadProtected || k.Blank != nil {
		t.Fatalf("key 1 %+v", k)
	}
	if k := s.Keys[2]; *k.Purpose != 4 || *k.ReadProtected || *k.Blank {
		t.Fatalf("key 2 %+v", k)
	}
	if k := s.Keys[0]; *k.Purpose != 0 || !*k.Blank {
		t.Fatalf("key 0 %+v", k)
	}
	r[0x60008834] = 1<<18 | 8<<28
	if s = esploader.DecodeSecurity(chip("c3"), nil, r); !s.FlashEncryption || s.Mode != "release" {
		t.Fatalf("release: %+v", s)
	}
	r[0x6000882C] = 0
	if s = esploader.DecodeSecurity(chip("c3"), nil, r); s.Mode != "development" {
		t.Fatalf("not write-protected: %+v", s)
	}
	if ok, why := s.ROMCanEncrypt(); ok || why == "" {
		t.Fatal("encrypted download disabled, yet the ROM can encrypt")
	}
	// ESP32: FLASH_CRYPT_CNT 0x3FF5A000 [26:20], RD_DIS bit 16 (BLOCK1), DISABLE_DL_* 0x3FF5A018 bits 7..9.
	r = map[uint32]uint32{0x3FF5A000: 1<<20 | 1<<16, 0x3FF5A018: 1<<7 | 1<<8 | 1<<9, 0x3FF5A014: 0xF << 28}
	s = esploader.DecodeSecurity(chip("esp32"), nil, r)
	if !s.FlashEncryption || s.Mode != "release" || !*s.FlashKeyPresent || *s.FlashCryptConfig != 0xF || s.Source != "eFuse" {
		t.Fatalf("%+v", s)
	}
	if ok, _ := s.ROMCanEncrypt(); ok {
		t.Fatal("the ESP32 ROM cannot encrypt")
	}
	// Secure Download Mode: only the GSI is known.
	gsi := esploader.SecurityInfo{Flags: esploader.SecureDownloadEnabled, FlashCryptCnt: 1, KeyPurposes: [7]uint8{4}}
	s = esploader.DecodeSecurity(chip("s3"), &gsi, nil)
	if !s.SecureDownload || !s.FlashEncryption || s.Mode != "unknown" || s.DownloadEncryptDisabled != nil || !*s.FlashKeyPresent || s.MAC != "" {
		t.Fatalf("%+v", s)
	}
}

// TestSecurityEveryChip reads the security state of each simulated chip, blank and with flash
// encryption in release mode.
func TestSecurityEveryChip(t *testing.T) {
	for _, name := range loadersim.ChipNames() {
		for _, release := range []bool{false, true} {
			sim, err := loadersim.New(loadersim.Config{Chip: name, FlashSize: 1 << 20, Release: release, SecureBoot: release})
			if err != nil {
				t.Fatal(err)
			}
			l, err := esploader.Connect(startSim(t, sim), fast)
			if err != nil {
				t.Fatal(err)
			}
			s, err := l.Security()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if s.FlashEncryption != release || s.SecureBoot != release || s.MAC == "" || s.FlashKeyPresent == nil || *s.FlashKeyPresent != release {
				t.Fatalf("%s release=%v: %+v", name, release, s)
			}
			want := map[bool]string{false: "off", true: "release"}[release]
			if s.Mode != want {
				t.Errorf("%s: mode %q, want %q", name, s.Mode, want)
			}
			if name != "esp32" && name != "esp32c2" && len(s.Keys) != 6 {
				t.Errorf("%s: %d key blocks", name, len(s.Keys))
			}
		}
	}
}

func TestSecuritySecureDownload(t *testing.T) {
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32c3", SecureDownload: true, FlashEncryption: true, KeyPurposes: map[int]uint8{3: 8}})
	l, err := esploader.Connect(startSim(t, sim), fast)
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Security()
	if err != nil {
		t.Fatal(err)
	}
	if !s.SecureDownload || s.Source != "GET_SECURITY_INFO" || s.DownloadEncryptDisabled != nil || *s.Keys[3].Purpose != 8 || *s.Keys[0].Purpose != 4 {
		t.Fatalf("%+v", s)
	}
}

func TestWriteFlashEncrypted(t *testing.T) {
	key := bytes.Repeat([]byte{0x11, 0x22, 0x33, 0x44}, 8)
	data := bytes.Repeat([]byte("nvs keys image "), 200)[:3000]
	expected := func(off uint32, plain []byte) ([]byte, error) {
		return flashcrypt.Encrypt(flashcrypt.SchemeXTS, key, off, plain)
	}
	t.Run("known key verified", func(t *testing.T) {
		sim, _ := loadersim.New(loadersim.Config{Chip: "esp32c3", FlashSize: 1 << 20, FlashEncryption: true, FlashKey: key})
		l, err := esploader.Connect(startSim(t, sim), fast)
		if err != nil {
			t.Fatal(err)
		}
		res, err := l.WriteFlashEncrypted(0x10000, data, esploader.EncryptedWriteOptions{Expected: expected})
		if err != nil || !res.Verified || res.Written != 0xC00 || res.Blocks != 3 {
			t.Fatalf("%+v %v", res, err)
		}
		padded := flashcrypt.PadFF(append(data, bytes.Repeat([]byte{0xFF}, 0xC00-len(data))...))
		want, _ := flashcrypt.Encrypt(flashcrypt.SchemeXTS, key, 0x10000, padded)
		if !bytes.Equal(sim.Flash()[0x10000:0x10C00], want) {
			t.Fatal("the flash does not hold espsecure's ciphertext")
		}
		// Another key: the MD5 check catches it.
		other := bytes.Repeat([]byte{0x55}, 32)
		_, err = l.WriteFlashEncrypted(0x10000, data, esploader.EncryptedWriteOptions{Expected: func(off uint32, p []byte) ([]byte, error) {
			return flashcrypt.Encrypt(flashcrypt.SchemeXTS, other, off, p)
		}})
		if !errors.Is(err, esploader.ErrMD5Mismatch) {
			t.Fatal(err)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		sim, _ := loadersim.New(loadersim.Config{Chip: "esp32s3", FlashSize: 1 << 20, FlashEncryption: true})
		l, _ := esploader.Connect(startSim(t, sim), fast)
		res, err := l.WriteFlashEncrypted(0x10000, data, esploader.EncryptedWriteOptions{})
		if err != nil || res.Verified || res.Check == "" {
			t.Fatalf("%+v %v", res, err)
		}
		got, _ := flashcrypt.Decrypt(flashcrypt.SchemeXTS, sim.FlashKey(), 0x10000, sim.Flash()[0x10000:0x10C00])
		if !bytes.Equal(got[:len(data)], data) {
			t.Fatal("the chip's key does not decrypt what it wrote")
		}
	})
	t.Run("refusals", func(t *testing.T) {
		for _, c := range []struct {
			cfg  loadersim.Config
			want error
		}{
			{loadersim.Config{Chip: "esp32", FlashEncryption: true}, esploader.ErrNoROMEncryption},
			{loadersim.Config{Chip: "esp32c3", Release: true}, esploader.ErrEncryptRefused},
			{loadersim.Config{Chip: "esp32c6", FlashEncryption: true, DownloadEncryptDisabled: true}, esploader.ErrEncryptRefused},
		} {
			c.cfg.FlashSize = 1 << 20
			sim, _ := loadersim.New(c.cfg)
			before := sim.Flash()
			l, _ := esploader.Connect(startSim(t, sim), fast)
			if _, err := l.WriteFlashEncrypted(0x10000, data, esploader.EncryptedWriteOptions{}); !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.cfg.Chip, err, c.want)
			}
			if !bytes.Equal(before, sim.Flash()) {
				t.Errorf("%s: a refused encrypted write changed the flash", c.cfg.Chip)
			}
		}
	})
}

// TestDecodeSecurityC2KeyRule checks the ESP32-C2's "flash-encryption key present" rule as
// esptool applies it (device-security notes §1.3): RD_DIS == 3 means present only with a 256-bit
// key, RD_DIS == 1 only with a 128-bit key; otherwise the key words (8, or the low 4) decide.
func TestDecodeSecurityC2KeyRule(t *testing.T) {
	c2, _ := esploader.ChipByName("c2")
	const blk0, key0 = 0x60008830, 0x60008860
	for _, tc := range []struct {
		name    string
		w0      uint32 // 0x60008830: RD_DIS [1:0], XTS_KEY_LENGTH_256 bit 10
		keyWord uint32 // value of every key word (reads 0 when read-protected)
		want    bool
	}{
		{"256-bit, both halves read-protected", 1<<10 | 3, 0, true},
		{"256-bit, low half read-protected, readable half blank", 1<<10 | 1, 0, false},
		{"256-bit, unprotected, key set", 1 << 10, 0x55, true},
		{"128-bit, low half read-protected", 1, 0, true},
		{"128-bit, both halves read-protected", 3, 0, false},
		{"128-bit, unprotected, blank", 0, 0, false},
		{"128-bit, unprotected, key set", 0, 0x55, true},
	} {
		r := map[uint32]uint32{}
		for _, a := range esploader.EfuseRegisters(c2) {
			r[a] = 0
		}
		r[blk0] = tc.w0
		for w := uint32(0); w < 8; w++ {
			r[key0+4*w] = tc.keyWord
		}
		s := esploader.DecodeSecurity(c2, nil, r)
		if s.FlashKeyPresent == nil {
			t.Errorf("%s: key presence unknown, want %v", tc.name, tc.want)
		} else if *s.FlashKeyPresent != tc.want {
			t.Errorf("%s: key present %v, want %v", tc.name, *s.FlashKeyPresent, tc.want)
		}
	}
}

// TestDecodeSecurityESP32CryptConfig: FLASH_CRYPT_CONFIG (0x3FF5A014 [31:28]) is unknown when
// RD_DIS bit 19 read-protects it (it then reads 0), and its value otherwise, 0 included.
func TestDecodeSecurityESP32CryptConfig(t *testing.T) {
	esp32, _ := esploader.ChipByName("esp32")
	r := map[uint32]uint32{0x3FF5A000: 1<<20 | 1<<16 | 1<<19, 0x3FF5A018: 0, 0x3FF5A014: 0}
	if s := esploader.DecodeSecurity(esp32, nil, r); s.FlashCryptConfig != nil {
		t.Errorf("read-protected FLASH_CRYPT_CONFIG decoded as 0x%X", *s.FlashCryptConfig)
	}
	r[0x3FF5A000] &^= 1 << 19
	if s := esploader.DecodeSecurity(esp32, nil, r); s.FlashCryptConfig == nil || *s.FlashCryptConfig != 0 {
		t.Errorf("readable FLASH_CRYPT_CONFIG 0: got %v", s.FlashCryptConfig)
	}
	r[0x3FF5A014] = 0x3 << 28
	if s := esploader.DecodeSecurity(esp32, nil, r); s.FlashCryptConfig == nil || *s.FlashCryptConfig != 3 {
		t.Errorf("readable FLASH_CRYPT_CONFIG 3: got %v", s.FlashCryptConfig)
	}
}
