package cli

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes b to dir/name or fails the test.
func writeFile(t *testing.T, dir, name string, b []byte) {
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
	writeFile(t, dir, "random.bin", random)
	writeFile(t, dir, "zero.bin", make([]byte, 3*4096))
	writeFile(t, dir, "erased.bin", bytes.Repeat([]byte{0xFF}, 3*4096))
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
