package doctor

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/flashcrypt"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/partition"
)

const (
	nvsOff  = 0x9000
	nvsSize = 0x6000
	keysOff = 0xF000
)

func fill(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func mkKeys(seed byte) nvs.Keys {
	k, _ := nvs.KeysFromBytes(fill(64, seed))
	return k
}

var (
	userKeys  = mkKeys(1)
	otherKeys = mkKeys(99)
	flashKey  = fill(32, 50)
	items     = []nvs.Item{
		nvs.Namespace("wifi"),
		nvs.String("wifi", "ssid", "home"),
		nvs.String("wifi", "pass", "secret"),
		nvs.Uint("wifi", "channel", nvs.TypeU8, 6),
		nvs.Blob("wifi", "cert", fill(100, 3)),
	}
)

func mkTable(nvsFlags, keysFlags partition.Flags, withKeys bool) *partition.Table {
	t := &partition.Table{Offset: 0x8000, Partitions: []partition.Partition{
		{Name: "nvs", Type: typeData, SubType: subtypeNVS, Offset: nvsOff, Size: nvsSize, Flags: nvsFlags},
	}}
	if withKeys {
		t.Partitions = append(t.Partitions, partition.Partition{Name: "nvs_keys", Type: typeData, SubType: subtypeNVSKeys, Offset: keysOff, Size: 0x1000, Flags: keysFlags})
	}
	t.Partitions = append(t.Partitions, partition.Partition{Name: "factory", Type: 0, SubType: 0, Offset: 0x10000, Size: 0x100000})
	return t
}

func plainNVS(t testing.TB) []byte {
	img, err := nvs.Build(items, nvs.Options{Size: nvsSize})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func encNVS(t testing.TB, k nvs.Keys) []byte {
	img, err := nvs.Encrypt(plainNVS(t), k)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func flashEnc(t testing.TB, s flashcrypt.Scheme, addr uint32, b []byte) []byte {
	out, err := flashcrypt.Encrypt(s, flashKey, addr, b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func blank(n int) []byte { return bytes.Repeat([]byte{0xFF}, n) }

// good returns the facts of a healthy device: flash encryption on (development mode), the keys
// partition written through flash encryption, the NVS image encrypted with its keys.
func good(t testing.TB, chip string) Facts {
	s := flashcrypt.SchemeForChip(chip)
	keysImg := userKeys.MarshalPartition()
	sec := &Security{FlashEncryption: true, CryptCount: 1, EncryptedDownloadKnown: true, FlashKeyPresent: true}
	if s == flashcrypt.SchemeXTS {
		sec.KeyBlocks = []KeyBlock{{Index: 0, Purpose: 4, PurposeName: "XTS_AES_128_KEY", ReadProtected: true}}
		for i := 1; i < 6; i++ {
			sec.KeyBlocks = append(sec.KeyBlocks, KeyBlock{Index: i, PurposeName: "USER"})
		}
	}
	return Facts{
		Chip:         chip,
		Security:     sec,
		DeviceTable:  mkTable(0, partition.FlagEncrypted, true),
		ProjectTable: mkTable(0, partition.FlagEncrypted, true),
		NVS:          &Partition{Name: "nvs", Offset: nvsOff, Size: nvsSize, Raw: encNVS(t, userKeys)},
		Keys:         &Partition{Name: "nvs_keys", Offset: keysOff, Size: 0x1000, Encrypted: true, Raw: flashEnc(t, s, keysOff, keysImg)},
		UserKeys:     keysImg,
		FlashKey:     flashKey,
		HMACKeyID:    -1,
		Expected:     items,
		Inputs:       Inputs{Port: "/dev/ttyUSB0", KeysFile: "keys.bin", FlashKeyFile: "flash_key.bin", PartitionTable: "partitions.csv", CSVFile: "nvs.csv"},
	}
}

// hmacGood is a healthy device with the HMAC scheme: no nvs_keys partition, an HMAC_UP key in
// block 1, the NVS image encrypted with the keys derived from it.
func hmacGood(t testing.TB) Facts {
	f := good(t, "ESP32-C3")
	hk, _ := nvs.KeysFromHMAC(fill(32, 77))
	f.Security.KeyBlocks[1] = KeyBlock{Index: 1, Purpose: PurposeHMACUp, PurposeName: "HMAC_UP", ReadProtected: true, WriteProtected: true}
	f.DeviceTable, f.ProjectTable = mkTable(0, 0, false), mkTable(0, 0, false)
	f.Keys, f.UserKeys, f.FlashKey = nil, hk.MarshalPartition(), nil
	f.NVS.Raw = encNVS(t, hk)
	f.Inputs.FlashKeyFile = ""
	return f
}

// deviceMadeKeysRaw returns the raw keys partition of a device whose firmware generated its
// keys with flash encryption on: the fixed pattern as stored, the CRC encrypted.
func deviceMadeKeysRaw(t testing.TB, s flashcrypt.Scheme) []byte {
	pat, err := flashcrypt.Decrypt(s, flashKey, keysOff, devicePattern)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := nvs.KeysFromBytes(pat)
	raw := flashEnc(t, s, keysOff, k.MarshalPartition())
	if !bytes.Equal(raw[:64], devicePattern) {
		t.Fatal("pattern not reproduced")
	}
	return raw
}

func codes(fs []Finding, min Severity) []string {
	var c []string
	for _, f := range fs {
		if f.Severity >= min {
			c = append(c, f.Code)
		}
	}
	sort.Strings(c)
	return c
}

func TestDiagnose(t *testing.T) {
	tests := []struct {
		name  string
		facts func(t testing.TB) Facts
		want  []string // codes of severity Warning and Error, sorted
		info  []string // Info codes that must be present too
		// firmware is the firmware error of the first finding, when set.
		firmware string
		fixHas   string // the first finding's Fix contains this
	}{
		{name: "clean XTS chip", facts: func(t testing.TB) Facts { return good(t, "ESP32-C3") }},
		{name: "clean ESP32", facts: func(t testing.TB) Facts { return good(t, "ESP32") }},
		{name: "clean HMAC scheme", facts: hmacGood},
		{name: "clean, flash encryption off, plain keys", facts: func(t testing.TB) Facts {
			f := good(t, "ESP32-S3")
			f.Security.FlashEncryption, f.Security.CryptCount = false, 0
			f.Keys.Raw = userKeys.MarshalPartition()
			return f
		}},
		{name: "keys written plain on ESP32-C3", want: []string{CodeKeysPlain}, firmware: "ESP_ERR_NVS_CORRUPT_KEY_PART", fixHas: "nvskit flash keys.bin --port /dev/ttyUSB0 --partition nvs_keys --encrypt --flash-key flash_key.bin --partition-table partitions.csv",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Keys.Raw = userKeys.MarshalPartition()
				return f
			}},
		{name: "keys written plain on ESP32", want: []string{CodeKeysPlain}, firmware: "ESP_ERR_NVS_CORRUPT_KEY_PART", fixHas: "--encrypt --flash-key",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32")
				f.Keys.Raw = userKeys.MarshalPartition()
				f.Inputs.FlashKeyFile, f.FlashKey = "", nil
				return f
			}},
		{name: "keys empty", want: []string{CodeKeysEmpty}, firmware: "ESP_ERR_NVS_KEYS_NOT_INITIALIZED",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Keys.Raw = blank(0x1000)
				return f
			}},
		{name: "keys empty, encrypted by the bootloader", want: []string{CodeKeysEmpty},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C6")
				f.Keys.Raw = flashEnc(t, flashcrypt.SchemeXTS, keysOff, blank(0x1000))
				return f
			}},
		{name: "keys empty, nothing provisioned yet", want: []string{CodeKeysEmpty},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Keys.Raw, f.NVS.Raw, f.UserKeys, f.Expected = blank(0x1000), blank(nvsSize), nil, nil
				return f
			}},
		{name: "keys made by the firmware", want: []string{CodeKeysDeviceMade}, firmware: "ESP_ERR_NVS_NOT_FOUND", fixHas: "nvskit provision nvs.csv",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Keys.Raw = deviceMadeKeysRaw(t, flashcrypt.SchemeXTS)
				return f
			}},
		{name: "keys made by the firmware, no flash key", want: []string{CodeKeysDeviceMade},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32")
				f.Keys.Raw = deviceMadeKeysRaw(t, flashcrypt.SchemeESP32)
				f.FlashKey = nil
				return f
			}},
		{name: "keys encrypted for another address", want: []string{CodeKeysCorrupt}, firmware: "ESP_ERR_NVS_CORRUPT_KEY_PART",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Keys.Raw = flashEnc(t, flashcrypt.SchemeXTS, 0x10000, userKeys.MarshalPartition())
				return f
			}},
		{name: "keys encrypted while flash encryption is off", want: []string{CodeKeysCorrupt}, fixHas: "--partition nvs_keys --partition-table",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Security.FlashEncryption, f.Security.CryptCount = false, 0
				return f
			}},
		{name: "device keys are not the user's", want: []string{CodeKeysDiffer},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Keys.Raw = flashEnc(t, flashcrypt.SchemeXTS, keysOff, otherKeys.MarshalPartition())
				f.NVS.Raw = encNVS(t, otherKeys)
				return f
			}},
		{name: "image does not decrypt with the device's keys", want: []string{CodeNVSWrongKeys}, firmware: "ESP_ERR_NVS_NOT_FOUND",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.NVS.Raw = encNVS(t, otherKeys)
				return f
			}},
		{name: "image does not decrypt with the user's keys (HMAC)", want: []string{CodeNVSWrongKeys},
			facts: func(t testing.TB) Facts {
				f := hmacGood(t)
				f.NVS.Raw = encNVS(t, otherKeys)
				return f
			}},
		{name: "plain image where the firmware decrypts", want: []string{CodeNVSPlaintext}, firmware: "ESP_ERR_NVS_NOT_FOUND",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.NVS.Raw = plainNVS(t)
				return f
			}},
		{name: "encrypted image where the firmware reads plain", want: []string{CodeNVSUnexpectedEncrypted},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Scheme = SchemeNone
				return f
			}},
		{name: "NVS flagged encrypted", want: []string{CodeNVSFlagEncrypted}, firmware: "ESP_ERR_NVS_WRONG_ENCRYPTION",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.DeviceTable, f.ProjectTable = mkTable(partition.FlagEncrypted, partition.FlagEncrypted, true), mkTable(partition.FlagEncrypted, partition.FlagEncrypted, true)
				f.NVS.Encrypted = true
				return f
			}},
		{name: "keys not flagged encrypted", want: []string{CodeKeysNotFlagged},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.DeviceTable, f.ProjectTable = mkTable(0, 0, true), mkTable(0, 0, true)
				f.Keys.Encrypted = false
				return f
			}},
		{name: "not NVS at the NVS offset", want: []string{CodeNVSNotNVS},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				app := fill(nvsSize, 9)
				app[0] = 0xE9
				f.NVS.Raw = app
				return f
			}},
		{name: "NVS written through flash encryption", want: []string{CodeNVSDoubleEncrypted},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.NVS.Raw = flashEnc(t, flashcrypt.SchemeXTS, nvsOff, f.NVS.Raw)
				return f
			}},
		{name: "device table differs from the project's", want: []string{CodeTableMismatch},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.ProjectTable.Partitions[0].Offset = 0x11000
				return f
			}},
		{name: "no NVS partition in the table", want: []string{CodeNVSMissing}, firmware: "ESP_ERR_NVS_PART_NOT_FOUND",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.NVSName = "storage"
				f.NVS = nil
				return f
			}},
		{name: "NVS name on a partition of another type", want: []string{CodeNVSMissing},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.DeviceTable.Partitions[0].SubType = 0x81
				f.ProjectTable.Partitions[0].SubType = 0x81
				return f
			}},
		{name: "flash-enc scheme without nvs_keys", want: []string{CodeKeysMissing}, firmware: "ESP_ERR_INVALID_ARG",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Scheme = SchemeFlashEnc
				f.DeviceTable, f.ProjectTable, f.Keys = mkTable(0, 0, false), mkTable(0, 0, false), nil
				return f
			}},
		{name: "flash encryption on, no nvs_keys, no HMAC key", want: []string{CodeKeysMissing},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.DeviceTable, f.ProjectTable, f.Keys = mkTable(0, 0, false), mkTable(0, 0, false), nil
				return f
			}},
		{name: "HMAC scheme without an HMAC key", want: []string{CodeHMACKeyMissing}, firmware: "ESP_ERR_NVS_SEC_HMAC_KEY_NOT_FOUND", fixHas: "espefuse burn-key BLOCK_KEY1 hmac_key.bin HMAC_UP",
			facts: func(t testing.TB) Facts {
				f := hmacGood(t)
				f.Scheme = SchemeHMAC
				f.Security.KeyBlocks[1] = KeyBlock{Index: 1, PurposeName: "USER"}
				return f
			}},
		{name: "HMAC key id on a free block", want: []string{CodeHMACKeyMissing},
			facts: func(t testing.TB) Facts {
				f := hmacGood(t)
				f.HMACKeyID = 3
				return f
			}},
		{name: "HMAC key id on a block in use", want: []string{CodeHMACBlockInUse}, firmware: "ESP_ERR_NVS_SEC_HMAC_KEY_GENERATION_FAILED",
			facts: func(t testing.TB) Facts {
				f := hmacGood(t)
				f.HMACKeyID = 0
				return f
			}},
		// Purpose USER but data burnt: the block is occupied, the firmware's generation fails
		// (0xF003), it does not burn a key of its own (notes §4.3).
		{name: "HMAC key id on a USER block holding data", want: []string{CodeHMACBlockInUse}, firmware: "ESP_ERR_NVS_SEC_HMAC_KEY_GENERATION_FAILED",
			facts: func(t testing.TB) Facts {
				f := hmacGood(t)
				f.HMACKeyID = 3
				f.Security.KeyBlocks[3] = KeyBlock{Index: 3, PurposeName: "USER", HasData: true}
				return f
			}},
		{name: "HMAC key id on the HMAC block", facts: func(t testing.TB) Facts {
			f := hmacGood(t)
			f.HMACKeyID = 1
			return f
		}},
		{name: "HMAC scheme on a chip without HMAC", want: []string{CodeHMACUnsupported},
			facts: func(t testing.TB) Facts {
				f := hmacGood(t)
				f.Chip, f.Scheme = "ESP32-C2", SchemeHMAC
				return f
			}},
		{name: "no free page", want: []string{CodeNVSNoFreePage}, firmware: "ESP_ERR_NVS_NO_FREE_PAGES",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				img := plainNVS(t)
				for p := 1; p < nvsSize/nvs.PageSize; p++ {
					nvs.PutPageHeader(img[p*nvs.PageSize:], nvs.PageFull, uint32(p), 0xFE)
				}
				f.NVS.Raw, _ = nvs.Encrypt(img, userKeys)
				return f
			}},
		{name: "newer format version", want: []string{CodeNVSNewVersion}, firmware: "ESP_ERR_NVS_NEW_VERSION_FOUND",
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				img := plainNVS(t)
				h := nvs.DecodePageHeader(img)
				nvs.PutPageHeader(img, h.State, h.Seq, 0xFD)
				f.NVS.Raw, _ = nvs.Encrypt(img, userKeys)
				return f
			}},
		{name: "entries erased by the firmware", want: []string{CodeNVSEntriesErased},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				img := plainNVS(t)
				for p := 0; p < nvsSize/nvs.PageSize; p++ {
					bm := img[p*nvs.PageSize+nvs.HeaderSize : p*nvs.PageSize+nvs.FirstEntryOff]
					for i := range nvs.EntriesPerPage {
						if nvs.BitmapState(bm, i) == nvs.EntryWritten {
							nvs.SetBitmapState(bm, i, nvs.EntryErased)
						}
					}
				}
				f.NVS.Raw, _ = nvs.Encrypt(img, userKeys)
				return f
			}},
		{name: "NVS blank, values expected", want: []string{CodeNVSBlank},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.NVS.Raw = blank(nvsSize)
				return f
			}},
		{name: "NVS blank, nothing expected", info: []string{CodeNVSBlank},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.NVS.Raw, f.Expected = blank(nvsSize), nil
				return f
			}},
		{name: "CSV key missing", want: []string{CodeCSVMissing},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Expected = append(slices.Clone(items), nvs.String("wifi", "country", "DE"))
				return f
			}},
		{name: "CSV value and type differ", want: []string{CodeCSVDiffers, CodeCSVDiffers},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Expected = []nvs.Item{nvs.String("wifi", "ssid", "office"), nvs.Uint("wifi", "channel", nvs.TypeU16, 6)}
				return f
			}},
		{name: "table unreadable", want: []string{CodeTableUnreadable},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.DeviceTable, f.ProjectTable, f.DeviceTableErr = nil, nil, "no partition table magic at 0x8000"
				return f
			}},
		{name: "table encrypted, project table given", facts: func(t testing.TB) Facts {
			f := good(t, "ESP32-C3")
			f.DeviceTable, f.DeviceTableErr = nil, "no partition table magic at 0x8000"
			return f
		}},
		{name: "security unknown", info: []string{CodeSecurityUnknown, CodeKeysUnverified},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Security = nil
				return f
			}},
		{name: "no flash key: keys unverified, image checked with the user's keys", info: []string{CodeKeysUnverified},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.FlashKey = nil
				return f
			}},
		{name: "no flash key, no user keys", info: []string{CodeKeysUnverified, CodeNVSUnverified},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.FlashKey, f.UserKeys = nil, nil
				return f
			}},
		{name: "secure download mode", info: []string{CodeSecureDownload, CodeKeysUnverified, CodeNVSUnverified},
			facts: func(t testing.TB) Facts {
				f := good(t, "ESP32-C3")
				f.Security.SecureDownload, f.Security.EncryptedDownloadKnown = true, false
				f.Keys.Raw, f.Keys.ReadErr = nil, "READ_FLASH is refused in Secure Download Mode"
				f.NVS.Raw, f.NVS.ReadErr = nil, "READ_FLASH is refused in Secure Download Mode"
				return f
			}},
		{name: "nothing known", info: []string{CodeSecurityUnknown}, facts: func(t testing.TB) Facts { return Facts{HMACKeyID: -1} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.facts(t)
			got := Diagnose(f)
			if c := codes(got, Warning); !slices.Equal(c, tt.want) {
				t.Fatalf("codes %v, want %v\n%s", c, tt.want, dump(got))
			}
			all := codes(got, Info)
			for _, c := range tt.info {
				if !slices.Contains(all, c) {
					t.Errorf("no %s finding\n%s", c, dump(got))
				}
			}
			if tt.firmware != "" && got[0].Firmware.Name != tt.firmware {
				t.Errorf("firmware error %q, want %q", got[0].Firmware.Name, tt.firmware)
			}
			if tt.fixHas != "" && !strings.Contains(got[0].Fix, tt.fixHas) {
				t.Errorf("fix %q does not contain %q", got[0].Fix, tt.fixHas)
			}
			for _, x := range got {
				if x.Code == "" || x.Message == "" || x.Evidence == "" {
					t.Errorf("incomplete finding %+v", x)
				}
				if x.Severity >= Warning && (x.Fix == "" || x.Firmware.IsZero() && x.Code != CodeCSVDiffers && x.Code != CodeTableUnreadable) {
					t.Errorf("finding %s lacks a fix or firmware error", x.Code)
				}
				// Never a secret: no key bytes in any text.
				for _, secret := range [][]byte{userKeys.Data[:8], otherKeys.Data[:8], flashKey[:8]} {
					if strings.Contains(x.Message+x.Evidence+x.Fix, string(secret)) || strings.Contains(x.Evidence, strings.ToLower(hexs(secret))) {
						t.Errorf("finding %s shows key bytes", x.Code)
					}
				}
			}
			r := NewReport(f)
			if r.Clean != (len(tt.want) == 0) || r.Schema != Schema {
				t.Errorf("report clean=%v schema %q", r.Clean, r.Schema)
			}
		})
	}
}

