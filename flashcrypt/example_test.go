package flashcrypt_test

import (
	"bytes"
	"fmt"

	"github.com/nvskit/nvskit/flashcrypt"
)

// Encrypt a 4 KiB nvs_keys partition image for an ESP32-C3 whose flash-encryption key is known,
// for the partition's offset 0xF000, and check that it decrypts back.
func Example() {
	key := bytes.Repeat([]byte{0x5A}, 32) // the key file given to espefuse burn-key
	keys := bytes.Repeat([]byte{0xFF}, 4096)

	s := flashcrypt.SchemeForChip("ESP32-C3")
	c, err := flashcrypt.New(s, key, flashcrypt.DefaultCryptConf)
	if err != nil {
		panic(err)
	}
	enc := make([]byte, len(keys))
	if err := c.Encrypt(enc, keys, 0xF000); err != nil {
		panic(err)
	}
	dec, _ := flashcrypt.Decrypt(s, key, 0xF000, enc)
	fmt.Println(s, c.KeyBits(), bytes.Equal(dec, keys), bytes.Equal(enc, keys))

	// The address matters: the same bytes encrypt differently elsewhere.
	other, _ := flashcrypt.Encrypt(s, key, 0x10000, keys)
	fmt.Println(bytes.Equal(enc, other))
	// Output:
	// xts-aes 256 true false
	// false
}
