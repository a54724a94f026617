package examples

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/internal/cli"
	"github.com/nvskit/nvskit/nvs"
)

// ---------------------------------------------------------------------------
// TestPlatformIOAWSIoT: the PlatformIO example's credentials image.

func TestPlatformIOAWSIoT(t *testing.T) {
	dir := copyExample(t, "platformio-aws-iot")
	table := readTable(t, filepath.Join(dir, "partitions.csv"))

	// The 16 MB layout the example promises.
	for _, name := range []string{"nvs", "otadata", "app0", "app1", "spiffs"} {
		table.get(t, name)
	}
	if end := table.end(); end > 16<<20 {
		t.Errorf("partitions.csv ends at 0x%x, beyond 16 MB", end)
	}
	part := table.get(t, "nvs")
	if part.Type != "data" || part.Subtype != "nvs" {
		t.Fatalf("nvs is %s/%s", part.Type, part.Subtype)
	}

	// What the PlatformIO script runs: generate CSV IMAGE SIZE --base-dir PROJECT.
	img := filepath.Join(dir, ".pio", "build", "esp32dev", "nvs.bin")
	out := nvskit(t, dir, 0, "generate", "certificates/nvs.csv", img, hex(part.Size), "--base-dir", dir)
	t.Logf("nvskit generate: %s", out)
	data := readFile(t, img)
	if len(data) != part.Size {
		t.Fatalf("image is %d bytes, the nvs partition %d", len(data), part.Size)
	}

	// Every value the firmware reads is there, byte for byte.
	items := decode(t, data)
	for key, file := range map[string]string{
		"certs/config":      "certificates/config.json",
		"certs/root_ca":     "certificates/root_ca.pem",
		"certs/device_cert": "certificates/device_cert.pem",
		"certs/private_key": "certificates/private_key.pem",
	} {
		if got, want := items[key], string(readFile(t, filepath.Join(dir, file))); got != want {
			t.Errorf("%s = %q, want the content of %s", key, got, file)
		}
	}
	if len(items) != 4 {
		t.Errorf("image holds %d values, want 4: %v", len(items), keys(items))
	}

	checkImage(t, dir, img, "")
	checkTable(t, dir, "partitions.csv", "16MB")

	// Where generate takes SIZE from the table itself, the image is the same.
	img2 := filepath.Join(dir, "nvs-from-table.bin")
	nvskit(t, dir, 0, "generate", "certificates/nvs.csv", img2, "--partition-table", "partitions.csv",
		"--partition", "nvs", "--base-dir", dir)
	if !bytes.Equal(readFile(t, img2), data) {
		t.Error("generate --partition-table made a different image than generate with the partition's size")
	}
}

// ---------------------------------------------------------------------------
// TestESPIDFFactory: per-device encrypted fctry images from nvskit mfg, and the development image.

