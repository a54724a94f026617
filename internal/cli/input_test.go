package cli

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// putFile writes b to dir/name or fails the test.
func putFile(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNotAnNVSImage: random and zero-filled files are refused by every command that reads an
// image, with a message that says so; set, rm and decrypt leave the file alone and write
// nothing unless --force; an erased (all 0xFF) partition is a valid empty image.
func TestNotAnNVSImage(t *testing.T) {
	dir := seedCase(t, "decrypt_seed_0x5000")
	random := make([]byte, 3*4096)
	rand.New(rand.NewSource(7)).Read(random)
	putFile(t, dir, "random.bin", random)
	putFile(t, dir, "zero.bin", make([]byte, 3*4096))
	putFile(t, dir, "erased.bin", bytes.Repeat([]byte{0xFF}, 3*4096))
	for _, img := range []string{"random.bin", "zero.bin"} {
		for _, args := range [][]string{
			{"inspect", img},
			{"inspect", "--json", img},
			{"check", img},
			{"get", img, "a", "b"},
			{"export", img, "exported"},
			{"set", img, "a", "b", "--type", "u8", "--value", "1"},
			{"rm", img, "a", "b"},
			{"set", img, "a", "b", "--type", "u8", "--value", "1", "-o", "out.bin"},
			{"decrypt", img, "nvs_keys.bin", "out.bin"},
			{"encrypt", "--image", img, "out.bin", "--inputkey", "nvs_keys.bin"},
		} {
			before := mustRead(t, filepath.Join(dir, img))
			code, stdout, stderr := runIn(t, dir, args...)
			if code == 0 || !strings.Contains(stderr, "is not an NVS partition image") || strings.Contains(stdout, "No keys") {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
			}
			if !bytes.Equal(mustRead(t, filepath.Join(dir, img)), before) {
				t.Errorf("%v changed %s", args, img)
			}
			if _, err := os.Stat(filepath.Join(dir, "out.bin")); err == nil {
				t.Errorf("%v wrote out.bin", args)
			}
		}
	}
	if code, _, stderr := runIn(t, dir, "set", "zero.bin", "a", "b", "--type", "u8", "--value", "1"); !strings.Contains(stderr, "--force") || code == 0 {
		t.Errorf("set on zeros does not name --force: %q", stderr)
	}
	if code, _, stderr := runIn(t, dir, "set", "--force", "random.bin", "a", "b", "--type", "u8", "--value", "1", "-o", "forced.bin"); code != 0 {
		t.Errorf("set --force on random bytes: exit %d %q", code, stderr)
	}
	if code, stdout, stderr := runIn(t, dir, "inspect", "erased.bin"); code != 0 || !strings.Contains(stdout, "No keys") {
		t.Errorf("inspect of an erased partition: exit %d %q %q", code, stdout, stderr)
	}
	if code, _, stderr := runIn(t, dir, "set", "erased.bin", "a", "b", "--type", "u8", "--value", "1"); code != 0 {
		t.Errorf("set on an erased partition: exit %d %q", code, stderr)
	}
}

// TestDecryptPlainImage: decrypting a plain image says it is not encrypted, not that the keys
// are wrong, and writes nothing; so does inspect --keys.
func TestDecryptPlainImage(t *testing.T) {
	dir := seedCase(t, "decrypt_seed_0x5000")
	code, _, stderr := runIn(t, dir, "decrypt", "expected.bin", "nvs_keys.bin", "out.bin")
	if code == 0 || !strings.Contains(stderr, "expected.bin is not encrypted") || strings.Contains(stderr, "wrong keys") {
		t.Errorf("decrypt of a plain image: exit %d %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.bin")); err == nil {
		t.Error("out.bin was written")
	}
	code, _, stderr = runIn(t, dir, "inspect", "--keys", "nvs_keys.bin", "expected.bin")
	if code == 0 || !strings.Contains(stderr, "is not encrypted") || strings.Contains(stderr, "wrong keys") {
		t.Errorf("inspect --keys of a plain image: exit %d %q", code, stderr)
	}
	if code, _, stderr := runIn(t, dir, "decrypt", "enc.bin", "nvs_keys.bin", "out.bin"); code != 0 {
		t.Errorf("decrypt of the encrypted image: %q", stderr)
	}
}

// TestGenerateDuplicateKeyWarns: a key defined twice in one namespace is written as the
// reference writes it (the image is byte-identical) with a warning naming both lines, at
// generate and at encrypt.
func TestGenerateDuplicateKeyWarns(t *testing.T) {
	dir := seedCase(t, "duplicate_keys")
	code, _, stderr := runIn(t, dir, "generate", "input.csv", "out.bin", "0x3000")
	if code != 0 {
		t.Fatal(stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "out.bin")), mustRead(t, filepath.Join(dir, "expected.bin"))) {
		t.Error("the image differs from the reference's")
	}
	for _, w := range []string{"warning: input.csv:4:", "first at input.csv:3", "warning: input.csv:5:", "there as u8, here as string"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q does not say %q", stderr, w)
		}
	}
	code, _, stderr = runIn(t, dir, "encrypt", "input.csv", "enc.bin", "0x3000", "--keygen", "--keyfile", "k.bin")
	if code != 0 || !strings.Contains(stderr, "warning: input.csv:4:") {
		t.Errorf("encrypt: exit %d %q", code, stderr)
	}
}

