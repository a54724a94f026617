package doctor_test

import (
	"fmt"

	"github.com/nvskit/nvskit/doctor"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/partition"
)

// A device with flash encryption on whose nvs_keys partition was flashed plain: the firmware
// fails with ESP_ERR_NVS_CORRUPT_KEY_PART, and doctor says how to fix it.
func Example() {
	keys, _ := nvs.KeysFromBytes(make([]byte, 64))
	keysImage := keys.MarshalPartition()
	table := &partition.Table{Offset: 0x8000, Partitions: []partition.Partition{
		{Name: "nvs", Type: 1, SubType: 2, Offset: 0x9000, Size: 0x6000},
		{Name: "nvs_keys", Type: 1, SubType: 4, Offset: 0xF000, Size: 0x1000, Flags: partition.FlagEncrypted},
	}}
	facts := doctor.Facts{
		Chip:        "ESP32-C3",
		Security:    &doctor.Security{FlashEncryption: true, CryptCount: 1},
		DeviceTable: table,
		Keys:        &doctor.Partition{Name: "nvs_keys", Offset: 0xF000, Size: 0x1000, Encrypted: true, Raw: keysImage},
		HMACKeyID:   -1,
		Inputs:      doctor.Inputs{Port: "/dev/ttyUSB0", KeysFile: "keys.bin"},
	}
	for _, f := range doctor.Diagnose(facts) {
		fmt.Println(f.Severity, f.Code, f.Firmware)
		fmt.Println(f.Fix)
	}
	// Output:
	// error keys-written-plain ESP_ERR_NVS_CORRUPT_KEY_PART (0x1117)
	// nvskit flash keys.bin --port /dev/ttyUSB0 --partition nvs_keys --encrypt --partition-table PARTITIONS.csv
}
