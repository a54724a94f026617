package esploader

import "strings"

// Chip describes one ESP32-family chip as the ROM loader sees it.
type Chip struct {
	// Name is the marketing name, e.g. "ESP32-C3".
	Name string
	// ID is the chip id in GET_SECURITY_INFO replies (0: the chip does not report one).
	ID uint32
	// Magic is the value of the magic register 0x40001000 (0: not used for detection).
	Magic uint32
	// MACReg is the eFuse register holding the low word of the base MAC.
	MACReg uint32
	// SPIBase and the offsets are the SPI controller's "user command" registers, used to read
	// the flash chip's JEDEC id.
	SPIBase, SPIUsr, SPIUsr1, SPIUsr2, SPIMOSIDLen, SPIMISODLen, SPIW0 uint32
	// BootloaderOffset is where the second-stage bootloader lives in flash.
	BootloaderOffset uint32
	// BeginWords is the number of words FLASH_BEGIN / FLASH_DEFL_BEGIN take (4 on ESP32, 5 on later ROMs).
	BeginWords int
	// SecurityInfo reports whether the ROM implements GET_SECURITY_INFO.
	SecurityInfo bool

	wdt *watchdogRegs
}

// watchdogRegs are the RTC (or LP) watchdog and super-watchdog registers that can reset a chip
// in the middle of an operation when it is connected through its USB-Serial/JTAG peripheral.
type watchdogRegs struct {
	wdtConfig0, wdtProtect, swdConf, swdProtect uint32
	swdKey, swdAutoFeed                         uint32
}

// wdtKey unlocks the RTC/LP watchdog registers.
const wdtKey = 0x50D83AA1

func rtcWatchdog(cfg0, prot, swdConf, swdProt uint32) *watchdogRegs {
	return &watchdogRegs{cfg0, prot, swdConf, swdProt, 0x8F1D312A, 1 << 31}
}

func lpWatchdog(base, prot, swdConf, swdProt uint32) *watchdogRegs {
	return &watchdogRegs{base, base + prot, base + swdConf, base + swdProt, wdtKey, 1 << 18}
}

// MagicReg is the register whose value identifies chips without a security-info chip id.
const MagicReg = 0x40001000

// esp32 eFuse words holding the MAC, and the registers for the ROM's crystal estimate.
const (
	esp32EfuseMAC1   = 0x3FF5A004
	esp32EfuseMAC2   = 0x3FF5A008
	esp32EfuseWord4  = 0x3FF5A010
	esp32RTCCaliCfg1 = 0x3FF5F06C
)

// Chips lists the chips nvskit supports: the ESP32, then the later chips by series (S, C, H, P).
var Chips = []Chip{
	{Name: "ESP32", Magic: 0x00F01D83, MACReg: esp32EfuseMAC1, SPIBase: 0x3FF42000, SPIUsr: 0x1C, SPIUsr1: 0x20, SPIUsr2: 0x24, SPIMOSIDLen: 0x28, SPIMISODLen: 0x2C, SPIW0: 0x80, BootloaderOffset: 0x1000, BeginWords: 4},
	{Name: "ESP32-S2", Magic: 0x000007C6, MACReg: 0x3F41A044, SPIBase: 0x3F402000, BootloaderOffset: 0x1000, BeginWords: 5, SecurityInfo: true},
	{Name: "ESP32-S3", ID: 9, MACReg: 0x60007044, SPIBase: 0x60002000, BeginWords: 5, SecurityInfo: true,
		wdt: rtcWatchdog(0x60008098, 0x600080B0, 0x600080B4, 0x600080B8)},
	{Name: "ESP32-C2", ID: 12, MACReg: 0x60008840, SPIBase: 0x60002000, BeginWords: 5, SecurityInfo: true},
	{Name: "ESP32-C3", ID: 5, MACReg: 0x60008844, SPIBase: 0x60002000, BeginWords: 5, SecurityInfo: true,
		wdt: rtcWatchdog(0x60008090, 0x600080A8, 0x600080AC, 0x600080B0)},
	{Name: "ESP32-C5", ID: 23, MACReg: 0x600B4844, SPIBase: 0x60003000, BootloaderOffset: 0x2000, BeginWords: 5, SecurityInfo: true,
		wdt: lpWatchdog(0x600B1C00, 0x18, 0x1C, 0x20)},
	{Name: "ESP32-C6", ID: 13, MACReg: 0x600B0844, SPIBase: 0x60003000, BeginWords: 5, SecurityInfo: true,
		wdt: lpWatchdog(0x600B1C00, 0x18, 0x1C, 0x20)},
	{Name: "ESP32-H2", ID: 16, MACReg: 0x600B0844, SPIBase: 0x60003000, BeginWords: 5, SecurityInfo: true,
		wdt: lpWatchdog(0x600B1C00, 0x1C, 0x20, 0x24)},
	{Name: "ESP32-P4", ID: 18, MACReg: 0x5012D044, SPIBase: 0x5008D000, BootloaderOffset: 0x2000, BeginWords: 5, SecurityInfo: true,
		wdt: lpWatchdog(0x50116000, 0x18, 0x1C, 0x20)},
}

func init() {
	// Every chip after the ESP32 shares one layout of the SPI user-command registers.
	for i := range Chips {
		c := &Chips[i]
		if c.SPIUsr == 0 {
			c.SPIUsr, c.SPIUsr1, c.SPIUsr2, c.SPIMOSIDLen, c.SPIMISODLen, c.SPIW0 = 0x18, 0x1C, 0x20, 0x24, 0x28, 0x58
		}
	}
}

// ChipByName finds a chip by name, ignoring case and the "ESP32-" prefix ("c3", "esp32c3" and
// "ESP32-C3" all match).
func ChipByName(name string) (Chip, bool) {
	n := normName(name)
	for _, c := range Chips {
		if normName(c.Name) == n {
			return c, true
		}
	}
	return Chip{}, false
}

func normName(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != '-' && c != '_' {
			b = append(b, c)
		}
	}
	r := string(b)
	if r != "" && !strings.HasPrefix(r, "esp32") {
		r = "esp32" + r
	}
	return r
}

// chipByID returns the chip with the given security-info chip id.
func chipByID(id uint32) (Chip, bool) {
	for _, c := range Chips {
		if c.ID != 0 && c.ID == id {
			return c, true
		}
	}
	return Chip{}, false
}

// chipByMagic returns the chip whose magic register has the value m.
func chipByMagic(m uint32) (Chip, bool) {
	for _, c := range Chips {
		if c.Magic != 0 && c.Magic == m {
			return c, true
		}
	}
	return Chip{}, false
}