func hexs(b []byte) string {
	const h = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, h[c>>4], h[c&15])
	}
	return string(s)
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.Severity.String() + " " + f.Code + ": " + f.Message + " | " + f.Evidence + " | " + f.Fix + "\n")
	}
	return b.String()
}

func TestReportJSON(t *testing.T) {
	f := good(t, "ESP32-C3")
	f.Keys.Raw = userKeys.MarshalPartition()
	r := NewReport(f)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Schema   string `json:"schema"`
		Clean    bool   `json:"clean"`
		Scheme   string `json:"scheme"`
		Findings []struct {
			Code     string `json:"code"`
			Severity string `json:"severity"`
			Firmware struct {
				Name string `json:"name"`
				Code int    `json:"code"`
				Hex  string `json:"hex"`
			} `json:"firmware_error"`
			Fix string `json:"fix"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Schema != "nvskit-doctor/1" || m.Clean || m.Scheme != "flash-enc" || len(m.Findings) != 1 {
		t.Fatalf("%s", b)
	}
	x := m.Findings[0]
	if x.Code != CodeKeysPlain || x.Severity != "error" || x.Firmware.Name != "ESP_ERR_NVS_CORRUPT_KEY_PART" || x.Firmware.Code != 0x1117 || x.Firmware.Hex != "0x1117" {
		t.Fatalf("%s", b)
	}
	clean, _ := json.Marshal(NewReport(good(t, "ESP32-C3")))
	if !bytes.Contains(clean, []byte(`"findings":[]`)) || !bytes.Contains(clean, []byte(`"clean":true`)) {
		t.Fatalf("%s", clean)
	}
	if s := ErrFail.Hex(); s != "-1" {
		t.Fatal(s)
	}
}

// Every code is documented in docs/doctor.md's table, and the table lists no other code.
func TestCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "doctor.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| `") {
			code := strings.TrimPrefix(line, "| `")
			documented[code[:strings.Index(code, "`")]] = true
		}
	}
	seen := map[string]bool{}
	for _, c := range Codes() {
		if seen[c] {
			t.Errorf("code %s listed twice", c)
		}
		seen[c] = true
		if !documented[c] {
			t.Errorf("code %s is not in docs/doctor.md", c)
		}
	}
	for c := range documented {
		if !seen[c] && strings.Contains(c, "-") && !strings.HasPrefix(c, "--") {
			t.Errorf("docs/doctor.md documents %s, which is no code", c)
		}
	}
}

// The ESP32's FLASH_CRYPT_CONFIG, when read, is the one the keys partition is decrypted with.
func TestFlashCryptConfig(t *testing.T) {
	f := good(t, "ESP32")
	c, _ := flashcrypt.NewESP32(flashKey, 0x3)
	raw := make([]byte, 0x1000)
	if err := c.Encrypt(raw, userKeys.MarshalPartition(), keysOff); err != nil {
		t.Fatal(err)
	}
	f.Keys.Raw = raw
	if got := codes(Diagnose(f), Warning); !slices.Equal(got, []string{CodeKeysCorrupt}) {
		t.Fatalf("with the default 0xF: %v", got)
	}
	conf := uint8(3)
	f.Security.FlashCryptConfig = &conf
	if got := codes(Diagnose(f), Warning); len(got) != 0 {
		t.Fatalf("with FLASH_CRYPT_CONFIG 3: %v", got)
	}
}
