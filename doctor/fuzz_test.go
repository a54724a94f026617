package doctor

import (
	"testing"

	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/partition"
)

// FuzzDiagnose feeds arbitrary raw partitions, keys and security facts to Diagnose: it must
// never panic, and every finding must carry a code and a message.
func FuzzDiagnose(f *testing.F) {
	keys := userKeys.MarshalPartition()
	img, _ := nvs.Build(items, nvs.Options{Size: 0x3000})
	f.Add(keys, img, keys, []byte(nil), "ESP32-C3", true, uint8(0))
	f.Add(blank(4096), blank(0x3000), []byte(nil), flashKey, "ESP32", true, uint8(1))
	f.Add(devicePattern, img[:4096], keys, flashKey[:16], "", false, uint8(2))
	f.Add([]byte{1, 2, 3}, []byte{0xE9}, []byte{}, fill(64, 5), "ESP32-S3", true, uint8(3))
	f.Fuzz(func(t *testing.T, rawKeys, rawNVS, user, flash []byte, chip string, fe bool, scheme uint8) {
		if len(rawKeys)+len(rawNVS)+len(user)+len(flash)+len(chip) > 32<<10 {
			return // larger inputs find nothing new and make the minimiser crawl
		}
		facts := Facts{
			Chip:        chip,
			Security:    &Security{FlashEncryption: fe, KeyBlocks: []KeyBlock{{Index: 0, Purpose: scheme}}},
			DeviceTable: mkTable(partition.Flags(scheme&1), partition.Flags(scheme>>1&1), true),
			NVS:         &Partition{Name: "nvs", Offset: nvsOff, Raw: rawNVS},
			Keys:        &Partition{Name: "nvs_keys", Offset: keysOff, Raw: rawKeys},
			UserKeys:    user,
			FlashKey:    flash,
			Scheme:      Scheme(scheme % 5),
			HMACKeyID:   int(scheme%8) - 1,
			Expected:    items,
		}
		if scheme&4 != 0 {
			facts.Security = nil
		}
		for _, x := range Diagnose(facts) {
			if x.Code == "" || x.Message == "" {
				t.Fatalf("incomplete finding %+v", x)
			}
		}
	})
}