// TestMfgDuplicateKeyWarns: the same warning for a key defined twice in the mfg config.
func TestMfgDuplicateKeyWarns(t *testing.T) {
	dir := writeFleet(t, goodRows...)
	putFile(t, dir, "config.csv", []byte(fleetConfig+"hw_rev,data,u8\n"))
	putFile(t, dir, "values.csv", []byte("id,serial,hw_rev,batch,cal,cert,hw_rev\n1,SN-1,3,42,-9,certs/a.pem,4\n"))
	code, _, stderr := runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--outdir", "out")
	if code != 0 {
		t.Fatal(stderr)
	}
	if !strings.Contains(stderr, "warning: config.csv:7:") || !strings.Contains(stderr, "first at config.csv:3") {
		t.Errorf("no duplicate warning: %q", stderr)
	}
}

// TestSetTypeChangeWarns: set that gives an existing key another type warns that the device
// keeps both entries; the same type does not.
func TestSetTypeChangeWarns(t *testing.T) {
	dir := seedCase(t, "seed_certs_0x6000")
	if code, _, stderr := runIn(t, dir, "generate", "input.csv", "o.bin", "0x6000"); code != 0 {
		t.Fatal(stderr)
	}
	code, _, stderr := runIn(t, dir, "set", "o.bin", "app", "n", "--type", "u8", "--value", "1")
	if code != 0 || strings.Contains(stderr, "warning") {
		t.Fatalf("first set: exit %d %q", code, stderr)
	}
	code, _, stderr = runIn(t, dir, "set", "o.bin", "app", "n", "--type", "string", "--value", "x")
	if code != 0 || !strings.Contains(stderr, "warning: app/n is a u8 and is set here as a string") || !strings.Contains(stderr, "keeps both") {
		t.Errorf("type change: exit %d %q", code, stderr)
	}
}

