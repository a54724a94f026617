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
	var name, offset, size, out string
	var of outFlags
	c := &cobra.Command{
		Use:   "read --port PORT (--partition NAME | --offset ADDR --size N) -o OUT.bin",
		Short: "Read a partition or a flash range from a device into a file",
		Long: `Read a partition (by name, from the partition table on the device or in
--partition-table) or a flash range from the device through its ROM loader,
64 bytes per round trip, and check the data against the chip's MD5. OUT.bin is
written with mode 0600 (see --mode); an existing one is replaced only with
--force.`,
		Example: `  nvskit read --port /dev/ttyUSB0 --partition nvs -o nvs-dump.bin
  nvskit read --port COM3 --offset 0x9000 --size 0x6000 -o nvs-dump.bin`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkRegion(name, offset, size); err != nil {
				return err
			}
			if out == "" {
				return usagef("give the output file with -o OUT.bin")
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
			t, err := resolveTarget(env, d, &pt, name, offset, size)
			if err != nil {
				return err
			}
			if t.size == 0 {
				return usagef("nothing to read: the size is 0")
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
			if err := writeOutput(path, data, o); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "Read %d bytes from %s in %.1f s%s; saved to %s\n", len(data), t, time.Since(start).Seconds(), verified, out)
			return nil
		},
	}
	df.register(c)
	pt.register(c)
	of.register(c, env, fsutil.DefaultMode, &pt.force)
	c.Flags().StringVar(&name, "partition", "", "partition name to read (from the partition table)")
	c.Flags().StringVar(&offset, "offset", "", "flash offset to read from")
	c.Flags().StringVar(&size, "size", "", "number of bytes to read (with --offset)")
	c.Flags().StringVarP(&out, "output", "o", "", "output file")
	return c
}
