package loadersim

import (
	"fmt"
	"strings"
)

// chip is what the simulator needs to know to impersonate one ROM.
type chip struct {
	name       string
	id         uint32 // GET_SECURITY_INFO chip id (0: none)
	magic      uint32 // value at 0x40001000
	secInfo    int    // GET_SECURITY_INFO payload length: 0 unsupported, 12 or 20
	beginWords int    // FLASH_BEGIN / FLASH_DEFL_BEGIN words
	macLo      uint32 // eFuse register with the MAC's low 32 bits
	macHi      uint32 // eFuse register with the MAC's high 16 bits
	spiBase    uint32
	spiUsr2    uint32 // offset of the user-command register
	spiW0      uint32 // offset of the first data buffer word
	banner     string
}

const esp32Banner = "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n"

func newBanner(rom string) string {
	return "ESP-ROM:" + rom + "\r\nBuild:Mar 15 2023\r\nrst:0x1 (POWERON),boot:0x4 (DOWNLOAD(USB/UART0/1))\r\nwaiting for download\r\n"
}

var chips = []chip{
	{name: "ESP32", magic: 0x00F01D83, beginWords: 4, macLo: 0x3FF5A004, macHi: 0x3FF5A008, spiBase: 0x3FF42000, spiUsr2: 0x24, spiW0: 0x80, banner: esp32Banner},
	{name: "ESP32-S2", magic: 0x000007C6, secInfo: 12, beginWords: 5, macLo: 0x3F41A044, macHi: 0x3F41A048, spiBase: 0x3F402000, spiUsr2: 0x20, spiW0: 0x58, banner: newBanner("esp32s2-rc4-20191025")},
	{name: "ESP32-S3", id: 9, secInfo: 20, beginWords: 5, macLo: 0x60007044, macHi: 0x60007048, spiBase: 0x60002000, spiUsr2: 0x20, spiW0: 0x58, banner: newBanner("esp32s3-20210327")},
	{name: "ESP32-C2", id: 12, secInfo: 20, beginWords: 5, macLo: 0x60008840, macHi: 0x60008844, spiBase: 0x60002000, spiUsr2: 0x20, spiW0: 0x58, banner: newBanner("esp8684-api2-20220127")},
	{name: "ESP32-C3", id: 5, secInfo: 20, beginWords: 5, macLo: 0x60008844, macHi: 0x60008848, spiBase: 0x60002000, spiUsr2: 0x20, spiW0: 0x58, banner: newBanner("esp32c3-api1-20210207")},
	{name: "ESP32-C5", id: 23, secInfo: 20, beginWords: 5, macLo: 0x600B4844, macHi: 0x600B4848, spiBase: 0x60003000, spiUsr2: 0x20, spiW0: 0x58, banner: newBanner("esp32c5-eco2-20250121")},
	{name: "ESP32-C6", id: 13, secInfo: 20, beginWords: 5, macLo: 0x600B0844, macHi: 0x600B0848, spiBase: 0x60003000, spiUsr2: 0x20, spiW0: 0x58, banner: newBanner("esp32c6-20220919")},
	{name: "ESP32-H2", id: 16, secInfo: 20, beginWords: 5, macLo: 0x600B0844, macHi: 0x600B0848, spiBase: 0x60003000, spiUsr2: 0x20, spiW0: 0x58, banner: newBanner("esp32h2-20221101")},
	{name: "ESP32-P4", id: 18, secInfo: 20, beginWords: 5, macLo: 0x5012D044, macHi: 0x5012D048, spiBase: 0x5008D000, spiUsr2: 0x20, spiW0: 0x58, banner: newBanner("esp32p4-eco2-20230929")},
}

// ChipNames lists the chips the simulator can impersonate, in a form -chip accepts.
func ChipNames() []string {
	var n []string
	for _, c := range chips {
		n = append(n, strings.ToLower(strings.ReplaceAll(c.name, "-", "")))
	}
	return n
}

func findChip(name string) (chip, error) {
	key := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(name))
	if key != "" && !strings.HasPrefix(key, "esp32") {
		key = "esp32" + key
	}
	for _, c := range chips {
		if strings.ToLower(strings.ReplaceAll(c.name, "-", "")) == key {
			return c, nil
		}
	}
	return chip{}, fmt.Errorf("unknown chip %q; choose one of %s", name, strings.Join(ChipNames(), ", "))
}
