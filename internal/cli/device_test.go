package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nvskit/nvskit/esploader/loadersim"
)

// simPort serves a simulator on 127.0.0.1 and returns its socket:// port name. A new flash gets
// the default partition table unless blank.
func simPort(t *testing.T, cfg loadersim.Config, blank bool) (string, *loadersim.Sim) {
	t.Helper()
	if cfg.FlashSize == 0 {
		cfg.FlashSize = 2 << 20
	}
	sim, err := loadersim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !blank {
		sim.SetFlash(0x8000, defaultTable())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { sim.ServeListener(ln); close(done) }()
	t.Cleanup(func() { ln.Close(); <-done })
	return "socket://" + ln.Addr().String(), sim
}

func goldenImage(t *testing.T) []byte {
	return mustRead(t, filepath.Join("..", "..", "testdata", "golden", "nvs-gen", "seed_certs_0x6000", "expected.bin"))
}

func TestFlashReadErase(t *testing.T) {
	p, sim := simPort(t, loadersim.Config{Chip: "esp32"}, false)
	dir := t.TempDir()
	img := goldenImage(t)
	os.WriteFile(filepath.Join(dir, "nvs.bin"), img, 0o644)

	code, out, stderr := runIn(t, dir, "flash", "nvs.bin", "--port", p, "--partition", "nvs")
	if code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("flash: %d %s %s", code, out, stderr)
	}
	if !bytes.Equal(sim.Flash()[0x9000:0xF000], img) {
		t.Fatal("flash content differs")
	}
	if code, out, stderr = runIn(t, dir, "read", "--port", p, "--partition", "nvs", "-o", "back/nvs.bin"); code != 0 {
		t.Fatalf("read: %d %s %s", code, out, stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "back", "nvs.bin")), img) {
		t.Fatal("read-back differs")
	}
	if code, _, stderr = runIn(t, dir, "read", "--port", p, "--offset", "0x9000", "--size", "100", "-o", "part.bin"); code != 0 {
		t.Fatal(stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "part.bin")), img[:100]) {
		t.Fatal("offset read differs")
	}
	if code, _, stderr = runIn(t, dir, "erase", "--port", p, "--partition", "nvs"); code != 0 {
		t.Fatal(stderr)
	}
	if !bytes.Equal(sim.Flash()[0x9000:0xF000], bytes.Repeat([]byte{0xFF}, 0x6000)) {
		t.Fatal("not erased")
	}
}

