package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/doctor"
	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/flashcrypt"
	"github.com/nvskit/nvskit/nvs"
)

// doctorReport runs nvskit doctor --json on the scenario and decodes its report.
func doctorReport(t *testing.T, s *feScenario, args ...string) (int, doctor.Report, string) {
	t.Helper()
	code, out, stderr := s.run(t, append(append([]string{"doctor"}, args...), "--json")...)
	var rep struct {
		Schema   string `json:"schema"`
		Chip     string `json:"chip"`
		Clean    bool   `json:"clean"`
		Findings []struct {
			Code     string `json:"code"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Evidence string `json:"evidence"`
			Fix      string `json:"fix"`
			Firmware struct {
				Name string `json:"name"`
				Hex  string `json:"hex"`
			} `json:"firmware_error"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s\n%s", err, out, stderr)
	}
	r := doctor.Report{Schema: rep.Schema, Chip: rep.Chip, Clean: rep.Clean}
	for _, f := range rep.Findings {
		var sev nvs.Severity
		sev.UnmarshalText([]byte(f.Severity))
		r.Findings = append(r.Findings, doctor.Finding{Code: f.Code, Severity: sev, Message: f.Message, Evidence: f.Evidence, Fix: f.Fix,
			Firmware: doctor.FirmwareError{Name: f.Firmware.Name}})
	}
	return code, r, out
}

// Scenario files: other NVS keys, and tables with the mistakes users make.
var (
	otherNVSKeys = func() nvs.Keys {
		var k nvs.Keys
		for i := range k.Data {
			k.Data[i], k.Tweak[i] = byte(0xA0^i), byte(0x50+i)
		}
		return k
	}()
	tableNVSFlagged   = strings.Replace(feTableCSV, "nvs,data,nvs,0x9000,0x6000,", "nvs,data,nvs,0x9000,0x6000,encrypted", 1)
	tableKeysUnflag   = strings.Replace(feTableCSV, ",encrypted", ",", 1)
	tableNoKeys       = "nvs,data,nvs,0x9000,0x6000,\nfactory,app,factory,0x10000,1M,\n"
	tableMovedNVS     = "nvs_keys,data,nvs_keys,0xF000,0x1000,encrypted\nfactory,app,factory,0x10000,1M,\nnvs,data,nvs,0x120000,0x6000,\n"
	tableSmallNVS     = "nvs,data,nvs,0x9000,0x3000,\nnvs_keys,data,nvs_keys,0xF000,0x1000,encrypted\nfactory,app,factory,0x10000,1M,\n"
	bigCSV            = "key,type,encoding,value\nbig,namespace,,\na,data,string," + strings.Repeat("a", 3000) + "\nb,data,string," + strings.Repeat("b", 3000) + "\nc,data,string," + strings.Repeat("c", 3000) + "\n"
	deviceKeysPattern = bytes.Join([][]byte{bytes.Repeat([]byte{0xFF}, 16), bytes.Repeat([]byte{0x99}, 16), bytes.Repeat([]byte{0xEE}, 16), bytes.Repeat([]byte{0x88}, 16)}, nil)
)

// docScenario is one device state, reached with nvskit commands (and, where the state is the
// firmware's own doing, the bytes the firmware leaves), and what doctor must say about it.
type docScenario struct {
	name  string
	only  string // "esp32" or "esp32c3": the scenario exists for one family only
	cfg   loadersim.Config
	table string // the device's table and parts.csv (default feTableCSV)
	// steps are nvskit commands (--port is added). "{fk}" is --flash-key flash_key.bin on the
	// ESP32, whose ROM cannot encrypt, and nothing on the C3, which encrypts in its ROM.
	steps [][]string
	// firmware models what the firmware does on its boot, which the simulator does not run.
	firmware func(t *testing.T, s *feScenario)
	doctor   []string
	want     string // finding code; "" for a clean device
	fw       string // firmware error name of the finding
}

var (
	provisionOK = []string{"provision", "input.csv", "--partition", "nvs", "--keys", "keys.bin", "--partition-table", "parts.csv", "{fk}"}
	makeEncNVS  = []string{"encrypt", "input.csv", "enc.bin", "0x6000", "--inputkey", "keys.bin"}
	makeEncNVS2 = []string{"encrypt", "input.csv", "enc2.bin", "0x6000", "--inputkey", "keys2.bin"}
	makePlain   = []string{"generate", "input.csv", "plain.bin", "0x6000"}
	docBase     = []string{"--partition-table", "parts.csv", "--keys", "keys.bin"}
)

func withFK(args ...string) []string {
	return append(append([]string{}, docBase...), append(args, "--flash-key", "flash_key.bin")...)
}

var feOn = loadersim.Config{FlashEncryption: true, FlashKey: testFlashKey}

var docScenarios = []docScenario{
	{name: "provisioned: clean", cfg: feOn, steps: [][]string{provisionOK}, doctor: withFK("--csv", "input.csv")},
	{name: "provisioned, no flash key: clean (keys not checkable)", cfg: feOn, steps: [][]string{provisionOK}, doctor: docBase, want: ""},
	{name: "keys written plain under flash encryption", cfg: feOn, steps: [][]string{provisionOK, {"flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--force"}},
		doctor: docBase, want: doctor.CodeKeysPlain, fw: "ESP_ERR_NVS_CORRUPT_KEY_PART"},
	{name: "keys partition empty", cfg: feOn, steps: [][]string{makeEncNVS, {"flash", "enc.bin", "--partition", "nvs", "--partition-table", "parts.csv"}},
		doctor: docBase, want: doctor.CodeKeysEmpty, fw: "ESP_ERR_NVS_KEYS_NOT_INITIALIZED"},
	{name: "keys partition empty, encrypted by the bootloader", cfg: feOn, steps: [][]string{makeEncNVS, {"flash", "enc.bin", "--partition", "nvs", "--partition-table", "parts.csv"}},
		firmware: func(t *testing.T, s *feScenario) { s.encryptAt(t, 0xF000, bytes.Repeat([]byte{0xFF}, 0x1000)) },
		doctor:   withFK(), want: doctor.CodeKeysEmpty, fw: "ESP_ERR_NVS_KEYS_NOT_INITIALIZED"},
	{name: "firmware made its own keys", cfg: feOn, steps: [][]string{provisionOK},
		firmware: func(t *testing.T, s *feScenario) {
			// nvs_flash_generate_keys: the pattern raw, the CRC of its decryption through flash encryption.
			s.sim.SetFlash(0xF000, bytes.Repeat([]byte{0xFF}, 0x1000))
			s.sim.SetFlash(0xF000, deviceKeysPattern)
			plain := s.plainAt(t, 0xF000, 64)
			crc := make([]byte, 16)
			binary.LittleEndian.PutUint32(crc, nvs.CRC32(plain))
			copy(crc[4:], bytes.Repeat([]byte{0xFF}, 12))
			s.encryptAt(t, 0xF040, crc)
		},
		doctor: withFK(), want: doctor.CodeKeysDeviceMade, fw: "ESP_ERR_NVS_NOT_FOUND"},
	{name: "keys encrypted on a chip with flash encryption off", cfg: loadersim.Config{FlashKey: testFlashKey},
		steps:  [][]string{{"flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt", "--force", "{fk}"}},
		doctor: docBase, want: doctor.CodeKeysCorrupt, fw: "ESP_ERR_NVS_CORRUPT_KEY_PART"},
	{name: "keys encrypted with another key", cfg: feOn, steps: [][]string{provisionOK},
		firmware: func(t *testing.T, s *feScenario) {
			ct, _ := flashcrypt.Encrypt(flashcrypt.SchemeForChip(s.sim.ChipName()), bytes.Repeat([]byte{7}, 32), 0xF000, testNVSKeys.MarshalPartition())
			s.sim.SetFlash(0xF000, ct)
		},
		doctor: withFK(), want: doctor.CodeKeysCorrupt, fw: "ESP_ERR_NVS_CORRUPT_KEY_PART"},
	{name: "device keys are not the user's", cfg: feOn, steps: [][]string{{"provision", "input.csv", "--partition", "nvs", "--keys", "keys2.bin", "--partition-table", "parts.csv", "{fk}"}},
		doctor: withFK(), want: doctor.CodeKeysDiffer, fw: "ESP_ERR_NVS_NOT_FOUND"},
	{name: "image does not decrypt with the device's keys", cfg: feOn,
		steps:  [][]string{{"provision", "input.csv", "--partition", "nvs", "--keys", "keys2.bin", "--partition-table", "parts.csv", "{fk}"}, {"flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--encrypt", "{fk}"}},
		doctor: withFK(), want: doctor.CodeNVSWrongKeys, fw: "ESP_ERR_NVS_NOT_FOUND"},
	{name: "NVS partition flagged encrypted", cfg: feOn, table: tableNVSFlagged, steps: [][]string{append(append([]string{}, provisionOK...), "--force")},
		doctor: docBase, want: doctor.CodeNVSFlagEncrypted, fw: "ESP_ERR_NVS_WRONG_ENCRYPTION"},
	{name: "keys partition not flagged encrypted", cfg: feOn, table: tableKeysUnflag, steps: [][]string{append(append([]string{}, provisionOK...), "--force")},
		doctor: docBase, want: doctor.CodeKeysNotFlagged, fw: "ESP_ERR_NVS_CORRUPT_KEY_PART"},
	{name: "no nvs_keys partition", cfg: feOn, table: tableNoKeys, steps: [][]string{makeEncNVS, {"flash", "enc.bin", "--partition", "nvs", "--partition-table", "parts.csv"}},
		doctor: []string{"--partition-table", "parts.csv", "--keys", "keys.bin", "--scheme", "flash-enc"}, want: doctor.CodeKeysMissing, fw: "ESP_ERR_INVALID_ARG"},
	{name: "device table differs from the project's", cfg: feOn, steps: [][]string{provisionOK},
		firmware: func(t *testing.T, s *feScenario) {
			os.WriteFile(filepath.Join(s.dir, "parts.csv"), []byte(tableMovedNVS), 0o644)
		},
		doctor: withFK(), want: doctor.CodeTableMismatch, fw: "ESP_ERR_NVS_NOT_FOUND"},
	{name: "encrypted table, no way to read it", cfg: feOn, steps: [][]string{provisionOK},
		doctor: []string{"--keys", "keys.bin"}, want: doctor.CodeTableUnreadable},
	{name: "NVS image at the wrong offset", cfg: loadersim.Config{}, table: tableNoKeys,
		steps:  [][]string{makePlain, {"flash", "plain.bin", "--offset", "0x120000", "--partition-table", "parts.csv"}, {"flash", "keys.bin", "--offset", "0x9000", "--partition-table", "parts.csv", "--force"}}, // as esptool at a guessed offset writes it
		doctor: []string{"--partition-table", "parts.csv"}, want: doctor.CodeNVSNotNVS, fw: "ESP_ERR_NVS_NOT_FOUND"},
	{name: "NVS written through flash encryption", cfg: feOn, steps: [][]string{provisionOK, makeEncNVS, {"flash", "enc.bin", "--partition", "nvs", "--partition-table", "parts.csv", "--encrypt", "--force", "{fk}"}},
		doctor: withFK(), want: doctor.CodeNVSDoubleEncrypted},
	{name: "NVS partition erased", cfg: feOn, steps: [][]string{provisionOK, {"erase", "--partition", "nvs", "--partition-table", "parts.csv"}},
		doctor: withFK("--csv", "input.csv"), want: doctor.CodeNVSBlank, fw: "ESP_ERR_NVS_NOT_FOUND"},
	{name: "image larger than the partition: no free page", cfg: loadersim.Config{}, table: tableSmallNVS,
		steps:  [][]string{{"generate", "big.csv", "big.bin", "0x4000"}, {"flash", "big.bin", "--partition", "nvs", "--partition-table", "parts.csv", "--force"}},
		doctor: []string{"--partition-table", "parts.csv", "--scheme", "none"}, want: doctor.CodeNVSNoFreePage, fw: "ESP_ERR_NVS_NO_FREE_PAGES"},
	{name: "page of an unknown format version", cfg: loadersim.Config{}, table: tableNoKeys,
		steps: [][]string{makePlain},
		firmware: func(t *testing.T, s *feScenario) {
			img := mustRead(t, filepath.Join(s.dir, "plain.bin"))
			img[8] = 0xFB // the version byte of page 0's header, and its CRC
			binary.LittleEndian.PutUint32(img[28:], nvs.HeaderCRC(img[:32]))
			os.WriteFile(filepath.Join(s.dir, "newer.bin"), img, 0o644)
			if code, _, stderr := s.run(t, "flash", "newer.bin", "--partition", "nvs", "--partition-table", "parts.csv"); code != 0 {
				t.Fatal(stderr)
			}
		},
		doctor: []string{"--partition-table", "parts.csv", "--scheme", "none"}, want: doctor.CodeNVSNewVersion, fw: "ESP_ERR_NVS_NEW_VERSION_FOUND"},
	{name: "plain image where the firmware decrypts", cfg: feOn, steps: [][]string{provisionOK, {"provision", "input.csv", "--partition", "nvs", "--partition-table", "parts.csv"}},
		doctor: withFK(), want: doctor.CodeNVSPlaintext, fw: "ESP_ERR_NVS_NOT_FOUND"},
	{name: "encrypted image where the firmware reads plain", cfg: loadersim.Config{}, table: tableNoKeys,
		steps:  [][]string{makeEncNVS, {"flash", "enc.bin", "--partition", "nvs", "--partition-table", "parts.csv"}},
		doctor: []string{"--partition-table", "parts.csv", "--scheme", "none"}, want: doctor.CodeNVSUnexpectedEncrypted, fw: "ESP_ERR_NVS_NOT_FOUND"},
	{name: "entries erased by the firmware", cfg: feOn, steps: [][]string{provisionOK},
		firmware: func(t *testing.T, s *feScenario) {
			// The firmware marks every entry it cannot validate erased (bitmap 10 -> 00).
			for pg := 0x9000; pg < 0xF000; pg += nvs.PageSize {
				bm := s.sim.Flash()[pg+32 : pg+64]
				for i := range bm {
					for b := 0; b < 8; b += 2 {
						if bm[i]>>b&3 == 2 {
							bm[i] &^= 3 << b
						}
					}
				}
				s.sim.SetFlash(pg+32, bm)
			}
		},
		doctor: withFK(), want: doctor.CodeNVSEntriesErased, fw: "ESP_ERR_NVS_NOT_FOUND"},
	{name: "encrypted image, no keys to check it", cfg: feOn, steps: [][]string{provisionOK},
		doctor: []string{"--partition-table", "parts.csv"}, want: ""},
	{name: "CSV key missing on the device", cfg: feOn, steps: [][]string{provisionOK},
		firmware: func(t *testing.T, s *feScenario) {
			os.WriteFile(filepath.Join(s.dir, "more.csv"), append(mustRead(t, filepath.Join(s.dir, "input.csv")), []byte("serial,data,string,SN-0042\n")...), 0o644)
		},
		doctor: withFK("--csv", "more.csv"), want: doctor.CodeCSVMissing, fw: "ESP_ERR_NVS_NOT_FOUND"},
	{name: "CSV value differs on the device", cfg: feOn, steps: [][]string{{"provision", "other.csv", "--partition", "nvs", "--keys", "keys.bin", "--partition-table", "parts.csv", "{fk}"}},
		doctor: withFK("--csv", "input.csv"), want: doctor.CodeCSVDiffers},
	{name: "HMAC scheme on a chip without HMAC", only: "esp32", cfg: loadersim.Config{}, table: tableNoKeys,
		doctor: []string{"--partition-table", "parts.csv", "--scheme", "hmac"}, want: doctor.CodeHMACUnsupported, fw: "ESP_ERR_NOT_SUPPORTED"},
	{name: "HMAC scheme without an HMAC key", only: "esp32c3", cfg: loadersim.Config{}, table: tableNoKeys,
		steps:  [][]string{makeEncNVS, {"flash", "enc.bin", "--partition", "nvs", "--partition-table", "parts.csv"}},
		doctor: []string{"--partition-table", "parts.csv", "--scheme", "hmac"}, want: doctor.CodeHMACKeyMissing, fw: "ESP_ERR_NVS_SEC_HMAC_KEY_NOT_FOUND"},
	{name: "HMAC key block holds another key", only: "esp32c3", cfg: feOn, table: tableNoKeys,
		doctor: []string{"--partition-table", "parts.csv", "--scheme", "hmac", "--hmac-key-id", "0"}, want: doctor.CodeHMACBlockInUse, fw: "ESP_ERR_NVS_SEC_HMAC_KEY_GENERATION_FAILED"},
	{name: "HMAC scheme provisioned: clean", only: "esp32c3", cfg: loadersim.Config{KeyPurposes: map[int]uint8{2: 8}}, table: tableNoKeys,
		steps:  [][]string{{"provision", "input.csv", "--partition", "nvs", "--partition-table", "parts.csv", "--hmac-key-id", "2", "--keys", "keys.bin"}},
		doctor: []string{"--partition-table", "parts.csv", "--keys", "keys.bin", "--scheme", "hmac", "--hmac-key-id", "2", "--csv", "input.csv"}},
	{name: "Secure Download Mode", only: "esp32c3", cfg: loadersim.Config{SecureDownload: true, FlashEncryption: true, FlashKey: testFlashKey},
		doctor: docBase, want: doctor.CodeSecureDownload},
	{name: "security state unreadable", only: "esp32c3", cfg: loadersim.Config{Faults: []loadersim.Fault{{Kind: loadersim.CorruptByte, Cmd: 0x0A, Reply: true, Count: -1}}},
		doctor: docBase, want: doctor.CodeSecurityUnknown},
	{name: "NVS partition name not in the table", cfg: feOn, steps: [][]string{provisionOK},
		doctor: withFK("--partition", "settings"), want: doctor.CodeNVSMissing, fw: "ESP_ERR_NVS_PART_NOT_FOUND"},
}

// TestDoctorScenarios brings simulated devices (ESP32 and ESP32-C3) into each state with nvskit
// and checks that doctor names the finding, its firmware error and a fix, exits 1 for a
// problem and 0 when clean, and changes nothing on the device.
func TestDoctorScenarios(t *testing.T) {
	for _, chip := range []string{"esp32", "esp32c3"} {
		for _, sc := range docScenarios {
			if sc.only != "" && sc.only != chip {
				continue
			}
			t.Run(chip+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				cfg := sc.cfg
				cfg.Chip = chip
				table := sc.table
				if table == "" {
					table = feTableCSV
				}
				s := newFEScenario(t, cfg, table)
				s.files(t)
				for _, step := range sc.steps {
					var args []string
					for _, a := range step {
						if a == "{fk}" {
							if chip == "esp32" {
								args = append(args, "--flash-key", "flash_key.bin")
							}
							continue
						}
						args = append(args, a)
					}
					var code int
					var out, stderr string
					if args[0] == "encrypt" || args[0] == "generate" {
						code, out, stderr = runIn(t, s.dir, args...)
					} else {
						code, out, stderr = s.run(t, args...)
					}
					if code != 0 {
						t.Fatalf("step %v: %d %s %s", args, code, out, stderr)
					}
				}
				if sc.firmware != nil {
					sc.firmware(t, s)
				}
				before := s.sim.Flash()
				code, rep, out := doctorReport(t, s, sc.doctor...)
				if !bytes.Equal(before, s.sim.Flash()) {
					t.Fatal("doctor changed the flash")
				}
				if rep.Schema != "nvskit-doctor/1" {
					t.Fatalf("schema %q", rep.Schema)
				}
				if sc.want == "" {
					if code != 0 || !rep.Clean {
						t.Fatalf("want clean, got exit %d:\n%s", code, out)
					}
					return
				}
				var found *doctor.Finding
				for i := range rep.Findings {
					if rep.Findings[i].Code == sc.want {
						found = &rep.Findings[i]
						break
					}
				}
				if found == nil {
					t.Fatalf("no %s finding (exit %d):\n%s", sc.want, code, out)
				}
				if sc.fw != "" && found.Firmware.Name != sc.fw {
					t.Errorf("firmware error %q, want %q", found.Firmware.Name, sc.fw)
				}
				if found.Evidence == "" {
					t.Error("no evidence")
				}
				if found.Severity >= doctor.Warning {
					if code != 1 || rep.Clean {
						t.Errorf("exit %d with a %s finding", code, found.Severity)
					}
					if found.Fix == "" {
						t.Error("no fix")
					}
				}
			})
		}
	}
}

