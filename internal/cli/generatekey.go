package cli

import (
	"github.com/spf13/cobra"
)

func newGenerateKeyCmd(env *Env) *cobra.Command {
	var kf keyFlags
	var of outFlags
	var outdir string
	c := &cobra.Command{
		Use:   "generate-key",
		Short: "Make an nvs_keys partition image with fresh keys (drop-in for nvs_partition_gen.py generate-key)",
		Long: `Make a 4096-byte nvs_keys partition image: the XTS data key, the tweak key,
their CRC32, the rest 0xFF. It is written to OUTDIR/keys/KEYFILE with mode 0600.
An existing KEYFILE is never replaced unless --force; when the default name
(keys-MM-DD_HH-MM.bin) is taken, the next free one (keys-MM-DD_HH-MM-2.bin) is
used.
Keys come from the operating system's cryptographic random source (the reference
tool uses Python's non-cryptographic random module).

With --key_protect_hmac the keys are derived from an HMAC key, as the device
derives them from its eFuse HMAC key.`,
		Example: `  nvskit generate-key --keyfile nvs_keys.bin
  nvskit generate-key --key_protect_hmac --kp_hmac_inputkey hmac_key.bin --keyfile nvs_keys.bin`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := kf.validate(); err != nil {
				return err
			}
			o, err := of.options()
			if err != nil {
				return err
			}
			_, _, err = kf.newKeys(env, outdir, o)
			return err
		},
	}
	kf.register(c)
	of.register(c, env, 0, nil)
	c.Flags().StringVar(&outdir, "outdir", "", "directory under which keys/ is created (default: the current directory)")
	return c
}