func TestFlashWithTableFile(t *testing.T) {
	p, sim := simPort(t, loadersim.Config{Chip: "esp32c3"}, true)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "partitions.csv"), []byte("# Name, Type, SubType, Offset, Size\nnvs,data,nvs,0x9000,0x6000\nfactory,app,factory,0x10000,1M\nstore,data,nvs,,0x6000\n"), 0o644)
	img := goldenImage(t)
	os.WriteFile(filepath.Join(dir, "nvs.bin"), img, 0o644)
	code, out, stderr := runIn(t, dir, "flash", "nvs.bin", "--port", p, "--partition", "store", "--partition-table", "partitions.csv", "--baud", "921600")
	if code != 0 {
		t.Fatalf("%d %s %s", code, out, stderr)
	}
	if !bytes.Equal(sim.Flash()[0x110000:0x116000], img) {
		t.Fatal("not written at store's offset 0x110000")
	}
	// A blank device has no table to find a partition in.
	code, _, stderr = runIn(t, dir, "flash", "nvs.bin", "--port", p, "--partition", "nvs")
	if code != 1 || !strings.Contains(stderr, "no partition table at 0x8000") {
		t.Fatalf("%d %s", code, stderr)
	}
	code, _, stderr = runIn(t, dir, "flash", "nvs.bin", "--port", p, "--partition", "nope", "--partition-table", "partitions.csv")
	if code != 1 || !strings.Contains(stderr, "store") {
		t.Fatalf("unknown partition: %d %s", code, stderr)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	img := goldenImage(t)
	os.WriteFile(filepath.Join(dir, "nvs.bin"), img, 0o644)
	os.WriteFile(filepath.Join(dir, "big.bin"), make([]byte, 0x7000), 0o644)
	os.WriteFile(filepath.Join(dir, "enc.csv"), []byte("nvs,data,nvs,0x9000,0x6000\nstore,data,0x40,0x10000,0x6000,encrypted\n"), 0o644)
	cases := []struct {
		name string
		cfg  loadersim.Config
		args []string
		want string
	}{
		{"image larger than the partition", loadersim.Config{}, []string{"flash", "big.bin", "--partition", "nvs"}, "larger than"},
		{"bootloader", loadersim.Config{}, []string{"flash", "nvs.bin", "--offset", "0x1000"}, "bootloader"},
		{"partition table", loadersim.Config{}, []string{"flash", "nvs.bin", "--offset", "0x8000"}, "partition table"},
		{"app partition", loadersim.Config{}, []string{"flash", "nvs.bin", "--offset", "0x10000"}, "app partition"},
		{"app partition tail", loadersim.Config{}, []string{"flash", "big.bin", "--offset", "0xA000"}, "app partition"},
		{"erase app", loadersim.Config{}, []string{"erase", "--partition", "factory"}, "app partition"},
		{"encrypted partition under flash encryption", loadersim.Config{Chip: "esp32c3", FlashEncryption: true}, []string{"flash", "nvs.bin", "--partition", "store", "--partition-table", "enc.csv"}, "flagged encrypted"},
		{"erase outside the table under flash encryption", loadersim.Config{Chip: "esp32s3", FlashEncryption: true}, []string{"erase", "--offset", "0x1F0000", "--size", "0x1000"}, "flash encryption on"},
		{"erase outside the table under flash encryption (ESP32 eFuse)", loadersim.Config{Chip: "esp32", FlashEncryption: true}, []string{"erase", "--offset", "0x1F0000", "--size", "0x1000"}, "flash encryption on"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, sim := simPort(t, c.cfg, false)
			before := sim.Flash()
			args := append(c.args, "--port", p)
			code, _, stderr := runIn(t, dir, args...)
			if code != 1 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "--force") {
				t.Fatalf("%d %s", code, stderr)
			}
			if !bytes.Equal(before, sim.Flash()) {
				t.Fatal("flash changed on a refusal")
			}
			if code, _, stderr = runIn(t, dir, append(args, "--force")...); code != 0 {
				t.Fatalf("with --force: %d %s", code, stderr)
			}
		})
	}
}

func TestDeviceInfo(t *testing.T) {
	p, _ := simPort(t, loadersim.Config{Chip: "esp32s3", FlashEncryption: true, MAC: net.HardwareAddr{1, 2, 3, 4, 5, 6}}, false)
	code, out, stderr := runIn(t, "", "device", "info", "--port", p, "--json")
	if code != 0 {
		t.Fatal(stderr)
	}
	var info deviceInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	if info.Chip != "ESP32-S3" || info.MAC != "01:02:03:04:05:06" || info.FlashSize != 2<<20 || info.FlashEncryption == nil || !*info.FlashEncryption {
		t.Fatalf("%+v", info)
	}
	p, _ = simPort(t, loadersim.Config{Chip: "esp32"}, false)
	code, out, stderr = runIn(t, "", "device", "info", "--port", p)
	if code != 0 || !strings.Contains(out, "Chip:        ESP32\n") || !strings.Contains(out, "Encryption:  off") {
		t.Fatal(out, stderr)
	}
}

func TestDeviceErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nvs.bin"), goldenImage(t), 0o644)
	wrong, _ := simPort(t, loadersim.Config{NormalBoot: true}, false)
	gone, _ := simPort(t, loadersim.Config{Faults: []loadersim.Fault{{Kind: loadersim.Disconnect, Cmd: 0x03, Nth: 2}}}, false)
	badMD5, _ := simPort(t, loadersim.Config{Faults: []loadersim.Fault{{Kind: loadersim.WrongMD5, Cmd: 0x13, Nth: 2, Count: -1}}}, false) // the first MD5 checks the table read
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"flash", "nvs.bin", "--port", "socket://127.0.0.1:1", "--offset", "0x9000"}, 1, "127.0.0.1:1"},
		{[]string{"flash", "nvs.bin", "--port", filepath.Join(dir, "ttyUSB7"), "--offset", "0x9000"}, 1, "no such port"},
		{[]string{"flash", "nvs.bin", "--port", "x", "--offset", "0x9000", "--partition", "nvs"}, 2, "exactly one"},
		{[]string{"flash", "nvs.bin", "--port", "socket://127.0.0.1:1", "--offset", "0x9000"}, 1, "is nvskit simulate"},
		{[]string{"flash", "nvs.bin", "--port", "", "--offset", "0x9000"}, 2, "--port is required"},
		{[]string{"flash", "nvs.bin", "--port", "", "--offset", "0x9000"}, 2, "$NVSKIT_PORT"},
		{[]string{"flash", "nvs.bin", "--port", "rfc2217://127.0.0.1:1", "--offset", "0x9000"}, 1, "socket://"},
		{[]string{"read", "--port", "x", "--offset", "0x9000"}, 2, "--size"},
		{[]string{"flash", "nvs.bin", "--port", wrong, "--offset", "0x9000", "--connect-attempts", "1"}, 1, "SPI_FAST_FLASH_BOOT"},
		{[]string{"flash", "nvs.bin", "--port", gone, "--partition", "nvs"}, 1, "connection to the chip was lost"},
		{[]string{"flash", "nvs.bin", "--port", badMD5, "--partition", "nvs"}, 1, "MD5 of the flash does not match"},
		{[]string{"simulate", "--listen", "0.0.0.0:0"}, 2, "loopback"},
		{[]string{"simulate", "--chip", "esp8266"}, 2, "unknown chip"},
	}
	for _, c := range cases {
		code, _, stderr := runIn(t, dir, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: %d %s", c.args, code, stderr)
		}
	}
}

func TestProvision(t *testing.T) {
	dir := seedCase(t, "seed_certs_0x6000")
	p, sim := simPort(t, loadersim.Config{Chip: "esp32c6"}, false)
	code, out, stderr := runIn(t, dir, "provision", "input.csv", "--port", p, "--partition", "nvs")
	if code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("%d %s %s", code, out, stderr)
	}
	if !bytes.Equal(sim.Flash()[0x9000:0xF000], mustRead(t, filepath.Join(dir, "expected.bin"))) {
		t.Fatal("provisioned image differs from the golden one")
	}
	// Encrypted: the flash holds what decrypt turns back into the plain image.
	if code, _, stderr = runIn(t, dir, "generate-key", "--keyfile", "k.bin"); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, stderr = runIn(t, dir, "provision", "input.csv", "--port", p, "--partition", "nvs", "--keys", "keys/k.bin", "--save", "enc.bin"); code != 0 {
		t.Fatal(stderr)
	}
	os.WriteFile(filepath.Join(dir, "dev.bin"), sim.Flash()[0x9000:0xF000], 0o644)
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "dev.bin")), mustRead(t, filepath.Join(dir, "enc.bin"))) {
		t.Fatal("flash differs from the saved image")
	}
	if code, _, stderr = runIn(t, dir, "decrypt", "dev.bin", "keys/k.bin", "plain.bin"); code != 0 {
		t.Fatal(stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "plain.bin")), mustRead(t, filepath.Join(dir, "expected.bin"))) {
		t.Fatal("decrypted flash differs from the plain image")
	}
	// With a table file the image is built before connecting.
	os.WriteFile(filepath.Join(dir, "pt.csv"), []byte("nvs,data,nvs,0x9000,0x6000\nfactory,app,factory,0x10000,1M\n"), 0o644)
	if code, _, stderr = runIn(t, dir, "provision", "input.csv", "--port", p, "--partition", "nvs", "--partition-table", "pt.csv"); code != 0 {
		t.Fatal(stderr)
	}
	if !bytes.Equal(sim.Flash()[0x9000:0xF000], mustRead(t, filepath.Join(dir, "expected.bin"))) {
		t.Fatal("provisioned image differs from the golden one")
	}
	// Not an NVS partition.
	if code, _, stderr = runIn(t, dir, "provision", "input.csv", "--port", p, "--partition", "phy_init"); code != 1 || !strings.Contains(stderr, "not data/nvs") {
		t.Fatal(code, stderr)
	}
}

