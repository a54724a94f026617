package cli

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/flashcrypt"
	"github.com/nvskit/nvskit/partition"
)

// security returns the chip's security state, read once per connection.
func (d *device) security() (*esploader.Security, error) {
	if d.sec != nil {
		return d.sec, nil
	}
	s, err := d.l.Security()
	if err != nil {
		return nil, fmt.Errorf("reading the chip's security state: %w", err)
	}
	d.sec = &s
	return d.sec, nil
}

// flashKey is the chip's flash-encryption key as the user holds it (--flash-key): the key file
// espsecure and espefuse use.
type flashKey struct {
	path string
	c    flashcrypt.Cipher
}

// encFlags are the flash-encryption options of the commands that write or read a device.
type encFlags struct {
	encrypt  bool
	decrypt  bool
	flashKey string
}

func (f *encFlags) registerKey(c *cobra.Command) {
	c.Flags().StringVar(&f.flashKey, "flash-key", "", "the chip's flash-encryption key file, as espsecure and espefuse burn-key use it (ESP32: 32 bytes; XTS chips: 32, or 64 for XTS-AES-256)")
}

// loadFlashKey reads --flash-key for the connected chip. The key's length must suit the chip:
// 32 (or 24, 3/4 coding) bytes on the ESP32; 32 on XTS-AES-128 chips, 64 on the S2, S3 and P4
// for XTS-AES-256, 16 on the C2 (its 128-bit key, expanded as espsecure expands it).
func loadFlashKey(env *Env, path string, d *device) (*flashKey, error) {
	if path == "" {
		return nil, nil
	}
	raw, err := readKeyFile(env, path, "--flash-key", 64)
	if err != nil {
		return nil, err
	}
	chip := d.l.Chip().Name
	ok := false
	switch len(raw) {
	case 32:
		ok = true
	case 24:
		ok = chip == "ESP32"
	case 16:
		ok = chip == "ESP32-C2"
	case 64:
		ok = chip == "ESP32-S2" || chip == "ESP32-S3" || chip == "ESP32-P4"
	}
	if !ok {
		return nil, usagef("--flash-key %s: %d bytes is not a flash-encryption key of the %s (ESP32: 32 or 24 bytes; ESP32-C2: 16 or 32; S2, S3, P4: 32 or 64; other chips: 32)", path, len(raw), chip)
	}
	conf := uint8(flashcrypt.DefaultCryptConf)
	if chip == "ESP32" {
		sec, err := d.security()
		if err != nil {
			return nil, err
		}
		conf = esp32CryptConf(sec)
	}
	c, err := flashcrypt.New(flashcrypt.SchemeForChip(chip), raw, conf)
	if err != nil {
		return nil, usagef("--flash-key %s: %v", path, err)
	}
	// Where the key block is readable, the file must be the key burnt into it.
	if sec, err := d.security(); err == nil && sec.FlashKeyReadback != nil && len(raw) == 32 && !bytes.Equal(raw, sec.FlashKeyReadback) {
		return nil, fmt.Errorf("--flash-key %s is not the flash-encryption key burnt into the %s (its key block is readable and holds another key)", path, chip)
	}
	return &flashKey{path: path, c: c}, nil
}

// esp32CryptConf returns the FLASH_CRYPT_CONFIG the ESP32 encrypts with: the eFuse's value
// when it is readable, 0 included (no address tweak at all), and 0xF, the value ESP-IDF burns,
// when RD_DIS bit 19 read-protects it.
func esp32CryptConf(sec *esploader.Security) uint8 {
	if sec.FlashCryptConfig != nil {
		return *sec.FlashCryptConfig
	}
	return flashcrypt.DefaultCryptConf
}

// encAlign is the alignment of an encrypted write: 32 bytes on the ESP32, 16 on later chips.
func encAlign(chip string) int {
	if chip == "ESP32" {
		return 32
	}
	return 16
}

