package loadersim_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/flashcrypt"
	"github.com/nvskit/nvskit/nvs"
)

// TestEsptoolJSEncryptedWrite checks the simulator's encrypted write with an independent client:
// esptool-js frames FLASH_BEGIN with the encrypted word and the FLASH_DATA blocks (its ROM path
// cannot set the word itself), and the flash must then hold espsecure's ciphertext of the image
// at its absolute address, under the chip's key; the chip's MD5 seen by esptool-js must match.
func TestEsptoolJSEncryptedWrite(t *testing.T) {
	node := needPeer(t)
	var k nvs.Keys
	for i := range k.Data {
		k.Data[i], k.Tweak[i] = byte(i), byte(0xFF-i)
	}
	img := k.MarshalPartition()[:3000] // a keys image, cut so that the last block needs padding
	dir := t.TempDir()
	image := filepath.Join(dir, "keys.bin")
	if err := writeFile(image, img); err != nil {
		t.Fatal(err)
	}
	flashKey := bytes.Repeat([]byte{0x5A, 0xC3}, 16)
	for _, c := range []struct{ sim, want string }{{"esp32c3", "ESP32-C3"}, {"esp32s3", "ESP32-S3"}, {"esp32s2", "ESP32-S2"}} {
		t.Run(c.sim, func(t *testing.T) {
			sim, err := loadersim.New(loadersim.Config{Chip: c.sim, FlashSize: 1 << 20, FlashEncryption: true, FlashKey: flashKey})
			if err != nil {
				t.Fatal(err)
			}
			last := runPeer(t, node, sim, "peer-encrypt.mjs", image, "0xF000", c.want)
			padded := append(append([]byte(nil), img...), bytes.Repeat([]byte{0xFF}, 0xC00-len(img))...)
			want, err := flashcrypt.Encrypt(flashcrypt.SchemeXTS, flashKey, 0xF000, padded)
			if err != nil {
				t.Fatal(err)
			}
			if got := sim.Flash()[0xF000:0xFC00]; !bytes.Equal(got, want) {
				t.Fatal("the flash does not hold espsecure's ciphertext of what esptool-js sent")
			}
			sum := md5.Sum(want)
			if last != "OK "+c.want+" "+hex.EncodeToString(sum[:]) {
				t.Fatalf("esptool-js said %q", last)
			}
		})
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }
