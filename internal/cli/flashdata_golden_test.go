package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
)

// TestFlashDataGolden runs every espsecure case of testdata/golden/flashcrypt through nvskit's
// encrypt-flash-data and decrypt-flash-data with the same arguments: outputs byte-identical,
// refused inputs refused with a clear message, a non-zero exit and no output file. Cases that
// use --flash-crypt-conf or --aes-xts run again with the v4 spellings.
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

// v4Spelling returns args with the options espsecure v4 spelled with underscores.
func v4Spelling(args []string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		switch a {
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
