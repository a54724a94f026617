package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/flashcrypt"
	"github.com/nvskit/nvskit/internal/golden"
)

// TestFlashDataGolden runs every espsecure case of testdata/golden/flashcrypt through nvskit's
// encrypt-flash-data and decrypt-flash-data with the same arguments: outputs byte-identical,
// refused inputs refused with a clear message, a non-zero exit and no output file. Every case
// runs again with espsecure v4's spellings (encrypt_flash_data, --flash_crypt_conf, --aes_xts).
func TestFlashDataGolden(t *testing.T) {
	cases, err := golden.Load("flashcrypt")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 27 {
		t.Fatalf("only %d cases", len(cases))
	}
	// What each refused case's message must say (espsecure's reason, in nvskit's words).
	wantMsg := map[string]string{
		"err_esp32_addr_not_16":        "0x1008 must be a multiple of 16",
		"err_xts_len_not_16":           "(100) must be a multiple of 16",
		"err_key_20_bytes":             "20 bytes; 16, 24, 32 or 64 expected",
		"err_esp32_key_64":             "ESP32 supports only 192 and 256-bit keys",
		"err_xts_key_24":               "only 128, 256 and 512-bit keys",
		"err_xts_empty":                "empty",
		"err_decrypt_esp32_len_not_16": "(40) must be a multiple of 16",
	}
	ran := 0
	for _, c := range cases {
		variants := [][]string{c.Args}
		if v4 := v4Spelling(c.Args); !equalArgs(v4, c.Args) {
			variants = append(variants, v4)
		}
		for vi, args := range variants {
			name := c.Name
			if vi > 0 {
				name += "/v4-spelling"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				if err := c.CopyTo(dir); err != nil {
					t.Fatal(err)
				}
				code, stdout, stderr := runIn(t, dir, args...)
				if c.Expect.Error {
					if code == 0 {
						t.Fatalf("exit 0 for a refused input; stdout %q", stdout)
					}
					want, ok := wantMsg[c.Name]
					if !ok {
						t.Fatalf("no expected message listed for %s", c.Name)
					}
					if !strings.Contains(stderr, want) {
						t.Fatalf("stderr %q does not say %q", stderr, want)
					}
					if _, err := os.Stat(filepath.Join(dir, "out.bin")); err == nil {
						t.Fatal("out.bin written for a refused input")
					}
					return
				}
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				for out, exp := range c.Expect.Files {
					got := mustRead(t, filepath.Join(dir, out))
					want := mustRead(t, filepath.Join(c.Dir, exp))
					if !bytes.Equal(got, want) {
						t.Fatalf("%s differs from espsecure's %s", out, exp)
					}
					st, err := os.Stat(filepath.Join(dir, out))
					if err != nil {
						t.Fatal(err)
					}
					if st.Mode().Perm()&0o077 != 0 {
						t.Errorf("%s has mode %v, want no group/other access", out, st.Mode().Perm())
					}
				}
				ran++
			})
		}
	}
	if ran < 20 {
		t.Fatalf("only %d successful cases ran", ran)
	}
}

// v4Spelling returns args with the command and options espsecure v4 spelled with underscores.
func v4Spelling(args []string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		switch a {
		case "encrypt-flash-data", "decrypt-flash-data":
			out[i] = strings.ReplaceAll(a, "-", "_")
		case "--flash-crypt-conf":
			out[i] = "--flash_crypt_conf"
		case "--aes-xts":
			out[i] = "--aes_xts"
		}
	}
	return out
}

func equalArgs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

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

// TestFlashDataQuirks asserts, by name, each decision where nvskit departs from espsecure on
// inputs the golden cases do not cover (docs/security.md lists them).
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
