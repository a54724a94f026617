package cli

import (
	"crypto/md5"
	"fmt"

	"github.com/spf13/cobra"
)

func md5sum(b []byte) [16]byte { return md5.Sum(b) }

func newEraseCmd(env *Env) *cobra.Command {
	var df devFlags
	var pt ptFlags
	var name, offset, size string
	c := &cobra.Command{
		Use:   "erase --port PORT (--partition NAME | --offset ADDR --size N)",
		Short: "Erase a partition (the \"reset to factory\" of a data partition)",
		Long: `Erase a partition or a flash range to 0xFF through the ROM loader. An erased NVS
partition is initialised empty by the firmware at its next boot.

nvskit refuses, unless --force: erasing the bootloader, the partition table or an
app partition, and erasing anything on a chip that reports flash encryption on
(the firmware would then find plaintext 0xFF where it expects ciphertext).`,
		Example: `  nvskit erase --port /dev/ttyUSB0 --partition nvs`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkRegion(name, offset, size); err != nil {
				return err
			}
			d, err := df.connect(env)
			if err != nil {
				return err
			}
			defer d.Close()
			t, err := resolveTarget(env, d, &pt, name, offset, size)
			if err != nil {
				return err
			}
			if t.off%0x1000 != 0 || t.size%0x1000 != 0 || t.size == 0 {
				return usagef("erase 0x%X size 0x%X: offset and size must be non-zero multiples of 0x1000", t.off, t.size)
			}
			if !pt.force {
				on, err := d.l.FlashEncryption()
				if err != nil {
					return refuse("cannot tell whether flash encryption is on (%v)", err)
				}
				if on {
					return refuse("the %s reports flash encryption on", d.l.Chip().Name)
				}
				if err := checkWrite(t.table, t.tableOff, t.off, t.size); err != nil {
					return err
				}
			}
			if err := d.l.EraseRegion(t.off, int(t.size)); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "Erased %s\n", t)
			return nil
		},
	}
	df.register(c)
	pt.register(c)
	c.Flags().StringVar(&name, "partition", "", "partition name to erase (from the partition table)")
	c.Flags().StringVar(&offset, "offset", "", "flash offset to erase from, a multiple of 0x1000")
	c.Flags().StringVar(&size, "size", "", "number of bytes to erase (with --offset), a multiple of 0x1000")
	return c
}