// TestGenerateInputMistakes: a ';'-separated CSV, a value after ", ", NUL bytes, a 0x prefix
// on hex2bin and secrets in the wrong column, through the command line.
func TestGenerateInputMistakes(t *testing.T) {
	dir := t.TempDir()
	pem := "\"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\""
	for _, tc := range []struct {
		name, csv string
		code      int
		want      []string
		not       []string
	}{
		{"semicolons", "key;type;encoding;value\nns;namespace;;\nssid;data;string;MyNet\n", 1,
			[]string{"in.csv:1:", "separated by ';'"}, []string{"has no key"}},
		{"space after comma", "key,type,encoding,value\nns,namespace,,\nssid, data, string, MyNet\n", 0,
			[]string{"warning: in.csv:3:", "space after each comma"}, nil},
		{"NUL in a string", "key,type,encoding,value\nns,namespace,,\nssid,data,string,a\x00b\n", 1,
			[]string{"in.csv:3:", "NUL"}, nil},
		{"NUL in a key", "key,type,encoding,value\nns,namespace,,\nss\x00id,data,string,ab\n", 1,
			[]string{"in.csv:3:", "NUL"}, nil},
		{"hex2bin 0x", "key,type,encoding,value\nns,namespace,,\nh,data,hex2bin,0x0102\n", 1,
			[]string{"in.csv:3:", "drop the 0x prefix"}, nil},
		{"PEM in a u32 row", "key,type,encoding,value\nns,namespace,,\nn,data,u32," + pem + "\n", 1,
			[]string{"in.csv:3:", "not shown"}, []string{"MIGH"}},
		{"huge key", "key,type,encoding,value\nns,namespace,,\n" + strings.Repeat("k", 10<<20) + ",data,u8,1\n", 1,
			[]string{"in.csv:3:", "at most 15"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			putFile(t, dir, "in.csv", []byte(tc.csv))
			os.Remove(filepath.Join(dir, "out.bin"))
			for _, args := range [][]string{
				{"generate", "in.csv", "out.bin", "0x3000"},
				{"encrypt", "in.csv", "out.bin", "0x3000", "--keygen", "--keyfile", tc.name + ".bin"},
			} {
				code, _, stderr := runIn(t, dir, args...)
				if code != tc.code {
					t.Errorf("%s: exit %d, want %d: %.300q", args[0], code, tc.code, stderr)
				}
				if len(stderr) > 1000 {
					t.Errorf("%s: stderr is %d bytes", args[0], len(stderr))
				}
				for _, w := range tc.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("%s: %.300q does not say %q", args[0], stderr, w)
					}
				}
				for _, w := range tc.not {
					if strings.Contains(stderr, w) {
						t.Errorf("%s: %.300q says %q", args[0], stderr, w)
					}
				}
				if _, err := os.Stat(filepath.Join(dir, "out.bin")); (err == nil) != (tc.code == 0) {
					t.Errorf("%s: out.bin exists: %v", args[0], err == nil)
				}
				os.Remove(filepath.Join(dir, "out.bin"))
			}
		})
	}
}

// TestMfgSecretValueNotEchoed: a private key in a u32 column of VALUES.csv is neither printed
// nor written into the manifest's error column.
func TestMfgSecretValueNotEchoed(t *testing.T) {
	dir := writeFleet(t, goodRows[0], "2,SN-2,\"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\",,1,certs/b.pem")
	code, _, stderr := runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "n", "0x3000",
		"--outdir", "out", "--fileid", "serial", "--keep-going")
	if code != 1 || !strings.Contains(stderr, "not shown") || strings.Contains(stderr, "MIGH") {
		t.Errorf("exit %d %q", code, stderr)
	}
	if m := string(mustRead(t, filepath.Join(dir, "out", "manifest.csv"))); strings.Contains(m, "MIGH") || !strings.Contains(m, "not shown") {
		t.Errorf("manifest %q", m)
	}
}

// TestInspectViewAllHidesSecrets: inspect --view all and its --json show no bytes of a private
// key without --show-secrets, whether the key's name looks secret or only its content does.
func TestInspectViewAllHidesSecrets(t *testing.T) {
	dir := seedCase(t, "seed_certs_0x6000")
	key := mustRead(t, filepath.Join(dir, "files", "device_key.pem"))
	putFile(t, dir, "in.csv", []byte("key,type,encoding,value\nns,namespace,,\ndevice_key,file,string,files/device_key.pem\nplainname,file,binary,files/device_key.pem\nn,data,u8,7\n"))
	if code, _, stderr := runIn(t, dir, "generate", "in.csv", "o.bin", "0x6000"); code != 0 {
		t.Fatal(stderr)
	}
	leaks := func(out string) int {
		n := 0
		for i := 0; i+8 <= len(key); i++ {
			w := key[i : i+8]
			if strings.Contains(out, strings.ReplaceAll(strings.TrimSpace(hexSpaced(w)), " ", "")) || strings.Contains(out, hexSpaced(w)) {
				n++
			}
		}
		return n
	}
	for _, args := range [][]string{
		{"inspect", "--view", "all", "o.bin"},
		{"inspect", "--view", "all", "--json", "o.bin"},
	} {
		code, out, stderr := runIn(t, dir, args...)
		if code != 0 {
			t.Fatal(stderr)
		}
		if n := leaks(out); n > 0 {
			t.Errorf("%v shows %d 8-byte pieces of the private key", args, n)
		}
		if !strings.Contains(out, "hidden") && !strings.Contains(out, `"redacted": true`) {
			t.Errorf("%v does not say what it hid", args)
		}
		code, out, _ = runIn(t, dir, append(args, "--show-secrets")...)
		if code != 0 || leaks(out) == 0 {
			t.Errorf("%v --show-secrets shows nothing of the key", args)
		}
	}
}

