package cli

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
)

// keyFlags are the key options of generate-key and encrypt, named as nvs_partition_gen names them.
type keyFlags struct {
	keyfile      string
	hmac         bool
	hmacKeygen   bool
	hmacKeyfile  string
	hmacInputkey string
}

func (f *keyFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.keyfile, "keyfile", "", "name of the keys file written under OUTDIR/keys/ (default keys-MM-DD_HH-MM.bin)")
	c.Flags().BoolVar(&f.hmac, "key_protect_hmac", false, "derive the keys from an HMAC key (the HMAC-based scheme; the HMAC key lives in an eFuse)")
	c.Flags().BoolVar(&f.hmacKeygen, "kp_hmac_keygen", false, "with --key_protect_hmac: make a random 32-byte HMAC key and save it")
	c.Flags().StringVar(&f.hmacKeyfile, "kp_hmac_keyfile", "", "with --kp_hmac_keygen: name of the HMAC key file (default hmac-KEYFILE)")
	c.Flags().StringVar(&f.hmacInputkey, "kp_hmac_inputkey", "", "with --key_protect_hmac: file holding the 32-byte HMAC key")
}

func (f *keyFlags) validate() error {
	if !f.hmac && (f.hmacKeygen || f.hmacKeyfile != "" || f.hmacInputkey != "") {
		return usagef("--kp_hmac_* options need --key_protect_hmac")
	}
	if f.hmac && f.hmacKeygen == (f.hmacInputkey != "") {
		return usagef("--key_protect_hmac needs exactly one of --kp_hmac_keygen and --kp_hmac_inputkey")
	}
	if f.hmacKeyfile != "" && !f.hmacKeygen {
		return usagef("--kp_hmac_keyfile goes with --kp_hmac_keygen")
	}
	return nil
}

// keyFileName applies the reference's naming rules: a default name from the time, and .bin
// appended when the name has no extension.
func keyFileName(name string, now time.Time) (string, error) {
	if name == "" {
		name = "keys-" + now.Format("01-02_15-04") + ".bin"
	}
	ext := filepath.Ext(name)
	switch {
	case ext == "":
		name += ".bin"
	case !strings.Contains(ext, ".bin"):
		return "", usagef("keys file %q must have a .bin extension", name)
	}
	return name, nil
}

// newKeys makes the keys for generate-key and encrypt --keygen and writes them (mode 0600)
// under outdir/keys/. It returns the keys and the path of the keys file. A keys file named
// with --keyfile (or --kp_hmac_keyfile) that exists is refused unless o.Force; a default name
// that exists is never replaced: the next free name (keys-MM-DD_HH-MM-2.bin, ...) is taken.
func (f *keyFlags) newKeys(env *Env, outdir string, o fsutil.Options) (nvs.Keys, string, error) {
	now := time.Now()
	name, err := keyFileName(f.keyfile, now)
	if err != nil {
		return nvs.Keys{}, "", err
	}
	keysDir := filepath.Join(outdir, "keys")
	o.Mode, o.DirMode = 0o600, 0o700
	var k nvs.Keys
	var hmacKey []byte
	if f.hmac {
		if f.hmacKeygen {
			hmacKey = make([]byte, 32)
			if _, err := rand.Read(hmacKey); err != nil {
				return k, "", err
			}
		} else {
			hmacKey, err = readInput(env, f.hmacInputkey, fsutil.MaxKeyFile, "an HMAC key file (32 bytes)")
			if err != nil {
				return k, "", fmt.Errorf("reading the HMAC key: %w", err)
			}
		}
		k, err = nvs.KeysFromHMAC(hmacKey)
		if err != nil {
			return k, "", fmt.Errorf("%s: %w (the eFuse HMAC key is 32 bytes)", f.hmacInputkey, err)
		}
	} else {
		if _, err := rand.Read(k.Data[:]); err != nil {
			return k, "", err
		}
		if _, err := rand.Read(k.Tweak[:]); err != nil {
			return k, "", err
		}
	}
	// The names: a default name that is taken gets a number and is never replaced, not even
	// with --force; a name the user gave is refused when it exists, unless --force.
	oKeys, oHMAC := o, o
	oKeys.Force = o.Force && f.keyfile != ""
	oHMAC.Force = o.Force && (f.hmacKeyfile != "" || f.keyfile != "") // hmac-KEYFILE follows KEYFILE
	var path, hmacOut string
	for n := 1; ; n++ {
		cand := name
		if f.keyfile == "" && n > 1 {
			cand = strings.TrimSuffix(name, ".bin") + fmt.Sprintf("-%d.bin", n)
		}
		path = outPath(env, keysDir, cand)
		hmacOut = ""
		if f.hmacKeygen {
			hn := f.hmacKeyfile
			if hn == "" {
				hn = "hmac-" + cand
			}
			if hn, err = keyFileName(hn, now); err != nil {
				return k, "", err
			}
			hmacOut = outPath(env, keysDir, hn)
			if err := checkNew(oHMAC, hmacOut); err != nil {
				if f.hmacKeyfile != "" || f.keyfile != "" || n >= 1000 {
					return k, "", err
				}
				continue
			}
		}
		err := checkNew(oKeys, path)
		if err == nil {
			break
		}
		if f.keyfile != "" || n >= 1000 {
			return k, "", err
		}
	}
	if err := fsutil.CheckNotInput(path, env.Path(f.hmacInputkey)); err != nil {
		return k, "", err
	}
	if hmacOut != "" {
		if err := fsutil.CheckNotInput(hmacOut, path); err != nil {
			return k, "", err
		}
		if err := writeOutput(hmacOut, hmacKey, oHMAC); err != nil {
			return k, "", err
		}
		fmt.Fprintf(env.Stdout, "Created HMAC key: %s (burn it into an eFuse key block with purpose HMAC_UP)\n", hmacOut)
	}
	if err := writeOutput(path, k.MarshalPartition(), oKeys); err != nil {
		return k, "", err
	}
	fmt.Fprintf(env.Stdout, "Created encryption keys: %s\n", path)
	return k, path, nil
}

