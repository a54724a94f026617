package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/flashcrypt"
)

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + 1)
	}
	return b
}

// TestFlashDataQuirks asserts each decision where nvskit departs from espsecure, by name.
func TestFlashDataQuirks(t *testing.T) {
	key := pattern(32)
	setup := func(t *testing.T, input []byte) string {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "key.bin"), key)
		writeFile(t, filepath.Join(dir, "in.bin"), input)
		return dir
	}
	noOutput := func(t *testing.T, dir string) {
		t.Helper()
		if _, err := os.Stat(filepath.Join(dir, "out.bin")); err == nil {
			t.Fatal("out.bin written")
		}
	}

	t.Run("esp32-pad-ff", func(t *testing.T) {
		in := pattern(40)
		dir := setup(t, in)
		code, stdout, stderr := runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", "out.bin", "in.bin")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		got := mustRead(t, filepath.Join(dir, "out.bin"))
		want, _ := flashcrypt.Encrypt(flashcrypt.SchemeESP32, key, 0x9000, append(in, bytes.Repeat([]byte{0xFF}, 8)...))
		if !bytes.Equal(got, want) {
			t.Fatalf("output is not the encryption of the input padded with 0xFF (%d bytes)", len(got))
		}
		if !strings.Contains(stdout, "padded with 8 bytes of 0xFF") {
			t.Fatalf("no note about the padding: %q", stdout)
		}
		// Decrypting gives the input and the padding back.
		code, _, stderr = runIn(t, dir, "decrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", "back.bin", "out.bin")
		if back := mustRead(t, filepath.Join(dir, "back.bin")); code != 0 || !bytes.Equal(back[:40], in) || !bytes.Equal(back[40:], bytes.Repeat([]byte{0xFF}, 8)) {
			t.Fatalf("round trip: exit %d %s", code, stderr)
		}
	})
	t.Run("xts-partial-block-refused", func(t *testing.T) {
		dir := setup(t, pattern(40))
		code, _, stderr := runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", "out.bin", "--aes-xts", "in.bin")
		if code == 0 || !strings.Contains(stderr, "multiple of 16") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		noOutput(t, dir)
	})
	t.Run("empty-input-refused", func(t *testing.T) {
		for _, extra := range [][]string{nil, {"--aes-xts"}} {
			for _, cmd := range []string{"encrypt-flash-data", "decrypt-flash-data"} {
				dir := setup(t, nil)
				args := append([]string{cmd, "-k", "key.bin", "-a", "0", "-o", "out.bin", "in.bin"}, extra...)
				code, _, stderr := runIn(t, dir, args...)
				if code == 0 || !strings.Contains(stderr, "in.bin is empty") {
					t.Fatalf("%v: exit %d: %s", args, code, stderr)
				}
				noOutput(t, dir)
			}
		}
	})
	t.Run("esp32-16mib-and-above-refused", func(t *testing.T) {
		dir := setup(t, pattern(32))
		code, _, stderr := runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x1000000", "-o", "out.bin", "in.bin")
		if code == 0 || !strings.Contains(stderr, "below 0x1000000") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		noOutput(t, dir)
		// XTS has no such limit.
		code, _, stderr = runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x1000000", "-o", "out.bin", "-x", "in.bin")
		if code != 0 {
			t.Fatalf("xts at 16 MiB: exit %d: %s", code, stderr)
		}
	})
	t.Run("xts-ignores-flash-crypt-conf", func(t *testing.T) {
		dir := setup(t, pattern(64))
		runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", "a.bin", "-x", "in.bin")
		code, _, stderr := runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", "b.bin", "-x", "--flash-crypt-conf", "0", "in.bin")
		if code != 0 || !strings.Contains(stderr, "ignored with --aes-xts") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !bytes.Equal(mustRead(t, filepath.Join(dir, "a.bin")), mustRead(t, filepath.Join(dir, "b.bin"))) {
			t.Fatal("--flash-crypt-conf changed an XTS result")
		}
	})
	t.Run("conf-zero-warns", func(t *testing.T) {
		dir := setup(t, pattern(64))
		code, _, stderr := runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", "out.bin", "--flash_crypt_conf", "0", "in.bin")
		if code != 0 || !strings.Contains(stderr, "not recommended") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	t.Run("no-overwrite-without-force", func(t *testing.T) {
		dir := setup(t, pattern(64))
		writeFile(t, filepath.Join(dir, "out.bin"), []byte("precious"))
		code, _, stderr := runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", "out.bin", "in.bin")
		if code == 0 || !strings.Contains(stderr, "--force") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if got := mustRead(t, filepath.Join(dir, "out.bin")); string(got) != "precious" {
			t.Fatal("existing output replaced without --force")
		}
		code, _, stderr = runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", "out.bin", "--force", "in.bin")
		if code != 0 || len(mustRead(t, filepath.Join(dir, "out.bin"))) != 64 {
			t.Fatalf("--force: exit %d: %s", code, stderr)
		}
	})
	t.Run("never-overwrite-input", func(t *testing.T) {
		in := pattern(64)
		dir := setup(t, in)
		for _, out := range []string{"in.bin", "key.bin", "./in.bin"} {
			code, _, stderr := runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", out, "--force", "in.bin")
			if code == 0 || !strings.Contains(stderr, "overwrite an input") {
				t.Fatalf("-o %s: exit %d: %s", out, code, stderr)
			}
		}
		if !bytes.Equal(mustRead(t, filepath.Join(dir, "in.bin")), in) || !bytes.Equal(mustRead(t, filepath.Join(dir, "key.bin")), key) {
			t.Fatal("an input changed")
		}
	})
	t.Run("bad-key-file-names-the-file", func(t *testing.T) {
		dir := setup(t, pattern(64))
		writeFile(t, filepath.Join(dir, "key.bin"), pattern(100))
		code, _, stderr := runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", "out.bin", "in.bin")
		if code == 0 || !strings.Contains(stderr, "key.bin") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		noOutput(t, dir)
		code, _, stderr = runIn(t, dir, "encrypt-flash-data", "-k", "missing.bin", "-a", "0x9000", "-o", "out.bin", "in.bin")
		if code == 0 || !strings.Contains(stderr, "missing.bin: no such file") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		writeFile(t, filepath.Join(dir, "key.bin"), pattern(64))
		code, _, stderr = runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", "out.bin", "in.bin")
		if code == 0 || !strings.Contains(stderr, "pass --aes-xts") {
			t.Fatalf("64-byte key without --aes-xts: exit %d: %s", code, stderr)
		}
	})
	t.Run("usage-errors", func(t *testing.T) {
		dir := setup(t, pattern(64))
		for _, args := range [][]string{
			{"encrypt-flash-data", "-k", "key.bin", "-a", "zz", "-o", "out.bin", "in.bin"},
			{"encrypt-flash-data", "-k", "key.bin", "-a", "0x100000000", "-o", "out.bin", "in.bin"},
			{"encrypt-flash-data", "-k", "key.bin", "-a", "0", "-o", "out.bin", "--flash-crypt-conf", "16", "in.bin"},
			{"encrypt-flash-data", "-k", "key.bin", "-a", "0", "in.bin"},
			{"decrypt-flash-data", "-k", "key.bin", "-o", "out.bin", "in.bin"},
			{"decrypt-flash-data", "-k", "key.bin", "-a", "0", "-o", "out.bin"},
		} {
			if code, _, stderr := runIn(t, dir, args...); code != 2 {
				t.Errorf("%v: exit %d, want 2: %s", args, code, stderr)
			}
		}
		noOutput(t, dir)
	})
	t.Run("stdin-and-stdout", func(t *testing.T) {
		dir := setup(t, nil)
		writeFile(t, filepath.Join(dir, "key.bin"), pattern(64))
		in := pattern(256)
		var out, errb bytes.Buffer
		code := Run([]string{"encrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", "-", "-x", "-"},
			Env{Dir: dir, Stdin: bytes.NewReader(in), Stdout: &out, Stderr: &errb})
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		want, _ := flashcrypt.Encrypt(flashcrypt.SchemeXTS, pattern(64), 0x9000, in)
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatal("standard output is not the ciphertext alone")
		}
		if !strings.Contains(errb.String(), "Using 512-bit key") {
			t.Fatalf("report not on standard error: %q", errb.String())
		}
	})
	t.Run("json", func(t *testing.T) {
		dir := setup(t, pattern(40))
		code, stdout, stderr := runIn(t, dir, "encrypt-flash-data", "-k", "key.bin", "-a", "0x9000", "-o", "out.bin", "--json", "in.bin")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var r flashDataResult
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatal(err)
		}
		if r.Schema != FlashDataSchema || r.Scheme != "esp32" || r.KeyBits != 256 || r.Bytes != 48 || r.Padded != 8 || r.Address != 0x9000 || r.CryptConf == nil || *r.CryptConf != 0xF {
			t.Fatalf("%+v", r)
		}
	})
}
