package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/flashcrypt"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/partition"
)

// feTableCSV is a project's table with an encrypted nvs_keys partition, as ESP-IDF's
// documentation asks for with the flash-encryption-based NVS scheme.
const feTableCSV = "# Name, Type, SubType, Offset, Size, Flags\nnvs,data,nvs,0x9000,0x6000,\nnvs_keys,data,nvs_keys,0xF000,0x1000,encrypted\nfactory,app,factory,0x10000,1M,\n"

// Key files of the scenarios: a flash-encryption key (32 bytes, every chip) and NVS keys.
var (
	testFlashKey = bytes.Repeat([]byte{0x3C, 0xA5, 0x11, 0x7E}, 8)
	testNVSKeys  = func() nvs.Keys {
		var k nvs.Keys
		for i := range k.Data {
			k.Data[i], k.Tweak[i] = byte(i*7+1), byte(i*13+2)
		}
		return k
	}()
)

// feScenario is a simulated device with flash encryption in some state, its project table
// stored as the bootloader leaves it (encrypted when flash encryption is on), and a directory
// holding the user's files: parts.csv, keys.bin, flash_key.bin, the seed CSV and its files.
type feScenario struct {
	dir, port string
	sim       *loadersim.Sim
	table     *partition.Table
}

func newFEScenario(t *testing.T, cfg loadersim.Config, tableCSV string) *feScenario {
	t.Helper()
	dir := seedCase(t, "seed_certs_0x6000")
	os.WriteFile(filepath.Join(dir, "parts.csv"), []byte(tableCSV), 0o644)
	os.WriteFile(filepath.Join(dir, "keys.bin"), testNVSKeys.MarshalPartition(), 0o600)
	os.WriteFile(filepath.Join(dir, "flash_key.bin"), testFlashKey, 0o600)
	if cfg.FlashSize == 0 {
		cfg.FlashSize = 2 << 20
	}
	p, sim := simPort(t, cfg, true)
	tbl, err := partition.Parse([]byte(tableCSV), partition.Options{Offset: 0x8000})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tbl.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := putTable(sim, b); err != nil {
		t.Fatal(err)
	}
	return &feScenario{dir: dir, port: p, sim: sim, table: tbl}
}

func (s *feScenario) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runIn(t, s.dir, append(args, "--port", s.port)...)
}