// padFF pads b with 0xFF to a multiple of n.
func padFF(b []byte, n int) []byte {
	if len(b)%n == 0 {
		return b
	}
	return append(append([]byte(nil), b...), bytes.Repeat([]byte{0xFF}, n-len(b)%n)...)
}

// encrypt returns p (a multiple of 16 bytes) as the chip stores it at off.
func (k *flashKey) encrypt(off uint32, p []byte) ([]byte, error) {
	out := make([]byte, len(p))
	if err := k.c.Encrypt(out, p, off); err != nil {
		return nil, fmt.Errorf("encrypting with --flash-key at 0x%X: %w", off, err)
	}
	return out, nil
}

// decrypt returns the plaintext of p (raw flash at off).
func (k *flashKey) decrypt(off uint32, p []byte) ([]byte, error) {
	out := make([]byte, len(p))
	if err := k.c.Decrypt(out, p, off); err != nil {
		return nil, fmt.Errorf("decrypting with --flash-key at 0x%X: %w", off, err)
	}
	return out, nil
}

// readThroughKey reads n bytes of flash at off as the firmware sees them through flash
// encryption: raw flash decrypted with the key. off and n are widened to the alignment.
func readThroughKey(d *device, k *flashKey, off uint32, n int) ([]byte, error) {
	a := uint32(encAlign(d.l.Chip().Name))
	start := off / a * a
	end := (off + uint32(n) + a - 1) / a * a
	raw, err := d.l.ReadFlash(start, int(end-start), nil)
	if err != nil {
		return nil, err
	}
	plain, err := k.decrypt(start, raw)
	if err != nil {
		return nil, err
	}
	return plain[off-start : off-start+uint32(n)], nil
}

// readByFirmware reports whether the firmware reads partition p through flash encryption when
// it is on: a partition flagged encrypted, and nvs_keys whatever its flag (ESP-IDF treats it as
// encrypted when flash encryption is on).
func readByFirmware(p *partition.Partition) bool {
	return p != nil && (p.Encrypted() || (p.Type == partition.TypeData && p.SubType == partition.SubtypeNVSKeys))
}

// espefuseKeyHint names the espefuse command that burns a flash-encryption key (nvskit does not
// burn eFuses).
func espefuseKeyHint(chip string) string {
	if chip == "ESP32" {
		return "espefuse.py --port PORT burn-key flash_encryption my_flash_key.bin"
	}
	if chip == "ESP32-C2" {
		return "espefuse.py --port PORT burn-key BLOCK_KEY0 my_flash_key.bin XTS_AES_128_KEY"
	}
	return "espefuse.py --port PORT burn-key BLOCK_KEY0 my_flash_key.bin XTS_AES_128_KEY"
}

