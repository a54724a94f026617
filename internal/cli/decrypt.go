package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
)

func newDecryptCmd(env *Env) *cobra.Command {
	var outdir string
	var of outFlags
	c := &cobra.Command{
		Use:   "decrypt INPUT.bin KEYS.bin OUTPUT.bin",
		Short: "Decrypt an encrypted NVS image (drop-in for nvs_partition_gen.py decrypt)",
		Long: `Decrypt an encrypted NVS partition image with the keys of an nvs_keys partition
image. Wrong keys are detected (the entry CRCs fail after decryption), and so
is an image that is not encrypted at all (its entries are readable as they are)
or not an NVS image (random bytes, a zero-filled file; --force decrypts it
anyway): then nothing is written and the exit status is non-zero. The plaintext
image is written with mode 0600 (see --mode); an existing OUTPUT.bin is
replaced only with --force.`,
		Args: cobra.ExactArgs(3),
		RunE: func(c *cobra.Command, args []string) error {
			in, keysPath := args[0], args[1]
			out := outPath(env, outdir, args[2])
			if err := fsutil.CheckNotInput(out, env.Path(in), env.Path(keysPath)); err != nil {
				return err
			}
			o, err := of.options()
			if err != nil {
				return err
			}
			if err := checkNew(o, out); err != nil {
				return err
			}
			img, err := readImageFile(env, in)
			if err != nil {
				return err
			}
			if err := recognizeImage(in, img, forced(c), true); err != nil {
				return err
			}
			keys, err := loadKeysPartition(env, keysPath)
			if err != nil {
				return err
			}
			plain, err := nvs.Decrypt(img, keys)
			if errors.Is(err, nvs.ErrNotEncrypted) {
				return fmt.Errorf("%s is not encrypted: its entries are readable as they are, so there is nothing to decrypt (read it with nvskit inspect %s); nothing was written", in, in)
			}
			if errors.Is(err, nvs.ErrWrongKeys) {
				return fmt.Errorf("%s: %w; was it encrypted with %s?", in, err, keysPath)
			}
			if err != nil {
				return err
			}
			if err := writeOutput(out, plain, o); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "Created decrypted image: %s\n", out)
			return nil
		},
	}
	of.register(c, env, fsutil.DefaultMode, nil)
	c.Flags().StringVar(&outdir, "outdir", "", "directory for OUTPUT.bin (default: the current directory)")
	return c
}