func TestESPIDFFactory(t *testing.T) {
	dir := copyExample(t, "esp-idf-factory")
	table := readTable(t, filepath.Join(dir, "partitions.csv"))
	fctry := table.get(t, "fctry")
	keysPart := table.get(t, "nvs_keys")
	appNVS := table.get(t, "nvs")
	if fctry.Type != "data" || fctry.Subtype != "nvs" || !fctry.has("readonly") {
		t.Errorf("fctry must be a readonly data/nvs partition: %+v", fctry)
	}
	if keysPart.Type != "data" || keysPart.Subtype != "nvs_keys" || !keysPart.has("encrypted") {
		t.Errorf("nvs_keys must be an encrypted data/nvs_keys partition: %+v", keysPart)
	}
	if keysPart.Size != nvs.KeysPartitionSize {
		t.Errorf("nvs_keys is 0x%x bytes, want 0x%x", keysPart.Size, nvs.KeysPartitionSize)
	}
	if appNVS.has("readonly") || appNVS.Offset == fctry.Offset {
		t.Errorf("the app's nvs must be a separate, writable partition: %+v", appNVS)
	}
	devCSV := filepath.Join(dir, "factory", "dev.csv")

	t.Run("dev image fits", func(t *testing.T) {
		// Plain, with generate (on every branch): the CSV is valid and fits the partition.
		img := filepath.Join(dir, "build", "fctry-plain.bin")
		nvskit(t, dir, 0, "generate", devCSV, img, hex(fctry.Size), "--base-dir", dir)
		data := readFile(t, img)
		if len(data) != fctry.Size {
			t.Fatalf("image is %d bytes, fctry %d", len(data), fctry.Size)
		}
		checkFactoryItems(t, dir, decode(t, data), "SN-DEV", 3, "SN-0001")
	})

	t.Run("dev image encrypted", func(t *testing.T) {
		// What nvskit_create_partition_image(fctry factory/dev.csv ENCRYPT ...) runs.
		img := filepath.Join(dir, "build", "fctry.bin")
		keysFile := filepath.Join(dir, "factory", "keys", "dev_keys.bin")
		nvskit(t, dir, 0, "encrypt", devCSV, img, hex(fctry.Size), "--inputkey", keysFile, "--version", "2",
			"--base-dir", dir)
		data := readFile(t, img)
		if len(data) != fctry.Size {
			t.Fatalf("image is %d bytes, fctry %d", len(data), fctry.Size)
		}
		if bytes.Contains(data, []byte("SN-DEV")) {
			t.Error("the encrypted image holds the serial in clear")
		}
		checkFactoryItems(t, dir, decode(t, decrypt(t, data, keysFile)), "SN-DEV", 3, "SN-0001")
		checkImage(t, dir, img, keysFile)
	})

	t.Run("mfg per-device images", func(t *testing.T) {
		outdir := filepath.Join(dir, "out")
		out := nvskit(t, dir, 0, "mfg", "generate", "factory/config.csv", "factory/values.csv", "fctry", hex(fctry.Size),
			"--outdir", outdir, "--keygen", "--fileid", "serial")
		t.Logf("nvskit mfg generate: %s", out)
		for i, d := range []struct {
			serial string
			hwRev  int
		}{{"SN-0001", 3}, {"SN-0002", 3}, {"SN-0003", 4}} {
			img := filepath.Join(outdir, "bin", "fctry-"+d.serial+".bin")
			keysFile := filepath.Join(outdir, "keys", "keys-fctry-"+d.serial+".bin")
			data := readFile(t, img)
			if len(data) != fctry.Size {
				t.Errorf("%s: image is %d bytes, fctry %d", img, len(data), fctry.Size)
			}
			if k := readFile(t, keysFile); len(k) != keysPart.Size {
				t.Errorf("%s: %d bytes, nvs_keys %d", keysFile, len(k), keysPart.Size)
			}
			checkFactoryItems(t, dir, decode(t, decrypt(t, data, keysFile)), d.serial, d.hwRev, d.serial)
			if i == 0 {
				// REPEAT columns come from the first row for every device; checked on each.
				t.Logf("%s: %d bytes, keys %s", filepath.Base(img), len(data), filepath.Base(keysFile))
			}
			checkImage(t, dir, img, keysFile)
		}
	})

	checkTable(t, dir, "partitions.csv", "4MB")
}

// checkFactoryItems compares a decoded fctry image with the example's factory files.
func checkFactoryItems(t *testing.T, dir string, items map[string]string, serial string, hwRev int, certOf string) {
	t.Helper()
	want := map[string]string{
		"device/serial":    serial,
		"device/hw_rev":    strconv.Itoa(hwRev),
		"device/mqtt_host": "mqtt.example.com",
		"device/cert":      string(readFile(t, filepath.Join(dir, "factory", "devices", certOf+".crt"))),
		"device/priv_key":  string(readFile(t, filepath.Join(dir, "factory", "devices", certOf+".key"))),
		"device/ca_cert":   string(readFile(t, filepath.Join(dir, "factory", "ca.pem"))),
	}
	for k, v := range want {
		if items[k] != v {
			t.Errorf("%s: %s = %q, want %q", serial, k, items[k], v)
		}
	}
	if len(items) != len(want) {
		t.Errorf("%s: image holds %v, want %d values", serial, keys(items), len(want))
	}
}

// ---------------------------------------------------------------------------
// nvskit, in-process