// loadKeysPartition reads an nvs_keys partition image and checks it as the device does.
func loadKeysPartition(env *Env, name string) (nvs.Keys, error) {
	b, err := readInput(env, name, nvs.KeysPartitionSize, "a keys partition image")
	if err != nil {
		return nvs.Keys{}, fmt.Errorf("reading keys: %w", err)
	}
	if len(b) != nvs.KeysPartitionSize {
		return nvs.Keys{}, fmt.Errorf("%s is %d bytes; a keys partition image (from generate-key) is %d bytes", name, len(b), nvs.KeysPartitionSize)
	}
	k, err := nvs.ParseKeysPartition(b)
	if err != nil {
		return k, fmt.Errorf("%s: %w", name, explainKeysError(err))
	}
	return k, nil
}

// maxKeysDump is the most keys check reads: a dump of an nvs_keys partition, which is one
// 4096-byte sector in every ESP-IDF table but may be made larger.
const maxKeysDump = 64 << 10

func explainKeysError(err error) error {
	switch {
	case errors.Is(err, nvs.ErrKeysCRC):
		return fmt.Errorf("%w: the device reports this as ESP_ERR_NVS_CORRUPT_KEY_PART. The usual cause is a keys partition flashed unencrypted onto a device with flash encryption on: mark nvs_keys \"encrypted\" in the partition table and flash it encrypted", err)
	case errors.Is(err, nvs.ErrKeysEmpty):
		return fmt.Errorf("%w: the partition is erased; the device reports ESP_ERR_NVS_KEYS_NOT_INITIALIZED and generates new keys only if configured to", err)
	}
	return err
}

func newKeysCmd(env *Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "keys",
		Short: "Work with NVS encryption keys partitions",
	}
	c.AddCommand(&cobra.Command{
		Use:   "check KEYS.bin",
		Short: "Check a keys partition image the way the device does (CRC); never prints the keys",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			b, err := readInput(env, args[0], maxKeysDump, "a keys partition dump")
			if err != nil {
				return err
			}
			k, err := nvs.ParseKeysPartition(b)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], explainKeysError(err))
			}
			if len(b) != nvs.KeysPartitionSize {
				fmt.Fprintf(env.Stderr, "warning: %s is %d bytes; the nvs_keys partition is %d\n", args[0], len(b), nvs.KeysPartitionSize)
			}
			fp := sha256.Sum256(k.Bytes())
			fmt.Fprintf(env.Stdout, "%s: keys partition OK (CRC matches; fingerprint sha256:%x)\n", args[0], fp[:6])
			return nil
		},
	})
	return c
}
