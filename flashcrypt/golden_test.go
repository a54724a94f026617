package flashcrypt

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
)

// goldenArgs is what a case's espsecure arguments ask of the library.
type goldenArgs struct {
	decrypt bool
	key     string
	addr    uint32
	conf    uint8
	xts     bool
	input   string
}

func parseGoldenArgs(t *testing.T, args []string) goldenArgs {
	t.Helper()
	g := goldenArgs{conf: DefaultCryptConf}
	switch args[0] {
	case "encrypt-flash-data":
	case "decrypt-flash-data":
		g.decrypt = true
	default:
		t.Fatalf("unknown espsecure command %q", args[0])
	}
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "--keyfile":
			i++
			g.key = args[i]
		case "--address":
			i++
			v, err := strconv.ParseUint(args[i], 0, 32)
			if err != nil {
				t.Fatal(err)
			}
			g.addr = uint32(v)
		case "--flash-crypt-conf":
			i++
			v, err := strconv.ParseUint(args[i], 0, 8)
			if err != nil {
				t.Fatal(err)
			}
			g.conf = uint8(v)
		case "--aes-xts":
			g.xts = true
		case "--output":
			i++
		default:
			g.input = args[i]
		}
	}
	return g
}

// TestGolden runs every espsecure case through the library: outputs byte for byte, and each
// refused case refused with the sentinel its message stands for.
func TestGolden(t *testing.T) {
	cases, err := golden.Load("flashcrypt")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 27 {
		t.Fatalf("only %d cases", len(cases))
	}
	wantErr := map[string]error{
		"err_esp32_addr_not_16":        ErrAlignment,
		"err_xts_len_not_16":           ErrLength,
		"err_key_20_bytes":             ErrKeyLength,
		"err_esp32_key_64":             ErrKeyLength,
		"err_xts_key_24":               ErrKeyLength,
		"err_xts_empty":                ErrLength,
		"err_decrypt_esp32_len_not_16": ErrLength,
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			g := parseGoldenArgs(t, c.Args)
			key, err := os.ReadFile(filepath.Join(c.Dir, g.key))
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(filepath.Join(c.Dir, g.input))
			if err != nil {
				t.Fatal(err)
			}
			s := SchemeESP32
			if g.xts {
				s = SchemeXTS
			}
			var out []byte
			ciph, err := New(s, key, g.conf)
			if err == nil {
				out = make([]byte, len(in))
				if g.decrypt {
					err = ciph.Decrypt(out, in, g.addr)
				} else {
					err = ciph.Encrypt(out, in, g.addr)
				}
			}
			if c.Expect.Error {
				want, ok := wantErr[c.Name]
				if !ok {
					t.Fatalf("no expected sentinel listed for error case %s", c.Name)
				}
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Expect.Files) != 1 {
				t.Fatalf("expect.files = %v", c.Expect.Files)
			}
			for _, exp := range c.Expect.Files {
				want, err := os.ReadFile(filepath.Join(c.Dir, exp))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, want) {
					t.Fatalf("output differs from espsecure's (first difference at byte %d)", firstDiff(out, want))
				}
				// And back: every case round-trips.
				back := make([]byte, len(out))
				if g.decrypt {
					err = ciph.Encrypt(back, out, g.addr)
				} else {
					err = ciph.Decrypt(back, out, g.addr)
				}
				if err != nil || !bytes.Equal(back, in) {
					t.Fatalf("round trip failed: %v", err)
				}
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