// plainAt decrypts what the simulated chip stores at off with its flash key.
func (s *feScenario) plainAt(t *testing.T, off, n int) []byte {
	t.Helper()
	p, err := flashcrypt.Decrypt(flashcrypt.SchemeForChip(s.sim.ChipName()), s.sim.FlashKey(), uint32(off), s.sim.Flash()[off:off+n])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDeviceInfoSecurity(t *testing.T) {
	cases := []struct {
		name string
		cfg  loadersim.Config
		want []string
	}{
		{"esp32 release", loadersim.Config{Chip: "esp32", Release: true}, []string{"Encryption:  on, release mode (crypt counter 0x1)", "Encrypted download: disabled", "Flash key:   present; the ROM cannot encrypt writes (the ESP32 ROM loader has no encrypted write)", "BLOCK1      flash encryption key     read-protected", "FLASH_CRYPT_CONFIG: 0xF", "Read from:   eFuse"}},
		{"c3 development + HMAC", loadersim.Config{Chip: "esp32c3", FlashEncryption: true, KeyPurposes: map[int]uint8{1: 8}}, []string{"Encryption:  on, development mode", "Encrypted download: allowed", "the ROM can encrypt writes", "BLOCK_KEY0  XTS_AES_128_KEY          read-protected", "BLOCK_KEY1  HMAC_UP                  read-protected", "BLOCK_KEY2  USER                     blank", "Secure download mode: off", "GET_SECURITY_INFO+eFuse"}},
		{"s3 secure download", loadersim.Config{Chip: "esp32s3", Release: true, SecureDownload: true}, []string{"Encryption:  on, development or release mode unknown", "Encrypted download: unknown in Secure Download Mode", "Secure download mode: on", "MAC:         unknown", "Read from:   GET_SECURITY_INFO\n"}},
		{"c6 blank", loadersim.Config{Chip: "esp32c6"}, []string{"Encryption:  off (crypt counter 0x0)", "Flash key:   none burnt; the ROM cannot encrypt writes (no flash-encryption key is burnt in eFuse)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, _ := simPort(t, c.cfg, false)
			code, out, stderr := runIn(t, "", "device", "info", "--port", p)
			if code != 0 {
				t.Fatal(stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
		})
	}
	p, _ := simPort(t, loadersim.Config{Chip: "esp32s3", Release: true, KeyPurposes: map[int]uint8{4: 8}}, false)
	code, out, stderr := runIn(t, "", "device", "info", "--port", p, "--json")
	if code != 0 {
		t.Fatal(stderr)
	}
	var info deviceInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	s := info.State
	if s == nil || !s.FlashEncryption || s.Mode != "release" || !*s.DownloadEncryptDisabled || !*s.FlashKeyPresent || *s.Keys[4].Purpose != 8 || *s.Keys[0].Purpose != 4 || s.MAC == "" {
		t.Fatalf("%s", out)
	}
}

func TestFlashEncrypt(t *testing.T) {
	keysImg := testNVSKeys.MarshalPartition()
	t.Run("c3 ROM encryption, unknown key", func(t *testing.T) {
		s := newFEScenario(t, loadersim.Config{Chip: "esp32c3", FlashEncryption: true}, feTableCSV)
		code, out, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt")
		if code != 0 || !strings.Contains(out, "through the ESP32-C3's flash encryption") || !strings.Contains(out, "not verified") || strings.Contains(out, "; verified") {
			t.Fatalf("%d %s %s", code, out, stderr)
		}
		if !bytes.Equal(s.plainAt(t, 0xF000, 0x1000), keysImg) || bytes.Equal(s.sim.Flash()[0xF000:0xF044], keysImg[:0x44]) {
			t.Fatal("the keys are not stored encrypted with the chip's key")
		}
	})
	t.Run("c3 ROM encryption, known key verified", func(t *testing.T) {
		s := newFEScenario(t, loadersim.Config{Chip: "esp32c3", FlashEncryption: true, FlashKey: testFlashKey}, feTableCSV)
		code, out, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--encrypt", "--flash-key", "flash_key.bin")
		if code != 0 || !strings.Contains(out, "verified: the flash holds the image encrypted with --flash-key") {
			t.Fatalf("%d %s %s", code, out, stderr)
		}
		if !bytes.Equal(s.plainAt(t, 0xF000, 0x1000), keysImg) {
			t.Fatal("keys")
		}
		// A key that is not the chip's: the chip's write is checked against it and fails.
		os.WriteFile(filepath.Join(s.dir, "other.bin"), bytes.Repeat([]byte{9}, 32), 0o600)
		code, _, stderr = s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt", "--flash-key", "other.bin")
		if code != 1 || !strings.Contains(stderr, "not the key burnt into this chip") {
			t.Fatalf("%d %s", code, stderr)
		}
	})
	t.Run("esp32 host encryption", func(t *testing.T) {
		s := newFEScenario(t, loadersim.Config{Chip: "esp32", FlashEncryption: true, FlashKey: testFlashKey}, feTableCSV)
		code, _, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt")
		if code != 1 || !strings.Contains(stderr, "the ESP32 ROM loader has no encrypted write") || !strings.Contains(stderr, "--flash-key") {
			t.Fatalf("%d %s", code, stderr)
		}
		code, out, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt", "--flash-key", "flash_key.bin")
		if code != 0 || !strings.Contains(out, "encrypted on the host with --flash-key") || !strings.Contains(out, "verified") {
			t.Fatalf("%d %s %s", code, out, stderr)
		}
		if !bytes.Equal(s.plainAt(t, 0xF000, 0x1000), keysImg) {
			t.Fatal("keys")
		}
	})
	t.Run("release mode: host encryption only", func(t *testing.T) {
		s := newFEScenario(t, loadersim.Config{Chip: "esp32s3", Release: true, FlashKey: testFlashKey}, feTableCSV)
		code, _, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt")
		if code != 1 || !strings.Contains(stderr, "encrypted download is disabled") {
			t.Fatalf("%d %s", code, stderr)
		}
		code, out, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt", "--flash-key", "flash_key.bin")
		if code != 0 || !strings.Contains(out, "on the host") {
			t.Fatalf("%d %s %s", code, out, stderr)
		}
		if !bytes.Equal(s.plainAt(t, 0xF000, 0x1000), keysImg) {
			t.Fatal("keys")
		}
	})
	t.Run("refusals", func(t *testing.T) {
		cases := []struct {
			name string
			cfg  loadersim.Config
			args []string
			want string
			code int // with --force
		}{
			{"flash encryption off", loadersim.Config{Chip: "esp32c3", FlashKey: testFlashKey}, []string{"--encrypt"}, "flash encryption is off", 0},
			{"no key burnt", loadersim.Config{Chip: "esp32c3", FlashEncryption: true, NoFlashKey: true}, []string{"--encrypt"}, "espefuse.py --port PORT burn-key BLOCK_KEY0", 1},
			{"encrypted download disabled", loadersim.Config{Chip: "esp32c6", FlashEncryption: true, DownloadEncryptDisabled: true}, []string{"--encrypt"}, "encrypted download is disabled", 1},
			{"secure download mode", loadersim.Config{Chip: "esp32s3", FlashEncryption: true, SecureDownload: true, FlashKey: testFlashKey}, []string{"--encrypt", "--flash-key", "flash_key.bin"}, "Secure Download Mode", 1},
			{"plain into nvs_keys with flash encryption on", loadersim.Config{Chip: "esp32c3", FlashEncryption: true}, nil, "write it with --encrypt", 0},
			{"plain into nvs_keys on the ESP32", loadersim.Config{Chip: "esp32", FlashEncryption: true}, nil, "write it with --encrypt", 0},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := newFEScenario(t, c.cfg, feTableCSV)
				before := s.sim.Flash()
				args := append([]string{"flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv"}, c.args...)
				code, _, stderr := s.run(t, args...)
				if code != 1 || !strings.Contains(stderr, c.want) {
					t.Fatalf("%d %s", code, stderr)
				}
				if !bytes.Equal(before, s.sim.Flash()) {
					t.Fatal("a refused write changed the flash")
				}
				code, _, stderr = s.run(t, append(args, "--force")...)
				if code != c.code {
					t.Fatalf("with --force: %d %s", code, stderr)
				}
				if c.args == nil && !bytes.Equal(s.sim.Flash()[0xF000:0x10000], keysImg) {
					t.Fatal("--force did not write the keys plain")
				}
			})
		}
	})
	t.Run("ROM refuses although its eFuses allow: host-side with the key", func(t *testing.T) {
		s := newFEScenario(t, loadersim.Config{Chip: "esp32c3", FlashEncryption: true, FlashKey: testFlashKey, DownloadEncryptDisabled: true}, feTableCSV)
		s.sim.SetReg(0x60008830, s.sim.Reg(0x60008830)&^(1<<20)) // the register reads "allowed"; the ROM still refuses
		code, out, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt", "--flash-key", "flash_key.bin")
		if code != 0 || !strings.Contains(stderr, "encrypting on the host with --flash-key instead") || !strings.Contains(out, "on the host") {
			t.Fatalf("%d %s %s", code, out, stderr)
		}
		if !bytes.Equal(s.plainAt(t, 0xF000, 0x1000), keysImg) {
			t.Fatal("keys")
		}
	})
	t.Run("NVS data through flash encryption", func(t *testing.T) {
		s := newFEScenario(t, loadersim.Config{Chip: "esp32c3", FlashEncryption: true}, feTableCSV)
		if code, _, stderr := runIn(t, s.dir, "encrypt", "input.csv", "enc.bin", "0x6000", "--inputkey", "keys.bin"); code != 0 {
			t.Fatal(stderr)
		}
		before := s.sim.Flash()
		code, _, stderr := s.run(t, "flash", "enc.bin", "--partition", "nvs", "--partition-table", "parts.csv", "--encrypt")
		if code != 1 || !strings.Contains(stderr, "never flash-encrypted") || !strings.Contains(stderr, "--force") || !bytes.Equal(before, s.sim.Flash()) {
			t.Fatalf("%d %s", code, stderr)
		}
	})
	t.Run("usage", func(t *testing.T) {
		code, _, stderr := runIn(t, "", "flash", "x.bin", "--port", "p", "--offset", "0x9000", "--flash-key", "k.bin")
		if code != 2 || !strings.Contains(stderr, "--flash-key goes with --encrypt") {
			t.Fatalf("%d %s", code, stderr)
		}
	})
}

func TestReadDecryptAndTable(t *testing.T) {
	for _, chip := range []string{"esp32", "esp32c3"} {
		t.Run(chip, func(t *testing.T) {
			s := newFEScenario(t, loadersim.Config{Chip: chip, FlashEncryption: true, FlashKey: testFlashKey}, feTableCSV)
			keysImg := testNVSKeys.MarshalPartition()
			ct, _ := flashcrypt.Encrypt(flashcrypt.SchemeForChip(s.sim.ChipName()), testFlashKey, 0xF000, keysImg)
			s.sim.SetFlash(0xF000, ct)
			// The table on the device is encrypted: without --partition-table or --flash-key, a clear error.
			code, _, stderr := s.run(t, "read", "--partition", "nvs_keys", "-o", "raw.bin")
			if code != 1 || !strings.Contains(stderr, "flash encryption is on, so it is stored encrypted; pass --partition-table") {
				t.Fatalf("%d %s", code, stderr)
			}
			// --flash-key decrypts the table, and --decrypt the partition.
			code, out, stderr := s.run(t, "read", "--partition", "nvs_keys", "--flash-key", "flash_key.bin", "--decrypt", "-o", "plain.bin")
			if code != 0 || !strings.Contains(out, "decrypted with --flash-key") {
				t.Fatalf("%d %s %s", code, out, stderr)
			}
			if got := mustRead(t, filepath.Join(s.dir, "plain.bin")); !bytes.Equal(got, keysImg) {
				t.Fatal("decrypted read differs from the keys image")
			}
			if st, _ := os.Stat(filepath.Join(s.dir, "plain.bin")); st.Mode().Perm() != 0o600 {
				t.Fatalf("plaintext saved with mode %v", st.Mode().Perm())
			}
			code, _, stderr = s.run(t, "read", "--partition", "nvs_keys", "--partition-table", "parts.csv", "-o", "raw.bin")
			if code != 0 || !strings.Contains(stderr, "raw ciphertext") || !bytes.Equal(mustRead(t, filepath.Join(s.dir, "raw.bin")), ct) {
				t.Fatalf("%d %s", code, stderr)
			}
			if st, _ := os.Stat(filepath.Join(s.dir, "raw.bin")); st.Mode().Perm() != 0o600 {
				t.Fatalf("nvs_keys saved with mode %v", st.Mode().Perm())
			}
			code, _, stderr = s.run(t, "read", "--offset", "0xF008", "--size", "0x20", "--partition-table", "parts.csv", "--decrypt", "--flash-key", "flash_key.bin", "-o", "x.bin")
			if code != 2 || !strings.Contains(stderr, "must be multiples of") {
				t.Fatalf("%d %s", code, stderr)
			}
			code, _, stderr = s.run(t, "read", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--decrypt", "-o", "x.bin")
			if code != 2 || !strings.Contains(stderr, "--decrypt needs --flash-key") {
				t.Fatalf("%d %s", code, stderr)
			}
		})
	}
}

func TestEraseFlashEncryption(t *testing.T) {
	for _, chip := range []string{"esp32", "esp32s3"} {
		t.Run(chip, func(t *testing.T) {
			s := newFEScenario(t, loadersim.Config{Chip: chip, FlashEncryption: true}, feTableCSV)
			s.sim.SetFlash(0x9000, bytes.Repeat([]byte{0}, 0x7000))
			// NVS data is read as stored: erasing it is what the user means.
			code, out, stderr := s.run(t, "erase", "--partition", "nvs", "--partition-table", "parts.csv")
			if code != 0 || !strings.Contains(out, "Erased") || !bytes.Equal(s.sim.Flash()[0x9000:0xF000], bytes.Repeat([]byte{0xFF}, 0x6000)) {
				t.Fatalf("%d %s %s", code, out, stderr)
			}
			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{"--partition", "nvs_keys", "--partition-table", "parts.csv"}, "generates new keys"},
				{[]string{"--offset", "0x200000", "--size", "0x1000", "--partition-table", "parts.csv"}, "not in a known partition"},
			} {
				code, _, stderr := s.run(t, append([]string{"erase"}, c.args...)...)
				if code != 1 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "--force") {
					t.Fatalf("%v: %d %s", c.args, code, stderr)
				}
			}
			if !bytes.Equal(s.sim.Flash()[0xF000:0x10000], bytes.Repeat([]byte{0}, 0x1000)) {
				t.Fatal("a refused erase changed nvs_keys")
			}
			code, _, stderr = s.run(t, "erase", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--force")
			if code != 0 {
				t.Fatal(stderr)
			}
			// Without --partition-table the table on the device is encrypted: erase has no
			// --flash-key, so the message names only the fix that erase takes.
			code, _, stderr = s.run(t, "erase", "--partition", "nvs")
			if code != 1 || !strings.Contains(stderr, "pass --partition-table FILE") || strings.Contains(stderr, "--flash-key") {
				t.Fatalf("%d %s", code, stderr)
			}
		})
	}
}

