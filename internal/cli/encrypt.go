package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
)

func newEncryptCmd(env *Env) *cobra.Command {
	var f genFlags
	var pf partitionFlags
	var kf keyFlags
	var of outFlags
	var keygen bool
	var inputkey, image string
	c := &cobra.Command{
		Use:   "encrypt INPUT.csv [INPUT.csv...] OUTPUT.bin (SIZE | --partition-table TABLE --partition NAME) (--keygen | --inputkey KEYS.bin)",
		Short: "Make an encrypted NVS partition image (drop-in for nvs_partition_gen.py encrypt)",
		Long: `Make an NVS partition image from CSV, like generate, and encrypt it with
AES-256-XTS as the device does: every written 32-byte entry is encrypted with its
offset in the partition as the tweak; page headers and bitmaps stay plain.

The keys come from --inputkey (an nvs_keys partition image, checked like the
device checks it) or are made fresh with --keygen and written to
OUTDIR/keys/KEYFILE (mode 0600; an existing KEYFILE is replaced only with
--force, a taken default name gets a number). With --image IN.bin an existing
plain image is encrypted instead of a CSV: then the only argument is OUTPUT.bin.`,
		Example: `  nvskit encrypt nvs.csv nvs_encr.bin 0x6000 --inputkey keys/nvs_keys.bin
  nvskit encrypt nvs.csv nvs_encr.bin 0x6000 --keygen --keyfile nvs_keys.bin
  nvskit encrypt --image nvs.bin nvs_encr.bin --inputkey keys/nvs_keys.bin`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if keygen == (inputkey != "") {
				return usagef("give either --keygen or --inputkey KEYS.bin")
			}
			if err := kf.validate(); err != nil {
				return err
			}
			if inputkey != "" && (kf.hmac || kf.keyfile != "") {
				return usagef("--keyfile and --key_protect_hmac go with --keygen, not --inputkey")
			}
			var plain []byte
			var job *genJob
			var err error
			if image != "" {
				if len(args) != 1 {
					return argCountError(c, len(args), "with --image, give only OUTPUT.bin")
				}
				if plain, err = readImageFile(env, image); err != nil {
					return err
				}
				if err := recognizeImage(image, plain, false, false); err != nil {
					return err
				}
				if im, err := nvs.Parse(plain); err == nil && im.LooksEncrypted {
					return fmt.Errorf("%s looks encrypted already (no entry has a valid CRC); encrypt a plain image", image)
				}
				job = &genJob{env: env, output: outPath(env, f.outdir, args[0]), inputs: []string{image}}
			} else {
				if len(args) < 2 {
					return argCountError(c, len(args), "")
				}
				inputs, output, size, err := pf.splitArgs(c, env, args)
				if err != nil {
					return err
				}
				if job, err = f.prepare(env, inputs, output, size); err != nil {
					return err
				}
				job.sizeFrom = pf.partitionSource()
			}
			if job.opts, err = of.options(); err != nil {
				return err
			}
			if err := job.checkOutput(job.output); err != nil {
				return err
			}
			if err := fsutil.CheckNotInput(job.output, env.Path(inputkey)); err != nil {
				return err
			}
			if err := checkNew(job.opts, job.output); err != nil {
				return err
			}
			// Read the keys first: a bad keys file must stop the run before anything is written.
			var keys nvs.Keys
			if inputkey != "" {
				if keys, err = loadKeysPartition(env, inputkey); err != nil {
					return err
				}
			}
			if plain == nil {
				if plain, err = job.build(); err != nil {
					return err
				}
			}
			if err := job.checkOutput(job.output); err != nil {
				return err
			}
			if keygen {
				if keys, _, err = kf.newKeys(env, f.outdir, job.opts); err != nil {
					return err
				}
			}
			enc, err := nvs.Encrypt(plain, keys)
			if err != nil {
				return err
			}
			return job.write(enc)
		},
	}
	f.register(c)
	pf.register(c)
	kf.register(c)
	of.register(c, env, fsutil.DefaultMode, nil)
	c.Flags().Lookup("mode").Usage = "permissions of the image, in octal; the umask still applies (keys files are always 0600)"
	c.Flags().BoolVar(&keygen, "keygen", false, "make fresh keys and write them to OUTDIR/keys/KEYFILE")
	c.Flags().StringVar(&inputkey, "inputkey", "", "nvs_keys partition image holding the keys")
	c.Flags().StringVar(&image, "image", "", "encrypt this existing plain image instead of generating one from CSV")
	return c
}