func TestFlashProgressOnTerminal(t *testing.T) {
	p, _ := simPort(t, loadersim.Config{Chip: "esp32h2"}, false)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nvs.bin"), goldenImage(t), 0o644)
	var out, errb bytes.Buffer
	code := Run([]string{"flash", "nvs.bin", "--port", p, "--partition", "nvs"}, Env{Dir: dir, Stdout: &out, Stderr: &errb, Terminal: true})
	if code != 0 || !strings.Contains(errb.String(), "\rWriting [") || !strings.Contains(errb.String(), "100%") {
		t.Fatalf("%d %q", code, errb.String())
	}
	// Not a terminal: no bar.
	code, _, stderr := runIn(t, dir, "flash", "nvs.bin", "--port", p, "--partition", "nvs")
	if code != 0 || strings.Contains(stderr, "Writing [") {
		t.Fatalf("%d %q", code, stderr)
	}
}

// syncBuf is a bytes.Buffer safe for one writer goroutine and one reader.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSimulateCommand runs "nvskit simulate" with a flash file, flashes through it, and checks
// that the file holds the default table and the image afterwards.
func TestSimulateCommand(t *testing.T) {
	dir := t.TempDir()
	img := goldenImage(t)
	os.WriteFile(filepath.Join(dir, "nvs.bin"), img, 0o644)
	var out syncBuf
	done := make(chan int)
	go func() {
		done <- Run([]string{"simulate", "--chip", "esp32p4", "--flash", "flash.bin", "--flash-size", "2MB", "--listen", "127.0.0.1:0", "--sessions", "1"},
			Env{Dir: dir, Stdout: &out, Stderr: io.Discard})
	}()
	re := regexp.MustCompile(`socket://127\.0\.0\.1:\d+`)
	var port string
	for i := 0; i < 500 && port == ""; i++ {
		port = re.FindString(out.String())
		time.Sleep(10 * time.Millisecond)
	}
	if port == "" {
		t.Fatalf("no address in %q", out.String())
	}
	if code, _, stderr := runIn(t, dir, "flash", "nvs.bin", "--port", port, "--partition", "nvs"); code != 0 {
		t.Fatal(stderr)
	}
	if code := <-done; code != 0 {
		t.Fatalf("simulate exited %d", code)
	}
	flash := mustRead(t, filepath.Join(dir, "flash.bin"))
	if len(flash) != 2<<20 || !bytes.Equal(flash[0x8000:0x8C00], defaultTable()) || !bytes.Equal(flash[0x9000:0xF000], img) {
		t.Fatal("flash file does not hold the table and the image")
	}
}

// Over socket:// the baud rate is changed only when --baud is given: the bridge at the far end
// stays at its own speed.
func TestSocketBaud(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nvs.bin"), goldenImage(t), 0o644)
	p, sim := simPort(t, loadersim.Config{Chip: "esp32c3"}, false)
	if code, _, stderr := runIn(t, dir, "flash", "nvs.bin", "--port", p, "--partition", "nvs"); code != 0 {
		t.Fatal(stderr)
	}
	if b := sim.Stats().Baud; b != 0 {
		t.Fatalf("CHANGE_BAUDRATE to %d without --baud", b)
	}
	if code, _, stderr := runIn(t, dir, "flash", "nvs.bin", "--port", p, "--partition", "nvs", "--baud", "230400"); code != 0 {
		t.Fatal(stderr)
	}
	if b := sim.Stats().Baud; b != 230400 {
		t.Fatalf("baud %d with --baud 230400", b)
	}
}

