package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
)

func newReadCmd(env *Env) *cobra.Command {
	var df devFlags
	var pt ptFlags
	var ef encFlags
	var name, offset, size, out string
	var of outFlags
	c := &cobra.Command{
		Use:   "read --port PORT (--partition NAME | --offset ADDR --size N) -o OUT.bin",
		Short: "Read a partition or a flash range from a device into a file",
		Long: `Read a partition (by name, from the partition table on the device or in
--partition-table) or a flash range from the device through its ROM loader,
64 bytes per round trip, and check the data against the chip's MD5. OUT.bin is
written with mode 0600 (see --mode); an existing one is replaced only with
--force.

The ROM returns flash as stored: on a chip with flash encryption on, what the
chip encrypted reads back as ciphertext. --decrypt --flash-key KEY gives the
plaintext instead (the firmware's view), decrypted at the absolute offset with
the chip's scheme (ESP32: AES with the address-tweaked key; later chips:
XTS-AES). On such a chip the table on the device is encrypted too: give
--partition-table, or --flash-key to decrypt it.`,
		Example: `  nvskit read --port /dev/ttyUSB0 --partition nvs -o nvs-dump.bin
  nvskit read --port COM3 --offset 0x9000 --size 0x6000 -o nvs-dump.bin
  nvskit read --port /dev/ttyUSB0 --partition nvs_keys --partition-table partitions.csv --decrypt --flash-key flash_key.bin -o keys.bin`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkRegion(name, offset, size); err != nil {
				return err
			}
			if out == "" {
				return usagef("give the output file with -o OUT.bin")
			}
			if ef.decrypt && ef.flashKey == "" {
				return usagef("--decrypt needs --flash-key KEY (the chip's flash-encryption key file)")
			}
			o, err := of.options(pt.force)
			if err != nil {
				return err
			}
			path := env.Path(out)
			if err := checkNew(o, path); err != nil {
				return err
			}
			d, err := df.connect(env)
			if err != nil {
				return err
			}
			defer d.Close()
			if d.key, err = loadFlashKey(env, ef.flashKey, d); err != nil {
				return err
			}
			t, err := resolveTarget(env, d, &pt, name, offset, size)
			if err != nil {
				return err
			}
			if t.size == 0 {
				return usagef("nothing to read: the size is 0")
			}
			if a := uint32(encAlign(d.l.Chip().Name)); ef.decrypt && (t.off%a != 0 || t.size%a != 0) {
				return usagef("--decrypt: offset 0x%X and size 0x%X must be multiples of %d on the %s", t.off, t.size, a, d.l.Chip().Name)
			}
			bar := newProgress(env, "Reading")
			start := time.Now()
			data, err := d.l.ReadFlash(t.off, int(t.size), bar.update)
			bar.finish()
			if err != nil {
				return fmt.Errorf("reading %s: %w", t, err)
			}
			verified := ""
			if sum, err := d.l.FlashMD5(t.off, int(t.size)); err == nil {
				if sum != md5sum(data) {
					return fmt.Errorf("reading %s: the data read differs from the chip's MD5 of the range; run the command again (a lower --baud may help)", t)
				}
				verified = ", MD5 verified"
			}
			if ef.decrypt {
				if data, err = d.key.decrypt(t.off, data); err != nil {
					return err
				}
				verified += ", decrypted with --flash-key"
			} else if p := t.containing(); readByFirmware(p) {
				if sec, err := d.security(); err == nil && sec.FlashEncryption {
					fmt.Fprintf(env.Stderr, "note: flash encryption is on and partition %q is read through it: this is the raw ciphertext; --decrypt --flash-key KEY gives the plaintext\n", p.Name)
				}
			}
			if err := writeOutput(path, data, o); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "Read %d bytes from %s in %.1f s%s; saved to %s\n", len(data), t, time.Since(start).Seconds(), verified, out)
			return nil
		},
	}
	df.register(c)
	pt.register(c, forceHelp, true)
	of.register(c, env, fsutil.DefaultMode, &pt.force)
	c.Flags().StringVar(&name, "partition", "", "partition name to read (from the partition table)")
	c.Flags().StringVar(&offset, "offset", "", "flash offset to read from")
	c.Flags().StringVar(&size, "size", "", "number of bytes to read (with --offset)")
	c.Flags().StringVarP(&out, "output", "o", "", "output file")
	c.Flags().BoolVar(&ef.decrypt, "decrypt", false, "decrypt what the chip's flash encryption stored, with --flash-key (the firmware's view)")
	ef.registerKey(c)
	return c
}