// checkProvisioned checks what provision left on a flash-encrypted device: nvs_keys holding the
// keys through flash encryption, NVS holding the encrypted image plain, readable with the keys.
func checkProvisioned(t *testing.T, s *feScenario) {
	t.Helper()
	if !bytes.Equal(s.plainAt(t, 0xF000, 0x1000), testNVSKeys.MarshalPartition()) {
		t.Fatal("nvs_keys does not hold the keys through flash encryption")
	}
	im, err := nvs.ParseWithKeys(s.sim.Flash()[0x9000:0xF000], testNVSKeys)
	if err != nil {
		t.Fatal(err)
	}
	if r := im.Get("certs", "device_cert"); r == nil {
		t.Fatalf("the NVS partition does not decrypt to the CSV's data: %v", im.Findings)
	}
}

func TestProvisionEncryptedDevice(t *testing.T) {
	cases := []struct {
		name string
		cfg  loadersim.Config
		args []string
	}{
		{"esp32 with the flash key", loadersim.Config{Chip: "esp32", FlashEncryption: true, FlashKey: testFlashKey}, []string{"--flash-key", "flash_key.bin"}},
		{"c3 through the ROM", loadersim.Config{Chip: "esp32c3", FlashEncryption: true}, nil},
		{"s3 release with the flash key", loadersim.Config{Chip: "esp32s3", Release: true, FlashKey: testFlashKey}, []string{"--flash-key", "flash_key.bin"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newFEScenario(t, c.cfg, feTableCSV)
			args := append([]string{"provision", "input.csv", "--partition", "nvs", "--keys", "keys.bin", "--partition-table", "parts.csv"}, c.args...)
			code, out, stderr := s.run(t, args...)
			if code != 0 || strings.Count(out, "Wrote") != 2 {
				t.Fatalf("%d %s %s", code, out, stderr)
			}
			checkProvisioned(t, s)
		})
	}
	t.Run("refusals", func(t *testing.T) {
		nvsFlagged := strings.Replace(feTableCSV, "nvs,data,nvs,0x9000,0x6000,", "nvs,data,nvs,0x9000,0x6000,encrypted", 1)
		keysUnflagged := strings.Replace(feTableCSV, ",encrypted", ",", 1)
		noKeys := "nvs,data,nvs,0x9000,0x6000\nfactory,app,factory,0x10000,1M\n"
		cases := []struct {
			name  string
			cfg   loadersim.Config
			table string
			args  []string
			want  string
		}{
			{"nvs flagged encrypted", loadersim.Config{Chip: "esp32c3", FlashEncryption: true}, nvsFlagged, nil, "ESP_ERR_NVS_WRONG_ENCRYPTION (0x1119)"},
			{"keys not flagged", loadersim.Config{Chip: "esp32c3", FlashEncryption: true}, keysUnflagged, nil, "not flagged encrypted"},
			{"flash encryption off", loadersim.Config{Chip: "esp32c3"}, feTableCSV, nil, "flash encryption is off"},
			{"no nvs_keys partition", loadersim.Config{Chip: "esp32", FlashEncryption: true}, noKeys, nil, "no nvs_keys partition"},
			{"esp32 without the flash key", loadersim.Config{Chip: "esp32", FlashEncryption: true}, feTableCSV, nil, "the ESP32 ROM loader has no encrypted write"},
			{"hmac on the ESP32", loadersim.Config{Chip: "esp32"}, noKeys, []string{"--hmac-key-id", "0"}, "no HMAC peripheral"},
			{"hmac block empty", loadersim.Config{Chip: "esp32c3"}, noKeys, []string{"--hmac-key-id", "2"}, "espefuse.py --port PORT burn-key BLOCK_KEY2 hmac_key.bin HMAC_UP"},
			{"hmac block in use", loadersim.Config{Chip: "esp32c3", FlashEncryption: true}, noKeys, []string{"--hmac-key-id", "0"}, "holds a XTS_AES_128_KEY key, not HMAC_UP"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := newFEScenario(t, c.cfg, c.table)
				before := s.sim.Flash()
				args := append([]string{"provision", "input.csv", "--partition", "nvs", "--keys", "keys.bin", "--partition-table", "parts.csv"}, c.args...)
				code, _, stderr := s.run(t, args...)
				if code != 1 || !strings.Contains(stderr, c.want) {
					t.Fatalf("%d %s", code, stderr)
				}
				if !bytes.Equal(before, s.sim.Flash()) {
					t.Fatal("a refused provisioning changed the flash")
				}
			})
		}
	})
	t.Run("NVS write lost after the keys", func(t *testing.T) {
		s := newFEScenario(t, loadersim.Config{Chip: "esp32c3", FlashEncryption: true, Faults: []loadersim.Fault{{Kind: loadersim.Disconnect, Cmd: 0x11}}}, feTableCSV)
		code, _, stderr := s.run(t, "provision", "input.csv", "--partition", "nvs", "--keys", "keys.bin", "--partition-table", "parts.csv")
		if code != 1 || !strings.Contains(stderr, "already holds the new keys, so run the same command again") {
			t.Fatalf("%d %s", code, stderr)
		}
	})
	t.Run("flash encryption off, forced: keys written plain for the bootloader", func(t *testing.T) {
		s := newFEScenario(t, loadersim.Config{Chip: "esp32c3"}, feTableCSV)
		code, _, stderr := s.run(t, "provision", "input.csv", "--partition", "nvs", "--keys", "keys.bin", "--partition-table", "parts.csv", "--force")
		if code != 0 || !strings.Contains(stderr, "writing the keys plain") {
			t.Fatalf("%d %s", code, stderr)
		}
		if !bytes.Equal(s.sim.Flash()[0xF000:0x10000], testNVSKeys.MarshalPartition()) {
			t.Fatal("keys not written plain")
		}
	})
	t.Run("hmac scheme writes NVS only", func(t *testing.T) {
		noKeys := "nvs,data,nvs,0x9000,0x6000\nfactory,app,factory,0x10000,1M\n"
		s := newFEScenario(t, loadersim.Config{Chip: "esp32c3", KeyPurposes: map[int]uint8{3: esploader.PurposeHMACUp}}, noKeys)
		hk := bytes.Repeat([]byte{0x42}, 32)
		os.WriteFile(filepath.Join(s.dir, "hmac.bin"), hk, 0o600)
		for _, extra := range [][]string{{"--hmac-key-id", "3", "--hmac-key", "hmac.bin"}, {"--keys", "hkeys.bin"}} {
			k, _ := nvs.KeysFromHMAC(hk)
			os.WriteFile(filepath.Join(s.dir, "hkeys.bin"), k.MarshalPartition(), 0o600)
			before := s.sim.Flash()
			code, out, stderr := s.run(t, append([]string{"provision", "input.csv", "--partition", "nvs", "--partition-table", "parts.csv"}, extra...)...)
			if code != 0 || strings.Count(out, "Wrote") != 1 {
				t.Fatalf("%v: %d %s %s", extra, code, out, stderr)
			}
			after := s.sim.Flash()
			if !bytes.Equal(before[0xF000:], after[0xF000:]) || !bytes.Equal(before[:0x9000], after[:0x9000]) {
				t.Fatal("the HMAC scheme wrote outside the NVS partition")
			}
			if _, err := nvs.ParseWithKeys(after[0x9000:0xF000], k); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestSimulateSecurityFlags(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "fk.bin"), testFlashKey, 0o600)
	f := simSecFlags{fe: "release", flashKey: "fk.bin", purposes: []string{"1=HMAC_UP", "BLOCK_KEY2=9"}, secureBoot: true}
	var cfg loadersim.Config
	if err := f.apply(&Env{Dir: dir}, &cfg); err != nil {
		t.Fatal(err)
	}
	if !cfg.FlashEncryption || !cfg.Release || !bytes.Equal(cfg.FlashKey, testFlashKey) || cfg.KeyPurposes[1] != 8 || cfg.KeyPurposes[2] != 9 || !cfg.SecureBoot {
		t.Fatalf("%+v", cfg)
	}
	for _, bad := range []simSecFlags{{fe: "on"}, {purposes: []string{"1"}}, {purposes: []string{"x=HMAC_UP"}}, {purposes: []string{"1=NOPE"}}} {
		if err := bad.apply(&Env{Dir: dir}, &loadersim.Config{}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	code, _, stderr := runIn(t, dir, "simulate", "--chip", "esp32c3", "--flash-encryption", "sometimes")
	if code != 2 || !strings.Contains(stderr, "development or release") {
		t.Fatalf("%d %s", code, stderr)
	}
	code, _, stderr = runIn(t, dir, "simulate", "--chip", "esp32c3", "--flash-key", "missing.bin")
	if code == 0 || !strings.Contains(stderr, "missing.bin") {
		t.Fatalf("%d %s", code, stderr)
	}
}

// TestFlashKeyReadback: where the key block is readable (an ESP32 whose BLOCK1 is not
// read-protected), --flash-key must be the key burnt into it.
func TestFlashKeyReadback(t *testing.T) {
	s := newFEScenario(t, loadersim.Config{Chip: "esp32", FlashEncryption: true, FlashKey: testFlashKey, FlashKeyReadable: true}, feTableCSV)
	os.WriteFile(filepath.Join(s.dir, "other.bin"), bytes.Repeat([]byte{9}, 32), 0o600)
	code, _, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt", "--flash-key", "other.bin")
	if code != 1 || !strings.Contains(stderr, "is not the flash-encryption key burnt into the ESP32") {
		t.Fatalf("%d %s", code, stderr)
	}
	code, out, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt", "--flash-key", "flash_key.bin")
	if code != 0 || !bytes.Equal(s.plainAt(t, 0xF000, 0x1000), testNVSKeys.MarshalPartition()) {
		t.Fatalf("%d %s %s", code, out, stderr)
	}
	// The key is never printed, not even in device info --json (as base64, "PKUR..."; as hex).
	_, out, _ = s.run(t, "device", "info", "--json")
	if strings.Contains(out, "PKUR") || strings.Contains(strings.ToLower(out), "3ca5117e") || strings.Contains(out, "readback") {
		t.Fatal("device info shows the key")
	}
}

// TestSecurityJSONSnapshots pins the --json documents of device info (its security object) and
// doctor (schema nvskit-doctor/1) for one simulated device each, the simulator's port replaced
// by socket://SIM. Rewrite them with NVSKIT_UPDATE_SNAPSHOT=1 only for a deliberate, documented
// change.
func TestSecurityJSONSnapshots(t *testing.T) {
	s := newFEScenario(t, loadersim.Config{Chip: "esp32c3", FlashEncryption: true, FlashKey: testFlashKey, KeyPurposes: map[int]uint8{2: 8}}, feTableCSV)
	if code, _, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--force"); code != 0 {
		t.Fatal(stderr)
	}
	for _, tc := range []struct {
		file string
		args []string
	}{
		{"device_info_esp32c3.json", []string{"device", "info", "--json"}},
		{"doctor_keys_plain_esp32c3.json", []string{"doctor", "--json", "--partition-table", "parts.csv", "--keys", "keys.bin"}},
	} {
		_, out, _ := s.run(t, tc.args...)
		out = strings.ReplaceAll(out, s.port, "socket://SIM")
		snap := filepath.Join("testdata", tc.file)
		if os.Getenv("NVSKIT_UPDATE_SNAPSHOT") != "" {
			if err := os.WriteFile(snap, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(snap)
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want) {
			t.Errorf("%s changed:\n%s", tc.file, out)
		}
	}
}

// TestFlashEncryptKeySizes: the key files of every scheme: XTS-AES-256 (64 bytes, S3), the
// C2's 128-bit key (16 bytes, expanded as espsecure expands it), the ESP32's 3/4-coding key
// (24 bytes, host-side).
func TestFlashEncryptKeySizes(t *testing.T) {
	for _, c := range []struct {
		chip string
		key  []byte
		want string
	}{
		{"esp32s3", bytes.Repeat([]byte{0x21, 0x43, 0x65, 0x87}, 16), "verified: the flash holds the image encrypted with --flash-key"},
		{"esp32c2", bytes.Repeat([]byte{0x5E}, 16), "verified: the flash holds the image encrypted with --flash-key"},
		{"esp32", bytes.Repeat([]byte{0x24}, 24), "encrypted on the host"},
	} {
		t.Run(c.chip, func(t *testing.T) {
			s := newFEScenario(t, loadersim.Config{Chip: c.chip, FlashEncryption: true, FlashKey: c.key}, feTableCSV)
			os.WriteFile(filepath.Join(s.dir, "fk.bin"), c.key, 0o600)
			code, out, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt", "--flash-key", "fk.bin")
			if code != 0 || !strings.Contains(out, c.want) {
				t.Fatalf("%d %s %s", code, out, stderr)
			}
			if !bytes.Equal(s.plainAt(t, 0xF000, 0x1000), testNVSKeys.MarshalPartition()) {
				t.Fatal("keys")
			}
		})
	}
	// A key the chip cannot hold: 64 bytes on the C3, which has no XTS-AES-256.
	s := newFEScenario(t, loadersim.Config{Chip: "esp32c3", FlashEncryption: true}, feTableCSV)
	os.WriteFile(filepath.Join(s.dir, "fk64.bin"), make([]byte, 64), 0o600)
	code, _, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt", "--flash-key", "fk64.bin")
	if code != 2 || !strings.Contains(stderr, "not a flash-encryption key of the ESP32-C3") {
		t.Fatalf("%d %s", code, stderr)
	}
}

// TestESP32CryptConf: host-side ESP32 encryption uses the chip's FLASH_CRYPT_CONFIG when it can
// be read, 0 included (a readable 0 means no address tweak; taking 0xF then would write
// ciphertext the chip cannot decrypt and still call it verified), and 0xF when it is read-protected.
func TestESP32CryptConf(t *testing.T) {
	u := func(v uint8) *uint8 { return &v }
	for _, tc := range []struct {
		conf *uint8
		want uint8
	}{{nil, 0xF}, {u(0), 0}, {u(0x3), 0x3}, {u(0xF), 0xF}} {
		if got := esp32CryptConf(&esploader.Security{Chip: "ESP32", FlashCryptConfig: tc.conf}); got != tc.want {
			t.Errorf("FLASH_CRYPT_CONFIG %v: encrypting with 0x%X, want 0x%X", tc.conf, got, tc.want)
		}
	}
}

// TestDoctorSecurityCryptConfig: doctor decrypts ESP32 flash with the chip's FLASH_CRYPT_CONFIG,
// so the value read from eFuse must reach it.
func TestDoctorSecurityCryptConfig(t *testing.T) {
	conf := uint8(0x3)
	ds := doctorSecurity(&esploader.Security{Chip: "ESP32", FlashCryptConfig: &conf})
	if ds.FlashCryptConfig == nil || *ds.FlashCryptConfig != 3 {
		t.Fatalf("FLASH_CRYPT_CONFIG 0x3 read from the chip, doctor gets %v", ds.FlashCryptConfig)
	}
}

// TestFlashPlainWriteUnknownOrSpanning: with flash encryption on, a plain write is refused when
// it runs into a partition the firmware reads through flash encryption (not only when it starts
// in one), and when it starts outside every known partition, where nvskit cannot tell (as erase
// refuses); --force writes it, and with flash encryption off it goes through.
func TestFlashPlainWriteUnknownOrSpanning(t *testing.T) {
	data := bytes.Repeat([]byte{0x5A}, 0x2000)
	for _, c := range []struct {
		name, offset, want string
		fe                 bool
	}{
		{"spans from nvs into nvs_keys", "0xE000", `partition "nvs_keys" is flagged encrypted`, true},
		{"outside every partition", "0x180000", "not in a known partition", true},
		{"outside every partition, flash encryption off", "0x180000", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newFEScenario(t, loadersim.Config{Chip: "esp32c3", FlashEncryption: c.fe}, feTableCSV)
			os.WriteFile(filepath.Join(s.dir, "data.bin"), data, 0o644)
			off, _ := parseAddr("", c.offset)
			before := s.sim.Flash()
			args := []string{"flash", "data.bin", "--offset", c.offset, "--partition-table", "parts.csv"}
			code, _, stderr := s.run(t, args...)
			if c.want == "" {
				if code != 0 || !bytes.Equal(s.sim.Flash()[off:int(off)+len(data)], data) {
					t.Fatalf("%d %s", code, stderr)
				}
				return
			}
			if code != 1 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "--encrypt") {
				t.Fatalf("%d %s", code, stderr)
			}
			if !bytes.Equal(before, s.sim.Flash()) {
				t.Fatal("a refused write changed the flash")
			}
			if code, _, stderr = s.run(t, append(args, "--force")...); code != 0 || !bytes.Equal(s.sim.Flash()[off:int(off)+len(data)], data) {
				t.Fatalf("with --force: %d %s", code, stderr)
			}
		})
	}
}