// flash --partition checks the data's kind: only an NVS image (plain or encrypted) goes into a
// data/nvs partition, only a keys partition with a valid CRC into data/nvs_keys; --force is the
// way out. Nothing is written on a refusal.
func TestFlashChecksDataKind(t *testing.T) {
	dir := t.TempDir()
	enc := filepath.Join("..", "..", "testdata", "golden", "nvs-gen", "encrypt_multipage_blob_0x6000")
	os.WriteFile(filepath.Join(dir, "nvs.bin"), goldenImage(t), 0o644)
	os.WriteFile(filepath.Join(dir, "nvs-page.bin"), goldenImage(t)[:0x1000], 0o644)
	os.WriteFile(filepath.Join(dir, "enc.bin"), mustRead(t, filepath.Join(enc, "expected.bin")), 0o644)
	os.WriteFile(filepath.Join(dir, "keys.bin"), mustRead(t, filepath.Join(enc, "nvs_keys.bin")), 0o644)
	os.WriteFile(filepath.Join(dir, "nvs.csv"), []byte("key,type,encoding,value\nstorage,namespace,,\nwifi_ssid,data,string,MyNet\n"), 0o644)
	csvPage := append([]byte("key,type,encoding,value\n"), bytes.Repeat([]byte{0xFF}, 0x1000-24)...)
	os.WriteFile(filepath.Join(dir, "csv-page.bin"), csvPage, 0o644)
	damaged := append([]byte(nil), goldenImage(t)...)
	damaged[0x1000+9] ^= 1 // page 1's header, under its CRC
	os.WriteFile(filepath.Join(dir, "damaged.bin"), damaged, 0o644)
	badKeys := mustRead(t, filepath.Join(enc, "nvs_keys.bin"))
	badKeys[3] ^= 1
	os.WriteFile(filepath.Join(dir, "badkeys.bin"), badKeys, 0o644)
	os.WriteFile(filepath.Join(dir, "pt.csv"), []byte("nvs,data,nvs,0x9000,0x6000\nnvs_keys,data,nvs_keys,0xF000,0x1000\nfactory,app,factory,0x10000,1M\n"), 0o644)
	cases := []struct {
		image, part string
		ok          bool
		want        string
	}{
		{"nvs.bin", "nvs", true, ""},
		{"enc.bin", "nvs", true, ""},
		{"keys.bin", "nvs_keys", true, ""},
		{"nvs.csv", "nvs", false, "not an NVS partition image"},
		{"csv-page.bin", "nvs", false, "not an NVS partition image"},
		{"keys.bin", "nvs", false, "not an NVS partition image"},
		{"nvs-page.bin", "nvs_keys", false, "not an nvs_keys partition image"},
		{"badkeys.bin", "nvs_keys", false, "CRC"},
		{"damaged.bin", "nvs", false, "damaged page"},
	}
	// --offset at the start of an NVS partition of the device's table is checked too.
	p, sim := simPort(t, loadersim.Config{Chip: "esp32c3"}, false)
	before := sim.Flash()
	if code, _, stderr := runIn(t, dir, "flash", "nvs.csv", "--port", p, "--offset", "0x9000"); code != 1 || !strings.Contains(stderr, "not an NVS partition image") {
		t.Errorf("--offset 0x9000: %d %s", code, stderr)
	}
	if !bytes.Equal(before, sim.Flash()) {
		t.Error("flash changed on a refusal")
	}
	for _, c := range cases {
		p, sim := simPort(t, loadersim.Config{Chip: "esp32"}, true)
		before := sim.Flash()
		args := []string{"flash", c.image, "--port", p, "--partition", c.part, "--partition-table", "pt.csv"}
		code, _, stderr := runIn(t, dir, args...)
		if c.ok {
			if code != 0 {
				t.Errorf("%s into %s: %d %s", c.image, c.part, code, stderr)
			}
			continue
		}
		if code != 1 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "--force") || !strings.Contains(stderr, c.image) {
			t.Errorf("%s into %s: %d %s", c.image, c.part, code, stderr)
		}
		if !bytes.Equal(before, sim.Flash()) {
			t.Errorf("%s into %s: flash changed on a refusal", c.image, c.part)
		}
		if code, _, stderr := runIn(t, dir, append(args, "--force")...); code != 0 {
			t.Errorf("%s into %s with --force: %d %s", c.image, c.part, code, stderr)
		}
	}
}