// hexSpaced formats b as "% x" does.
func hexSpaced(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString("0123456789abcdef"[c>>4 : c>>4+1])
		sb.WriteString("0123456789abcdef"[c&15 : c&15+1])
	}
	return sb.String()
}

// TestSizeBounds: SIZE above 128 MiB (the largest ESP flash) is refused before anything is
// written; above 1 MiB it is accepted with a warning.
func TestSizeBounds(t *testing.T) {
	dir := seedCase(t, "seed_certs_0x6000")
	for _, size := range []string{"0x100000000", "0x8001000", "99999999999999999999999"} {
		for _, args := range [][]string{
			{"generate", "input.csv", "big.bin", size},
			{"encrypt", "input.csv", "big.bin", size, "--keygen", "--keyfile", "k.bin"},
		} {
			code, _, stderr := runIn(t, dir, args...)
			if code != 2 || !strings.Contains(stderr, "128 MiB") {
				t.Errorf("%v: exit %d %q", args, code, stderr)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "big.bin")); err == nil {
			t.Fatalf("SIZE %s wrote big.bin", size)
		}
	}
	code, _, stderr := runIn(t, dir, "generate", "input.csv", "two.bin", "0x200000")
	if code != 0 || !strings.Contains(stderr, "warning: SIZE 0x200000 is 2.0 MiB") {
		t.Errorf("2 MiB: exit %d %q", code, stderr)
	}
	code, _, stderr = runIn(t, dir, "generate", "input.csv", "small.bin", "0x100000")
	if code != 0 || strings.Contains(stderr, "warning") {
		t.Errorf("1 MiB: exit %d %q", code, stderr)
	}
	dir = writeFleet(t, goodRows...)
	if code, _, stderr := runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "n", "0x10000000", "--outdir", "out"); code != 2 || !strings.Contains(stderr, "128 MiB") {
		t.Errorf("mfg: exit %d %q", code, stderr)
	}
}

// TestSummarySaysFreeSpaceAndLargestValue: the summary gives the free space and, separately,
// the largest single value; it does not call the largest blob the room left.
func TestSummarySaysFreeSpaceAndLargestValue(t *testing.T) {
	dir := seedCase(t, "seed_certs_0x6000")
	code, stdout, stderr := runIn(t, dir, "generate", "input.csv", "o.bin", "0x6000")
	if code != 0 {
		t.Fatal(stderr)
	}
	for _, w := range []string{"462 free (14 KiB of free space)", "the largest new value that fits: a blob of 14624 bytes or a string of 3999 characters"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("summary %q does not say %q", stdout, w)
		}
	}
	if strings.Contains(stdout, "room for") {
		t.Errorf("summary %q still calls the largest blob the room left", stdout)
	}
}

