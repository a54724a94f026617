package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
	"github.com/nvskit/nvskit/nvs"
)

func seedCase(t *testing.T, name string) string {
	t.Helper()
	cases, err := golden.Load("nvs-gen")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if c.Name == name {
			dir := t.TempDir()
			if err := c.CopyTo(dir); err != nil {
				t.Fatal(err)
			}
			return dir
		}
	}
	t.Fatalf("no case %s", name)
	return ""
}

// TestKeygenRoundTrip: --keygen output decrypts with the written key file to the plain image.
func TestKeygenRoundTrip(t *testing.T) {
	dir := seedCase(t, "seed_certs_0x6000")
	if code, _, stderr := runIn(t, dir, "encrypt", "input.csv", "enc.bin", "0x6000", "--keygen", "--keyfile", "k"); code != 0 {
		t.Fatal(stderr)
	}
	st, err := os.Stat(filepath.Join(dir, "keys", "k.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("keys file mode %v, want 0600", st.Mode().Perm())
	}
	if code, _, stderr := runIn(t, dir, "decrypt", "enc.bin", "keys/k.bin", "plain.bin"); code != 0 {
		t.Fatal(stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "plain.bin")), mustRead(t, filepath.Join(dir, "expected.bin"))) {
		t.Error("decrypted image differs from the plain one")
	}
	// A second run makes different keys (crypto/rand), so a different image.
	runIn(t, dir, "encrypt", "input.csv", "enc2.bin", "0x6000", "--keygen", "--keyfile", "k2.bin")
	if bytes.Equal(mustRead(t, filepath.Join(dir, "enc.bin")), mustRead(t, filepath.Join(dir, "enc2.bin"))) {
		t.Error("two --keygen runs gave the same image")
	}
}

func TestGenerateKeyDefaults(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := runIn(t, dir, "generate-key", "--outdir", "out")
	if code != 0 {
		t.Fatal(stderr)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "out", "keys", "keys-*.bin"))
	if len(m) != 1 {
		t.Fatalf("keys files: %v", m)
	}
	b := mustRead(t, m[0])
	if _, err := nvs.ParseKeysPartition(b); err != nil || len(b) != 4096 {
		t.Errorf("keys file: %d bytes, %v", len(b), err)
	}
	if strings.Contains(stdout+stderr, string(b[:8])) {
		t.Error("key bytes printed")
	}
	if code, _, _ := runIn(t, dir, "generate-key", "--keyfile", "x.txt"); code == 0 {
		t.Error("a .txt keyfile name was accepted")
	}
}

func TestEncryptImage(t *testing.T) {
	dir := seedCase(t, "encrypt_seed_0x5000")
	runIn(t, dir, "generate", "input.csv", "plain.bin", "0x5000")
	if code, _, stderr := runIn(t, dir, "encrypt", "--image", "plain.bin", "enc.bin", "--inputkey", "nvs_keys.bin"); code != 0 {
		t.Fatal(stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "enc.bin")), mustRead(t, filepath.Join(dir, "expected.bin"))) {
		t.Error("encrypt --image differs from encrypt of the CSV")
	}
}

func TestCryptErrors(t *testing.T) {
	dir := seedCase(t, "decrypt_seed_0x5000")
	keys := mustRead(t, filepath.Join(dir, "nvs_keys.bin"))
	bad := append([]byte(nil), keys...)
	bad[0] ^= 1
	os.WriteFile(filepath.Join(dir, "bad_keys.bin"), bad, 0o600)
	os.WriteFile(filepath.Join(dir, "short_keys.bin"), keys[:64], 0o600)
	os.WriteFile(filepath.Join(dir, "hmac31.bin"), make([]byte, 31), 0o600)
	other, _ := nvs.KeysFromHMAC(make([]byte, 32))
	os.WriteFile(filepath.Join(dir, "other_keys.bin"), other.MarshalPartition(), 0o600)
	os.WriteFile(filepath.Join(dir, "in.csv"), []byte("key,type,encoding,value\nns,namespace,,\nk,data,u8,1\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
		out  string
	}{
		{"wrong keys", []string{"decrypt", "enc.bin", "other_keys.bin", "out.bin"}, "does not decrypt with these keys", "out.bin"},
		{"bad CRC", []string{"decrypt", "enc.bin", "bad_keys.bin", "out.bin"}, "ESP_ERR_NVS_CORRUPT_KEY_PART", "out.bin"},
		{"short keys file", []string{"encrypt", "in.csv", "out.bin", "0x3000", "--inputkey", "short_keys.bin"}, "64 bytes", "out.bin"},
		{"no key", []string{"encrypt", "in.csv", "out.bin", "0x3000"}, "--keygen or --inputkey", "out.bin"},
		{"both keys", []string{"encrypt", "in.csv", "out.bin", "0x3000", "--keygen", "--inputkey", "nvs_keys.bin"}, "either", "out.bin"},
		{"keys file is the output", []string{"encrypt", "in.csv", "nvs_keys.bin", "0x3000", "--inputkey", "nvs_keys.bin"}, "overwrite", ""},
		{"hmac key size", []string{"generate-key", "--key_protect_hmac", "--kp_hmac_inputkey", "hmac31.bin", "--keyfile", "d.bin"}, "32 bytes", "keys/d.bin"},
		{"hmac without source", []string{"generate-key", "--key_protect_hmac"}, "--kp_hmac_keygen", ""},
		{"missing key file", []string{"decrypt", "enc.bin", "nope.bin", "out.bin"}, "nope.bin", "out.bin"},
		{"keys check bad", []string{"keys", "check", "bad_keys.bin"}, "flashed unencrypted", ""},
		{"encrypt an encrypted image", []string{"encrypt", "--image", "enc.bin", "out.bin", "--inputkey", "nvs_keys.bin"}, "looks encrypted already", "out.bin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runIn(t, dir, tc.args...)
			if code == 0 {
				t.Fatalf("succeeded: %s", stdout)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("error %q does not mention %q", stderr, tc.want)
			}
			if tc.out != "" {
				if _, err := os.Stat(filepath.Join(dir, tc.out)); err == nil {
					t.Errorf("%s written", tc.out)
				}
			}
		})
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "nvs_keys.bin")), keys) {
		t.Error("an input keys file was overwritten")
	}
	code, stdout, _ := runIn(t, dir, "keys", "check", "nvs_keys.bin")
	if code != 0 || !strings.Contains(stdout, "OK") {
		t.Errorf("keys check of good keys: %d %q", code, stdout)
	}
}

func TestHMACKeygen(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runIn(t, dir, "generate-key", "--key_protect_hmac", "--kp_hmac_keygen", "--keyfile", "derived.bin")
	if code != 0 {
		t.Fatal(stderr)
	}
	hk := mustRead(t, filepath.Join(dir, "keys", "hmac-derived.bin"))
	k, err := nvs.KeysFromHMAC(hk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.MarshalPartition(), mustRead(t, filepath.Join(dir, "keys", "derived.bin"))) {
		t.Error("derived keys do not match the saved HMAC key")
	}
	for _, f := range []string{"hmac-derived.bin", "derived.bin"} {
		if st, _ := os.Stat(filepath.Join(dir, "keys", f)); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, st.Mode().Perm())
		}
	}
}