// An image smaller than the NVS partition: the rest of the partition is erased, so that the
// device reads exactly the new image and none of the old pages behind it. The same for
// provision, whose image always fills the partition.
func TestFlashSmallImageErasesRest(t *testing.T) {
	dir := seedCase(t, "seed_certs_0x6000")
	img := goldenImage(t)
	os.WriteFile(filepath.Join(dir, "small.bin"), img[:0x3000], 0o644)
	for _, chip := range []string{"esp32", "esp32c3"} {
		p, sim := simPort(t, loadersim.Config{Chip: chip}, false)
		// The partition held an older image whose later pages carry data.
		old := append(append([]byte(nil), img[:0x3000]...), img[:0x3000]...)
		sim.SetFlash(0x9000, old)
		code, out, stderr := runIn(t, dir, "flash", "small.bin", "--port", p, "--partition", "nvs")
		if code != 0 || !strings.Contains(out, "erased to the partition's end") {
			t.Fatalf("%s: %d %s %s", chip, code, out, stderr)
		}
		f := sim.Flash()
		if !bytes.Equal(f[0x9000:0xC000], img[:0x3000]) || !bytes.Equal(f[0xC000:0xF000], bytes.Repeat([]byte{0xFF}, 0x3000)) {
			t.Fatalf("%s: the partition does not hold exactly the new image", chip)
		}
		if f[0xF000] != 0xFF || !bytes.Equal(f[0x8000:0x8C00], defaultTable()) {
			t.Fatalf("%s: flash outside the partition changed", chip)
		}
		sim.SetFlash(0x9000, bytes.Repeat([]byte{0x00}, 0x6000))
		if code, _, stderr := runIn(t, dir, "provision", "input.csv", "--port", p, "--partition", "nvs"); code != 0 {
			t.Fatalf("%s: provision: %s", chip, stderr)
		}
		if !bytes.Equal(sim.Flash()[0x9000:0xF000], mustRead(t, filepath.Join(dir, "expected.bin"))) {
			t.Fatalf("%s: provision left old content in the partition", chip)
		}
	}
}

// read, and the partition-table read before it, survive a garbled byte in a READ_FLASH_SLOW
// reply's data: each 4 KiB is checked against the chip's MD5 and read again.
func TestReadRetriesCorruptedReply(t *testing.T) {
	img := goldenImage(t)
	for _, nth := range []int{1, 60} { // the table's first block; a block of the partition
		p, sim := simPort(t, loadersim.Config{Chip: "esp32", Faults: []loadersim.Fault{{Kind: loadersim.CorruptByte, Cmd: 0x0E, Nth: nth, Reply: true, At: 8 + 3}}}, false)
		sim.SetFlash(0x9000, img)
		dir := t.TempDir()
		if code, out, stderr := runIn(t, dir, "read", "--port", p, "--partition", "nvs", "-o", "nvs.bin"); code != 0 {
			t.Fatalf("block %d garbled: %d %s %s", nth, code, out, stderr)
		}
		if !bytes.Equal(mustRead(t, filepath.Join(dir, "nvs.bin")), img) || sim.Stats().Faults != 1 {
			t.Fatalf("block %d garbled: the file differs from the partition (%d faults)", nth, sim.Stats().Faults)
		}
	}
}

// simulate --flash: an existing file that is not a full flash dump (a partition image, a dump of
// another size) is refused and left as it was; a full dump is used at its size.
func TestSimulateFlashFile(t *testing.T) {
	dir := t.TempDir()
	img := goldenImage(t)
	os.WriteFile(filepath.Join(dir, "nvs.bin"), img, 0o644)
	dump := bytes.Repeat([]byte{0xFF}, 2<<20)
	os.WriteFile(filepath.Join(dir, "dump.bin"), dump, 0o644)
	for _, args := range [][]string{
		{"--flash", "nvs.bin"},
		{"--flash", "nvs.bin", "--flash-size", "4MB"},
		{"--flash", "dump.bin", "--flash-size", "4MB"},
	} {
		code, _, stderr := runIn(t, dir, append([]string{"simulate", "--listen", "127.0.0.1:0"}, args...)...)
		if code == 0 || !strings.Contains(stderr, "not a full flash dump") {
			t.Errorf("%v: %d %s", args, code, stderr)
		}
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "nvs.bin")), img) || len(mustRead(t, filepath.Join(dir, "dump.bin"))) != 2<<20 {
		t.Fatal("a refused file was changed")
	}
	var out syncBuf
	done := make(chan int)
	go func() {
		done <- Run([]string{"simulate", "--flash", "dump.bin", "--listen", "127.0.0.1:0", "--sessions", "1"}, Env{Dir: dir, Stdout: &out, Stderr: io.Discard})
	}()
	re := regexp.MustCompile(`socket://127\.0\.0\.1:\d+`)
	var port string
	for i := 0; i < 500 && port == ""; i++ {
		port = re.FindString(out.String())
		time.Sleep(10 * time.Millisecond)
	}
	if code, o, stderr := runIn(t, dir, "device", "info", "--port", port, "--json"); code != 0 || !strings.Contains(o, `"flash_size": 2097152`) {
		t.Fatalf("%d %s %s", code, o, stderr)
	}
	if code := <-done; code != 0 {
		t.Fatalf("simulate exited %d", code)
	}
	if got := mustRead(t, filepath.Join(dir, "dump.bin")); !bytes.Equal(got, dump) {
		t.Fatal("the dump was changed (a default table written into an existing file?)")
	}
}

