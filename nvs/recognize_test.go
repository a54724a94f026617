package nvs

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"
)

func TestRecognize(t *testing.T) {
	plain := goldenFile(t, "decrypt_seed_0x5000", "expected.bin")
	enc := goldenFile(t, "decrypt_seed_0x5000", "enc.bin")
	random := make([]byte, 3*PageSize)
	rand.New(rand.NewSource(1)).Read(random)
	oneBadHeader := append([]byte(nil), plain...)
	oneBadHeader[5] ^= 0xFF // page 0's sequence number: its header CRC fails, page 1 is fine
	csv := bytes.Repeat([]byte("key,type,encoding,value\n"), 512)[:2*PageSize]
	for _, tc := range []struct {
		name string
		img  []byte
		want error
	}{
		{"plain", plain, nil},
		{"encrypted", enc, nil},
		{"erased", bytes.Repeat([]byte{0xFF}, 3*PageSize), nil},
		{"erased read-only", bytes.Repeat([]byte{0xFF}, PageSize), nil},
		{"one damaged header", oneBadHeader, nil},
		{"random", random, ErrNotNVS},
		{"zeros", make([]byte, 3*PageSize), ErrNotNVS},
		{"csv text", csv, ErrNotNVS},
		{"empty", nil, ErrEmptyImage},
		{"truncated", plain[:PageSize+10], ErrImageSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Recognize(tc.img)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Recognize: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecryptPlainImageIsNotEncrypted(t *testing.T) {
	keys, _ := ParseKeysPartition(goldenFile(t, "decrypt_seed_0x5000", "nvs_keys.bin"))
	plain := goldenFile(t, "decrypt_seed_0x5000", "expected.bin")
	_, err := Decrypt(plain, keys)
	if !errors.Is(err, ErrNotEncrypted) || !errors.Is(err, ErrWrongKeys) {
		t.Errorf("Decrypt of a plain image: %v, want ErrNotEncrypted (and ErrWrongKeys)", err)
	}
	if _, err := ParseWithKeys(plain, keys); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("ParseWithKeys of a plain image: %v", err)
	}
	wrong := keys
	wrong.Tweak[0] ^= 1
	enc := goldenFile(t, "decrypt_seed_0x5000", "enc.bin")
	if _, err := Decrypt(enc, wrong); !errors.Is(err, ErrWrongKeys) || errors.Is(err, ErrNotEncrypted) {
		t.Errorf("wrong keys: %v, want ErrWrongKeys only", err)
	}
}