// writeEncrypted writes img at t through the chip's flash encryption and returns the line to
// report. With the ROM's encrypted write where the chip can do it (verified against the key when
// the user gave one), otherwise by encrypting on the host with --flash-key and writing the
// ciphertext (verified by the chip's MD5 of the ciphertext).
func writeEncrypted(env *Env, d *device, t target, img []byte, key *flashKey, force bool) error {
	sec, err := d.security()
	if err != nil {
		return err
	}
	chip := sec.Chip
	if !sec.FlashEncryption && !force {
		return refuse("flash encryption is off on the %s (crypt counter 0x%X): the chip would read the ciphertext back as garbage. If its firmware enables flash encryption at the next boot, the bootloader encrypts the encrypted partitions (and nvs_keys) itself: write them without --encrypt instead", chip, sec.FlashCryptCnt)
	}
	if sec.SecureDownload {
		return fmt.Errorf("cannot write %s encrypted: the %s is in Secure Download Mode, which refuses reads and MD5, so no write can be verified (and the ROM's encrypted write there is unconfirmed); nvskit does not write what it cannot verify", t, chip)
	}
	romOK, why := sec.ROMCanEncrypt()
	if !romOK && key == nil {
		fix := "pass --flash-key KEY (the key file burnt into the chip) to encrypt on the host"
		if sec.FlashKeyPresent != nil && !*sec.FlashKeyPresent {
			fix = "no key means the chip cannot decrypt either; burn one first (nvskit does not burn eFuses): " + espefuseKeyHint(chip) + ", then run again with --flash-key my_flash_key.bin"
		}
		return fmt.Errorf("cannot write %s encrypted: %s; %s", t, why, fix)
	}
	if sec.FlashKeyPresent != nil && !*sec.FlashKeyPresent && !force {
		return refuse("no flash-encryption key is burnt into the %s: the chip cannot decrypt what is written; burn one first (nvskit does not burn eFuses): %s", chip, espefuseKeyHint(chip))
	}
	bar := newProgress(env, "Writing (encrypted)")
	start := time.Now()
	if romOK {
		opt := esploader.EncryptedWriteOptions{Progress: bar.update}
		if key != nil {
			opt.Expected = key.encrypt
		}
		res, err := writeRange(env, t, func() (esploader.EncryptedWriteResult, error) {
			return d.l.WriteFlashEncrypted(t.off, img, opt)
		})
		bar.finish()
		var pw *partlyWritten
		if errors.As(err, &pw) {
			return err
		}
		switch {
		case err != nil && key != nil && errors.Is(err, esploader.ErrEncryptRefused):
			// The eFuses said the ROM may encrypt, the ROM says no: encrypt on the host.
			fmt.Fprintf(env.Stderr, "note: %v; encrypting on the host with --flash-key instead\n", err)
			romOK, why = false, "the ROM refused its encrypted write"
			bar, start = newProgress(env, "Writing (encrypted)"), time.Now()
		case err != nil:
			if key != nil && errors.Is(err, esploader.ErrMD5Mismatch) {
				return fmt.Errorf("writing %s: the chip encrypted the image with its own key, and the result is not the image encrypted with --flash-key %s: that file is not the key burnt into this chip (the data on flash is what the chip wrote; nothing else is wrong with it): %w", t, key.path, err)
			}
			return fmt.Errorf("writing %s: %w", t, err)
		default:
			fmt.Fprintf(env.Stdout, "Wrote %d bytes to %s through the %s's flash encryption (%d bytes with padding) in %.1f s; ",
				res.Size, t, chip, res.Written, time.Since(start).Seconds())
			if res.Verified {
				fmt.Fprintf(env.Stdout, "verified: the flash holds the image encrypted with --flash-key (MD5 %x)\n", res.MD5)
			} else {
				fmt.Fprintf(env.Stdout, "%s\n", res.Check)
			}
			return nil
		}
	}
	// Host-side encryption: the only route on the ESP32's ROM and in release mode, and the way
	// out when the ROM refuses.
	plain := padFF(img, encAlign(chip))
	ct, err := key.encrypt(t.off, plain)
	if err != nil {
		return err
	}
	res, err := writeRange(env, t, func() (esploader.WriteResult, error) {
		return d.l.WriteFlash(t.off, ct, esploader.WriteOptions{Progress: bar.update})
	})
	bar.finish()
	if err != nil {
		return fmt.Errorf("writing %s: %w", t, err)
	}
	keyNote := "whether that file is the key burnt into the chip cannot be checked over the ROM loader (its key block is read-protected)"
	if sec.FlashKeyReadback != nil {
		keyNote = "and that file is the key read back from the chip's key block"
	}
	fmt.Fprintf(env.Stdout, "Wrote %d bytes to %s encrypted on the host with --flash-key (%s, because %s) in %.1f s; verified: the flash holds the image encrypted with --flash-key (MD5 %x); %s\n",
		len(img), t, flashcrypt.SchemeForChip(chip), why, time.Since(start).Seconds(), res.MD5, keyNote)
	return nil
}
