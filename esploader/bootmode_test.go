package esploader

import (
	"math/rand"
	"reflect"
	"regexp"
	"testing"
)

// bootModeOracle is the regular expression bootModes replaces.
var bootModeOracle = regexp.MustCompile(`boot:0x[0-9a-fA-F]+ \([^)]*\)`)

func checkBootModes(t *testing.T, log string) {
	t.Helper()
	got := bootModes(log)
	want := bootModeOracle.FindAllString(log, -1)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: bootModes %q, regexp %q", log, got, want)
	}
}

func TestBootModes(t *testing.T) {
	for _, log := range []string{
		"rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\nconfigsip: 0",
		"boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\nwaiting for download\n",
		"boot:0x13 (SPI_FAST_FLASH_BOOT)\n...\nboot:0x3 (DOWNLOAD(USB/UART0))\n",
		"boot:0x (x)", "boot:0x1(x)", "boot:0x1 (unterminated", "boot:boot:0x1 (a)", "boot:0xboot:0x2 (b)",
		"boot:0x1 (a)boot:0x2 (b)", "boot:0x1 ()", "boot:0x1 (\n)", "", "boot:0x", "boot:0x1 ",
	} {
		checkBootModes(t, log)
	}
	rng := rand.New(rand.NewSource(1))
	parts := []string{"boot:0x", "boot:", "1", "f", "G", " ", "(", ")", "x", "\n", "0x"}
	for i := 0; i < 20000; i++ {
		s := ""
		for k := rng.Intn(10); k >= 0; k-- {
			s += parts[rng.Intn(len(parts))]
		}
		checkBootModes(t, s)
	}
}

func FuzzBootModes(f *testing.F) {
	for _, s := range []string{"rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n", "boot:0xboot:0x2 (b)", "boot:0x1 (a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, log string) { checkBootModes(t, log) })
}
