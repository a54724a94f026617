package cli

import (
	"crypto/md5"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/partition"
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
app partition. On a chip with flash encryption on it erases a partition the
firmware reads as stored (an NVS data partition, not flagged encrypted), and
refuses, unless --force, one it reads through flash encryption (flagged
encrypted, or nvs_keys: the firmware would decrypt the erased 0xFF into garbage;
an erased nvs_keys makes it generate new keys, so the NVS data written with the
old ones can no longer be read: erase nvs_keys and NVS together, or write new
keys with flash --encrypt) and a range that is not a known partition. Give
--partition-table on such a chip: its own table is encrypted.`,
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
				if err := checkWrite(t.table, t.tableOff, t.off, t.size); err != nil {
					return err
				}
				if err := checkEraseEncrypted(d, t); err != nil {
					return err
				}
			}
			done := env.writing(fmt.Sprintf("%s may be partly erased; erase it again", t))
			err = d.l.EraseRegion(t.off, int(t.size))
			done()
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "Erased %s\n", t)
			return nil
		},
	}
	df.register(c)
	pt.register(c, "erase even when nvskit would refuse: the bootloader, the partition table or an app partition; with flash encryption on, a partition read through flash encryption or a range outside the table", false)
	c.Flags().StringVar(&name, "partition", "", "partition name to erase (from the partition table)")
	c.Flags().StringVar(&offset, "offset", "", "flash offset to erase from, a multiple of 0x1000")
	c.Flags().StringVar(&size, "size", "", "number of bytes to erase (with --offset), a multiple of 0x1000")
	return c
}

// checkEraseEncrypted refuses an erase that breaks a chip with flash encryption on: a range the
// firmware reads through flash encryption, or one nvskit cannot place in the partition table.
func checkEraseEncrypted(d *device, t target) error {
	sec, err := d.security()
	if err != nil {
		return refuse("cannot tell whether flash encryption is on (%v)", err)
	}
	if !sec.FlashEncryption {
		return nil
	}
	p := t.containing()
	switch {
	case p == nil:
		return refuse("the %s reports flash encryption on and 0x%X is not in a known partition, so nvskit cannot tell whether the firmware reads it through flash encryption (it would decrypt the erased 0xFF into garbage); erase by --partition NAME with --partition-table", sec.Chip, t.off)
	case uint64(t.off)+uint64(t.size) > p.End():
		return refuse("the %s reports flash encryption on and 0x%X+0x%X runs past partition %q", sec.Chip, t.off, t.size, p.Name)
	case p.Type == partition.TypeData && p.SubType == partition.SubtypeNVSKeys:
		return refuse("the %s reports flash encryption on and %q is the nvs_keys partition: erased, the firmware generates new keys on its next boot and can no longer read NVS data encrypted with the old ones; erase the NVS partition too, or write new keys with flash --encrypt", sec.Chip, p.Name)
	case p.Encrypted():
		return refuse("the %s reports flash encryption on and partition %q is flagged encrypted: the firmware would decrypt the erased 0xFF into garbage", sec.Chip, p.Name)
	}
	return nil
}