// files writes the scenario files beyond the keys: other keys, a second CSV, a large CSV.
func (s *feScenario) files(t *testing.T) {
	os.WriteFile(filepath.Join(s.dir, "keys2.bin"), otherNVSKeys.MarshalPartition(), 0o600)
	os.WriteFile(filepath.Join(s.dir, "big.csv"), []byte(bigCSV), 0o644)
	in := mustRead(t, filepath.Join(s.dir, "input.csv"))
	os.WriteFile(filepath.Join(s.dir, "other.csv"), bytes.Replace(in, []byte("files/config.json"), []byte("files/device_key.pem"), 1), 0o644)
}

// encryptAt stores plain at off as the chip's flash encryption would (what the bootloader or the
// firmware writes through flash encryption).
func (s *feScenario) encryptAt(t *testing.T, off int, plain []byte) {
	t.Helper()
	ct, err := flashcrypt.Encrypt(flashcrypt.SchemeForChip(s.sim.ChipName()), s.sim.FlashKey(), uint32(off), plain)
	if err != nil {
		t.Fatal(err)
	}
	s.sim.SetFlash(off, ct)
}

// TestDoctorText checks the text face: the finding with its firmware error, evidence and fix.
func TestDoctorText(t *testing.T) {
	s := newFEScenario(t, loadersim.Config{Chip: "esp32c3", FlashEncryption: true, FlashKey: testFlashKey}, feTableCSV)
	if code, _, stderr := s.run(t, "flash", "keys.bin", "--partition", "nvs_keys", "--partition-table", "parts.csv", "--force"); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr := s.run(t, "doctor", "--partition-table", "parts.csv", "--keys", "keys.bin")
	if code != 1 {
		t.Fatalf("%d %s %s", code, out, stderr)
	}
	for _, w := range []string{"Chip: ESP32-C3, flash encryption on (development mode)", "error keys-written-plain [nvs_keys]", "firmware: ESP_ERR_NVS_CORRUPT_KEY_PART (0x1117)", "evidence:", "fix: nvskit flash keys.bin --port socket://", " --partition nvs_keys --encrypt --partition-table parts.csv"} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in:\n%s", w, out)
		}
	}
	// The fix works: after it, doctor is clean.
	fix := out[strings.Index(out, "fix: nvskit ")+len("fix: nvskit "):]
	fix = fix[:strings.IndexByte(fix, '\n')]
	args := strings.Fields(fix)
	if code, out, stderr := runIn(t, s.dir, args...); code != 0 {
		t.Fatalf("the fix %q: %d %s %s", fix, code, out, stderr)
	}
	if code, out, stderr := s.run(t, "doctor", "--partition-table", "parts.csv", "--keys", "keys.bin"); code != 0 {
		t.Fatalf("after the fix: %d %s %s", code, out, stderr)
	}
	code, _, stderr = runIn(t, "", "doctor", "--port", "x", "--scheme", "magic")
	if code != 2 || !strings.Contains(stderr, "--scheme") {
		t.Fatalf("%d %s", code, stderr)
	}
}
