package cli

import (
	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
)

func newGetCmd(env *Env) *cobra.Command {
	var keys, out string
	var of outFlags
	c := &cobra.Command{
		Use:   "get IMAGE NAMESPACE KEY",
		Short: "Print one value of an NVS image, exactly as stored",
		Long: `Print the value of one key as the device reads it: the exact stored bytes of a
blob, a string's bytes without its terminating NUL, an integer in decimal
followed by a newline. So $(nvskit get nvs.bin wifi ssid) works in scripts.
With -o the value goes to FILE instead (mode 0600 unless --mode; an existing
FILE is replaced only with --force).`,
		Example: `  nvskit get nvs.bin wifi ssid
  nvskit get --keys nvs_keys.bin -o ca.der enc.bin certs ca`,
		Args: exactArgs(3, "IMAGE NAMESPACE KEY"),
		RunE: func(c *cobra.Command, args []string) error {
			o, err := of.options()
			if err != nil {
				return err
			}
			if out != "" {
				if err := checkNew(o, env.Path(out)); err != nil {
					return err
				}
			}
			in, err := loadImage(env, args[0], keys)
			if err != nil {
				return err
			}
			r := in.im.Get(args[1], args[2])
			if r == nil {
				return listKeysError(in.im, args[0], args[1], args[2])
			}
			var b []byte
			switch {
			case r.Type.IsInt():
				b = []byte(intString(r) + "\n")
			case r.Type == nvs.TypeString:
				b = stringText(r)
			default:
				b = r.Data
			}
			if out != "" {
				p := env.Path(out)
				if err := fsutil.CheckNotInput(p, env.Path(args[0])); err != nil {
					return err
				}
				return writeOutput(p, b, o)
			}
			_, err = env.Stdout.Write(b)
			return err
		},
	}
	c.Flags().StringVar(&keys, "keys", "", "nvs_keys partition image to decrypt an encrypted IMAGE")
	c.Flags().StringVarP(&out, "output", "o", "", "write the value to FILE instead of standard output")
	of.register(c, env, fsutil.DefaultMode, nil)
	return c
}
