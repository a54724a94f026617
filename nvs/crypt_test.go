package nvs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func goldenFile(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"..", "testdata", "golden", "nvs-gen"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncryptDecryptGolden(t *testing.T) {
	for _, c := range []string{"decrypt_seed_0x5000", "decrypt_multipage_blob_0x6000"} {
		t.Run(c, func(t *testing.T) {
			keys, err := ParseKeysPartition(goldenFile(t, c, "nvs_keys.bin"))
			if err != nil {
				t.Fatal(err)
			}
			enc, plain := goldenFile(t, c, "enc.bin"), goldenFile(t, c, "expected.bin")
			got, err := Decrypt(enc, keys)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("Decrypt: %v, equal %v", err, bytes.Equal(got, plain))
			}
			again, err := Encrypt(plain, keys)
			if err != nil || !bytes.Equal(again, enc) {
				t.Fatalf("Encrypt: %v, equal %v", err, bytes.Equal(again, enc))
			}
		})
	}
}

func TestDecryptWrongKeys(t *testing.T) {
	keys, _ := ParseKeysPartition(goldenFile(t, "decrypt_seed_0x5000", "nvs_keys.bin"))
	enc := goldenFile(t, "decrypt_seed_0x5000", "enc.bin")
	wrong := keys
	wrong.Tweak[0] ^= 1
	if _, err := Decrypt(enc, wrong); !errors.Is(err, ErrWrongKeys) {
		t.Errorf("wrong tweak key: %v", err)
	}
	plain := goldenFile(t, "decrypt_seed_0x5000", "expected.bin")
	if _, err := Decrypt(plain, keys); !errors.Is(err, ErrWrongKeys) {
		t.Errorf("decrypting a plain image: %v", err)
	}
}

func TestKeysPartition(t *testing.T) {
	raw := goldenFile(t, "decrypt_seed_0x5000", "nvs_keys.bin")
	k, err := ParseKeysPartition(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.MarshalPartition(), raw) {
		t.Error("keys partition does not round-trip")
	}
	bad := append([]byte(nil), raw...)
	bad[3] ^= 0x10
	if _, err := ParseKeysPartition(bad); !errors.Is(err, ErrKeysCRC) {
		t.Errorf("flipped key bit: %v", err)
	}
	if _, err := ParseKeysPartition(bytes.Repeat([]byte{0xFF}, 4096)); !errors.Is(err, ErrKeysEmpty) {
		t.Errorf("blank: %v", err)
	}
	if _, err := ParseKeysPartition(raw[:10]); !errors.Is(err, ErrKeysSize) {
		t.Errorf("short: %v", err)
	}
}

func TestKeysFromHMAC(t *testing.T) {
	hk := goldenFile(t, "generate_key_hmac", "hmac_key.bin")
	k, err := KeysFromHMAC(hk)
	if err != nil {
		t.Fatal(err)
	}
	if want := goldenFile(t, "generate_key_hmac", "expected", "keys", "derived_keys.bin"); !bytes.Equal(k.MarshalPartition(), want) {
		t.Error("derived keys differ from the reference's")
	}
	if _, err := KeysFromHMAC(hk[:31]); !errors.Is(err, ErrHMACKeySize) {
		t.Errorf("31-byte HMAC key: %v", err)
	}
}

// TestEncryptFFPayload: written slots are encrypted even when their plaintext is all 0xFF.
func TestEncryptFFPayload(t *testing.T) {
	img, _ := Build([]Item{Blob("ns", "k", bytes.Repeat([]byte{0xFF}, 64))}, Options{Size: 0x3000})
	keys, _ := KeysFromHMAC(make([]byte, 32))
	enc, _ := Encrypt(img, keys)
	payload := enc[FirstEntryOff+2*EntrySize : FirstEntryOff+4*EntrySize]
	if bytes.Equal(payload, bytes.Repeat([]byte{0xFF}, 64)) {
		t.Error("0xFF payload left unencrypted")
	}
	if !bytes.Equal(enc[5*EntrySize+FirstEntryOff:PageSize], img[5*EntrySize+FirstEntryOff:PageSize]) {
		t.Error("unwritten slots changed")
	}
}

func BenchmarkEncryptSeed(b *testing.B) {
	img := goldenFile(b, "decrypt_seed_0x5000", "expected.bin")
	keys, _ := ParseKeysPartition(goldenFile(b, "decrypt_seed_0x5000", "nvs_keys.bin"))
	c, _ := NewCipher(keys)
	buf := make([]byte, len(img))
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		copy(buf, img)
		c.Encrypt(buf)
	}
}