// TestPartitionsCheckAdvice: the main nvs partition of a project (written at run time too) is
// never told to shrink to what the CSV holds; nvs-keys-not-encrypted says when it matters.
func TestPartitionsCheckAdvice(t *testing.T) {
	dir := t.TempDir()
	putFile(t, dir, "nvs.csv", []byte("key,type,encoding,value\nns,namespace,,\nk1,data,u8,1\n"))
	putFile(t, dir, "matter.csv", []byte("nvs,data,nvs,0x9000,0x10000,\nnvs_keys,data,nvs_keys,,0x1000,\nfactory,app,factory,0x20000,1M,\n"))
	code, out, stderr := runIn(t, dir, "partitions", "check", "matter.csv", "--nvs-csv", "nvs.csv")
	flat := strings.Join(strings.Fields(out), " ")
	if code != 0 || strings.Contains(flat, "would do") || strings.Contains(flat, "0x4000") || !strings.Contains(flat, "[nvs-data-size]") {
		t.Errorf("exit %d: %s%s", code, out, stderr)
	}
	if !strings.Contains(flat, "matters once flash encryption is enabled") || !strings.Contains(flat, "[nvs-keys-not-encrypted]") {
		t.Errorf("nvs-keys-not-encrypted does not say when it matters: %s", out)
	}
}

// TestSizeAdviceFollowsTheSource: too much data for the partition is advised on where the size
// came from: SIZE, the partition table, or (provision) the table's partition; and with both the
// read-only and the read/write minimum when a read-only partition would hold the data.
func TestSizeAdviceFollowsTheSource(t *testing.T) {
	dir := t.TempDir()
	var big strings.Builder
	big.WriteString("key,type,encoding,value\nns,namespace,,\n")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&big, "k%d,data,string,%s\n", i, strings.Repeat("v", 60))
	}
	putFile(t, dir, "input.csv", []byte(big.String()))
	putFile(t, dir, "pt.csv", []byte("nvs,data,nvs,0x9000,0x3000,\n"))
	code, _, stderr := runIn(t, dir, "generate", "input.csv", "o.bin", "--partition-table", "pt.csv", "--partition", "nvs")
	if code == 0 || !strings.Contains(stderr, `enlarge partition "nvs" in pt.csv to 0x`) || strings.Contains(stderr, "pass SIZE") {
		t.Errorf("--partition-table: exit %d %q", code, stderr)
	}
	code, _, stderr = runIn(t, dir, "encrypt", "input.csv", "o.bin", "--partition-table", "pt.csv", "--partition", "nvs", "--keygen", "--keyfile", "k.bin")
	if code == 0 || !strings.Contains(stderr, `enlarge partition "nvs" in pt.csv`) || strings.Contains(stderr, "pass SIZE") {
		t.Errorf("encrypt --partition-table: exit %d %q", code, stderr)
	}
	code, _, stderr = runIn(t, dir, "provision", "input.csv", "--partition-table", "pt.csv", "--partition", "nvs", "--port", "socket://127.0.0.1:1")
	if code == 0 || !strings.Contains(stderr, `enlarge partition "nvs" in the partition table`) || strings.Contains(stderr, "pass SIZE") {
		t.Errorf("provision: exit %d %q", code, stderr)
	}
	code, _, stderr = runIn(t, dir, "generate", "input.csv", "o.bin", "0x3000")
	if code == 0 || !strings.Contains(stderr, "pass SIZE 0x") {
		t.Errorf("SIZE: exit %d %q", code, stderr)
	}
	var csv strings.Builder
	csv.WriteString("key,type,encoding,value\nns,namespace,,\n")
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&csv, "k%d,data,u8,1\n", i)
	}
	putFile(t, dir, "two.csv", []byte(csv.String()))
	code, _, stderr = runIn(t, dir, "generate", "two.csv", "o.bin", "0x1000")
	if code == 0 || !strings.Contains(stderr, "0x2000 read-only, 0x3000 read/write") || !strings.Contains(stderr, "pass SIZE 0x3000 or larger (or 0x2000 for a read-only partition)") {
		t.Errorf("read-only minimum: exit %d %q", code, stderr)
	}
}