// --trace leaves the partition's bytes out; --trace-data shows them.
func TestTraceRedaction(t *testing.T) {
	dir := t.TempDir()
	img := goldenImage(t)
	os.WriteFile(filepath.Join(dir, "nvs.bin"), img, 0o644)
	p, sim := simPort(t, loadersim.Config{Chip: "esp32c3"}, false)
	sim.SetFlash(0x9000, img)
	secret := fmt.Sprintf("% x", img[:16])
	code, _, stderr := runIn(t, dir, "read", "--port", p, "--offset", "0x9000", "--size", "64", "-o", "x.bin", "--trace")
	if code != 0 || strings.Contains(stderr, secret) || !strings.Contains(stderr, "not shown") {
		t.Fatalf("--trace: %d %s", code, stderr)
	}
	code, _, stderr = runIn(t, dir, "read", "--port", p, "--offset", "0x9000", "--size", "64", "-o", "y.bin", "--trace-data")
	if code != 0 || !strings.Contains(stderr, secret) {
		t.Fatalf("--trace-data: %d %s", code, stderr)
	}
}

// A client that connects while another holds the simulator is told it is busy.
func TestSimulatorBusy(t *testing.T) {
	p, _ := simPort(t, loadersim.Config{Chip: "esp32"}, false)
	hold, err := net.Dial("tcp", strings.TrimPrefix(p, "socket://"))
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	time.Sleep(50 * time.Millisecond) // let the simulator take the first client
	code, _, stderr := runIn(t, "", "device", "info", "--port", p)
	if code != 1 || !strings.Contains(stderr, "the simulator is busy with another client") {
		t.Fatalf("%d %s", code, stderr)
	}
}

// On every chip profile, flash writes only its target: the NVS partition's neighbours
// (phy_init, the app) and, for a partition table written at 0x8000, the NVS data after it keep
// their bytes. (The ESP32 ROM programs 32 KiB past a compressed write; nvskit writes to it
// uncompressed.)
func TestFlashLeavesNeighboursUntouched(t *testing.T) {
	dir := t.TempDir()
	img := goldenImage(t)
	os.WriteFile(filepath.Join(dir, "small.bin"), img[:0x1000], 0o644)
	os.WriteFile(filepath.Join(dir, "table.bin"), defaultTable(), 0o644)
	for _, chip := range loadersim.ChipNames() {
		p, sim := simPort(t, loadersim.Config{Chip: chip}, false)
		data := make([]byte, 0x18000)
		for i := range data {
			data[i] = byte(i*31 + 7)
		}
		sim.SetFlash(0x9000, img)            // the NVS partition holds data
		sim.SetFlash(0xF000, data[:0x11000]) // phy_init and the app's first 64 KiB
		before := sim.Flash()
		if code, _, stderr := runIn(t, dir, "flash", "small.bin", "--port", p, "--partition", "nvs"); code != 0 {
			t.Fatalf("%s: %s", chip, stderr)
		}
		after := sim.Flash()
		if !bytes.Equal(after[:0x9000], before[:0x9000]) || !bytes.Equal(after[0xF000:], before[0xF000:]) {
			t.Errorf("%s: a write into nvs changed the flash outside it", chip)
		}
		before = after
		if code, _, stderr := runIn(t, dir, "flash", "table.bin", "--port", p, "--offset", "0x8000", "--force"); code != 0 {
			t.Fatalf("%s: %s", chip, stderr)
		}
		after = sim.Flash()
		if !bytes.Equal(after[0x9000:], before[0x9000:]) || !bytes.Equal(after[:0x8000], before[:0x8000]) {
			t.Errorf("%s: writing the partition table changed the flash after it", chip)
		}
	}
}
