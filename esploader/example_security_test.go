package esploader_test

import (
	"bytes"
	"fmt"
	"net"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/flashcrypt"
)

// Read a chip's security state, then write through its flash encryption and verify the
// ciphertext with the known flash key.
func ExampleLoader_Security() {
	key := bytes.Repeat([]byte{0x42}, 32)
	sim, _ := loadersim.New(loadersim.Config{Chip: "esp32c3", FlashSize: 1 << 20, FlashEncryption: true, FlashKey: key, KeyPurposes: map[int]uint8{1: esploader.PurposeHMACUp}})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go sim.ServeListener(ln)
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()

	l, err := esploader.Connect(c, esploader.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	s, _ := l.Security()
	canEncrypt, _ := s.ROMCanEncrypt()
	fmt.Println(s.Chip, "flash encryption", s.Mode, "- ROM can encrypt:", canEncrypt)
	for _, k := range s.Keys[:2] {
		fmt.Println(k.Name, k.PurposeName)
	}
	res, err := l.WriteFlashEncrypted(0xF000, []byte("keys partition image"), esploader.EncryptedWriteOptions{
		Expected: func(off uint32, plain []byte) ([]byte, error) {
			return flashcrypt.Encrypt(flashcrypt.SchemeXTS, key, off, plain)
		},
	})
	fmt.Println("verified:", res.Verified, err)
	// Output:
	// ESP32-C3 flash encryption development - ROM can encrypt: true
	// BLOCK_KEY0 XTS_AES_128_KEY
	// BLOCK_KEY1 HMAC_UP
	// verified: true <nil>
}