// TestArgumentCountWording walks the whole command tree: every argument-count error has the
// one wording "COMMAND: N arguments given; usage: nvskit COMMAND ...", exits 2, and every
// command gives it for some wrong count. Flags each command requires are given, so that only
// the count is wrong.
func TestArgumentCountWording(t *testing.T) {
	t.Setenv("NVSKIT_PORT", "")
	dir := t.TempDir()
	flags := map[string][]string{
		"encrypt":     {"--keygen"},
		"provision":   {"--partition", "nvs", "--port", "socket://127.0.0.1:1"},
		"device info": {"--port", "socket://127.0.0.1:1"},
		"erase":       {"--port", "socket://127.0.0.1:1", "--partition", "nvs"},
		"read":        {"--port", "socket://127.0.0.1:1", "--partition", "nvs", "-o", "o.bin"},
		"flash":       {"--port", "socket://127.0.0.1:1", "--partition", "nvs"},
		"simulate":    {"--chip", "esp32", "--listen", "127.0.0.1:0"},
		"set":         {"--type", "u8", "--value", "1"},
	}
	wording := regexp.MustCompile(`^nvskit: ([a-z-]+( [a-z-]+)?): \d+ arguments? given; usage: nvskit ([a-z][a-z-]*( [a-z][a-z-]*)?) `)
	old := regexp.MustCompile(`arg\(s\)|accepts \d|received \d|needs [A-Z]|takes INPUT|give INPUT|need INPUT|unknown command "a"`)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.Name() == "help" || c.Name() == "completion" || c.HasSubCommands() {
			return
		}
		path := strings.TrimPrefix(c.CommandPath(), "nvskit ")
		seen := false
		for _, n := range []int{0, 1, 12} {
			args := append(strings.Fields(path), flags[path]...)
			for i := 0; i < n; i++ {
				args = append(args, "a")
			}
			if (path == "generate-key" || path == "ports" || path == "simulate") && n == 0 {
				continue // valid: would run
			}
			code, _, stderr := runIn(t, dir, args...)
			msg := strings.TrimSpace(stderr)
			if old.MatchString(msg) {
				t.Errorf("%s with %d arguments: old wording %q", path, n, msg)
			}
			if m := wording.FindStringSubmatch(msg); m != nil {
				seen = true
				if code != 2 || m[1] != path || m[3] != path {
					t.Errorf("%s with %d arguments: exit %d %q", path, n, code, msg)
				}
			}
		}
		if !seen {
			t.Errorf("%s: no argument count gives the argument-count error", path)
		}
	}
	walk(NewRoot(&Env{}))
}

// TestInspectNamesBothMinimumSizes: inspect gives the free space apart from the largest value,
// and the read-only minimum size beside the read/write one.
func TestInspectNamesBothMinimumSizes(t *testing.T) {
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("key,type,encoding,value\nns,namespace,,\n")
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&csv, "k%d,data,u8,1\n", i)
	}
	putFile(t, dir, "two.csv", []byte(csv.String()))
	if code, _, stderr := runIn(t, dir, "generate", "two.csv", "o.bin", "0x5000"); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr := runIn(t, dir, "inspect", "o.bin")
	if code != 0 {
		t.Fatal(stderr)
	}
	for _, w := range []string{"would fit a partition of 0x3000 (read-only: 0x2000)", "Free space: "} {
		if !strings.Contains(out, w) {
			t.Errorf("inspect does not say %q:\n%s", w, out)
		}
	}
}

// TestNULRefusedEverywhere: set refuses a string holding a NUL, and mfg refuses a device whose
// string value holds one.
func TestNULRefusedEverywhere(t *testing.T) {
	dir := t.TempDir()
	putFile(t, dir, "erased.bin", bytes.Repeat([]byte{0xFF}, 3*4096))
	putFile(t, dir, "nul.txt", []byte("a\x00b"))
	before := mustRead(t, filepath.Join(dir, "erased.bin"))
	if code, _, stderr := runIn(t, dir, "set", "erased.bin", "ns", "k", "--type", "string", "--file", "nul.txt"); code == 0 || !strings.Contains(stderr, "NUL") {
		t.Errorf("set: exit %d %q", code, stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "erased.bin")), before) {
		t.Error("set changed the image")
	}
	mdir := writeFleet(t, goodRows[0], "2,\"SN\x002\",3,,1,certs/b.pem")
	code, _, stderr := runIn(t, mdir, "mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--outdir", "out")
	if code == 0 || !strings.Contains(stderr, "values.csv:3:") || !strings.Contains(stderr, "NUL") {
		t.Errorf("mfg: exit %d %q", code, stderr)
	}
}
