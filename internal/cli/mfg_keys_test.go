package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/nvs"
)

func TestMfgKeyOptions(t *testing.T) {
	base := []string{"mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--outdir", "out", "--fileid", "serial"}
	tests := []struct {
		name  string
		args  []string
		code  int
		files []string // expected under out/ (besides bin/ and manifest.csv)
		msg   string
	}{
		{"inputkey", []string{"--inputkey", "k.bin"}, 0, nil, ""},
		{"keygen", []string{"--keygen"}, 0, []string{"keys/keys-n-SN-1.bin", "keys/keys-n-SN-3.bin"}, ""},
		{"hmac keygen", []string{"--keygen", "--key_protect_hmac", "--kp_hmac_keygen"}, 0,
			[]string{"keys/hmac-keys-n-SN-2.bin", "keys/keys-n-SN-2.bin"}, ""},
		{"hmac inputkey without keygen", []string{"--key_protect_hmac", "--kp_hmac_inputkey", "hmac.bin"}, 0, nil, "mfg_gen.py would write them unencrypted"},
		{"inputkey and keygen", []string{"--inputkey", "k.bin", "--keygen"}, 2, nil, "cannot be combined"},
		{"hmac without source", []string{"--key_protect_hmac"}, 2, nil, "--kp_hmac_keygen or --kp_hmac_inputkey"},
		{"hmac keyfile", []string{"--key_protect_hmac", "--kp_hmac_keygen", "--kp_hmac_keyfile", "h.bin"}, 2, nil, "one HMAC key file per device"},
		{"short hmac key", []string{"--key_protect_hmac", "--kp_hmac_inputkey", "k.bin"}, 1, nil, "32 bytes"},
		{"missing inputkey", []string{"--inputkey", "nope.bin"}, 1, nil, "nope.bin"},
		{"dashed hmac flags", []string{"--keygen", "--key-protect-hmac", "--kp-hmac-inputkey", "hmac.bin"}, 0, []string{"keys/keys-n-SN-1.bin"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFleet(t, goodRows...)
			os.WriteFile(filepath.Join(dir, "k.bin"), bytes.Repeat([]byte{7}, 64), 0o600)
			os.WriteFile(filepath.Join(dir, "hmac.bin"), bytes.Repeat([]byte{9}, 32), 0o600)
			code, _, stderr := runIn(t, dir, append(base, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			if tc.msg != "" && !strings.Contains(stderr, tc.msg) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.msg)
			}
			if code != 0 {
				if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
					t.Error("out/ created by a failed run")
				}
				return
			}
			got := listFiles(t, filepath.Join(dir, "out"))
			for _, f := range tc.files {
				if !contains(got, f) {
					t.Errorf("%s missing in %v", f, got)
				}
			}
			if tc.files == nil {
				for _, f := range got {
					if strings.HasPrefix(f, "keys/") {
						t.Errorf("unexpected %s", f)
					}
				}
			}
			// Every image is encrypted: it decrypts to valid entries with its keys.
			img, _ := os.ReadFile(filepath.Join(dir, "out", "bin", "n-SN-2.bin"))
			var keys nvs.Keys
			switch {
			case contains(tc.args, "--inputkey"):
				keys, _ = nvs.KeysFromBytes(bytes.Repeat([]byte{7}, 64))
			case contains(tc.files, "keys/keys-n-SN-2.bin") || contains(tc.args, "--keygen"):
				kp, _ := os.ReadFile(filepath.Join(dir, "out", "keys", "keys-n-SN-2.bin"))
				keys, _ = nvs.ParseKeysPartition(kp)
			default:
				keys, _ = nvs.KeysFromHMAC(bytes.Repeat([]byte{9}, 32))
			}
			if _, err := nvs.Decrypt(img, keys); err != nil {
				t.Errorf("image does not decrypt with its keys: %v", err)
			}
		})
	}
}