// nvskit runs the CLI in-process with dir as working directory and wants exit code want.
func nvskit(t *testing.T, dir string, want int, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(args, cli.Env{Dir: dir, Stdout: &stdout, Stderr: &stderr})
	if code != want {
		t.Fatalf("nvskit %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want,
			stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String() + stderr.String())
}

// checkImage runs nvskit check on an image (with its keys); it must be clean.
func checkImage(t *testing.T, dir, img, keysFile string) {
	t.Helper()
	args := []string{"check", img}
	if keysFile != "" {
		args = append(args, "--keys", keysFile)
	}
	t.Logf("nvskit check: %s", nvskit(t, dir, 0, args...))
}

// checkTable validates the example's table with nvskit: partitions convert (gen_esp32part.py's
// rules, and that it fits flashSize) and partitions check.
func checkTable(t *testing.T, dir, table, flashSize string) {
	t.Helper()
	args := []string{"partitions", "convert", table, filepath.Join(dir, "build", "partitions.bin"), "--flash-size", flashSize}
	t.Logf("nvskit partitions convert: %s", nvskit(t, dir, 0, args...))
	t.Logf("nvskit partitions check: %s", nvskit(t, dir, 0, "partitions", "check", table))
}

// ---------------------------------------------------------------------------
// Independent reading of images and tables, so that the examples are checked by code other than
// nvskit's own parser too

// decode returns the strings and integers of a plain image as "namespace/key" -> value
// (integers in decimal), checking every item header's CRC.
func decode(t *testing.T, img []byte) map[string]string {
	t.Helper()
	names := map[byte]string{}
	out := map[string]string{}
	for p := 0; p+nvs.PageSize <= len(img); p += nvs.PageSize {
		page := img[p : p+nvs.PageSize]
		if st := nvs.PageState(binary.LittleEndian.Uint32(page)); st != nvs.PageActive && st != nvs.PageFull {
			continue
		}
		bitmap := page[nvs.HeaderSize : nvs.HeaderSize+nvs.BitmapSize]
		for i := 0; i < nvs.EntriesPerPage; {
			if nvs.BitmapState(bitmap, i) != nvs.EntryWritten {
				i++
				continue
			}
			e := page[nvs.FirstEntryOff+i*nvs.EntrySize:][:nvs.EntrySize]
			crc := nvs.CRC32(append(append([]byte(nil), e[:4]...), e[8:]...))
			if crc != binary.LittleEndian.Uint32(e[4:]) {
				t.Fatalf("page %d entry %d: header CRC mismatch", p/nvs.PageSize, i)
			}
			ns, typ, span := e[0], nvs.Type(e[1]), int(e[2])
			key := string(bytes.TrimRight(e[8:24], "\x00"))
			switch {
			case ns == 0:
				names[e[24]] = key
			case typ == nvs.Type(0x21): // string
				size := int(binary.LittleEndian.Uint16(e[24:]))
				payload := page[nvs.FirstEntryOff+(i+1)*nvs.EntrySize:][:size]
				out[names[ns]+"/"+key] = string(bytes.TrimSuffix(payload, []byte{0}))
			case typ.IsInt():
				w := typ.Width()
				var v uint64
				for j := w - 1; j >= 0; j-- {
					v = v<<8 | uint64(e[24+j])
				}
				out[names[ns]+"/"+key] = strconv.FormatUint(v, 10)
			default:
				out[names[ns]+"/"+key] = fmt.Sprintf("<type 0x%02x>", byte(typ))
			}
			if span < 1 {
				span = 1
			}
			i += span
		}
	}
	return out
}

// decrypt decrypts an image with the keys partition file keysFile.
func decrypt(t *testing.T, img []byte, keysFile string) []byte {
	t.Helper()
	k, err := nvs.ParseKeysPartition(readFile(t, keysFile))
	if err != nil {
		t.Fatalf("%s: %v", keysFile, err)
	}
	plain, err := nvs.Decrypt(img, k)
	if err != nil {
		t.Fatalf("decrypting with %s: %v", keysFile, err)
	}
	return plain
}

// part is one row of an example's partition table (all offsets are explicit there).
type part struct {
	Name, Type, Subtype string
	Offset, Size        int
	Flags               []string
}

func (p part) has(flag string) bool {
	for _, f := range p.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

type table []part

func (tb table) get(t *testing.T, name string) part {
	t.Helper()
	for _, p := range tb {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("partition table has no %q", name)
	return part{}
}

func (tb table) end() int {
	end := 0
	for _, p := range tb {
		end = max(end, p.Offset+p.Size)
	}
	return end
}

// readTable reads an example's partition table: explicit offsets and sizes (hex, or K/M),
// increasing and not overlapping, after the table at 0x8000.
func readTable(t *testing.T, path string) table {
	t.Helper()
	var tb table
	end := 0x9000
	for n, line := range strings.Split(string(readFile(t, path)), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line+",,,,,", ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		p := part{Name: f[0], Type: f[1], Subtype: f[2], Offset: number(t, path, n+1, f[3]), Size: number(t, path, n+1, f[4])}
		for _, fl := range strings.Split(f[5], ":") {
			if fl != "" {
				p.Flags = append(p.Flags, fl)
			}
		}
		if p.Offset < end {
			t.Fatalf("%s:%d: %s at 0x%x overlaps what ends at 0x%x", path, n+1, p.Name, p.Offset, end)
		}
		if p.Type == "app" && p.Offset%0x10000 != 0 {
			t.Fatalf("%s:%d: app partition %s not 64 KiB aligned", path, n+1, p.Name)
		}
		end = p.Offset + p.Size
		tb = append(tb, p)
	}
	return tb
}

func number(t *testing.T, path string, line int, s string) int {
	t.Helper()
	mult := 1
	switch {
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult, s = 1024, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1<<20, s[:len(s)-1]
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		t.Fatalf("%s:%d: %q is not a number (the examples give every offset and size)", path, line, s)
	}
	return int(v) * mult
}

// ---------------------------------------------------------------------------
// files

// copyExample copies examples/<name> into a temporary directory, so that nothing a command
// writes lands in the source tree.
func copyExample(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(name, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(name, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hex(n int) string { return fmt.Sprintf("0x%x", n) }

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
