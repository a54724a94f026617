package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/partition"
)

// target is where a command writes, reads or erases: an offset and size, and the partition
// it came from (nil for --offset).
type target struct {
	off, size uint32
	part      *partition.Partition
	table     *partition.Table
	tableOff  uint32
}

func (t target) String() string {
	if t.part != nil {
		return fmt.Sprintf("partition %q (0x%X, %s)", t.part.Name, t.off, humanBytes(int(t.size)))
	}
	return fmt.Sprintf("0x%X", t.off)
}

// resolveTarget turns --partition or --offset (and --size) into a target, reading the table
// from the file or the device.
func resolveTarget(env *Env, d *device, pt *ptFlags, name, offset, size string) (target, error) {
	var t target
	var err error
	if t.tableOff, err = pt.offset(); err != nil {
		return t, err
	}
	if name != "" {
		t.table, err = pt.loadTable(env, d, true)
		if err != nil {
			return t, err
		}
		if t.part, err = findPartition(t.table, name); err != nil {
			return t, err
		}
		t.off, t.size = t.part.Offset, t.part.Size
		return t, nil
	}
	if t.off, err = parseAddr("--offset", offset); err != nil {
		return t, err
	}
	if size != "" {
		if t.size, err = parseAddr("--size", size); err != nil {
			return t, err
		}
	}
	// The table is only needed for the safety checks; a blank device has none.
	t.table, err = pt.loadTable(env, d, false)
	return t, err
}

func checkNameOrOffset(name, offset string) error {
	if (name == "") == (offset == "") {
		return usagef("give exactly one of --partition NAME and --offset ADDR")
	}
	return nil
}

// checkRegion validates --partition, --offset and --size for read and erase, where an offset
// needs a size.
func checkRegion(name, offset, size string) error {
	if err := checkNameOrOffset(name, offset); err != nil {
		return err
	}
	if offset != "" && size == "" {
		return usagef("--offset needs --size")
	}
	return nil
}

func newFlashCmd(env *Env) *cobra.Command {
	var df devFlags
	var pt ptFlags
	var name, offset string
	c := &cobra.Command{
		Use:   "flash IMAGE --port PORT (--partition NAME | --offset ADDR)",
		Short: "Write an image to a device's flash, compressed, and verify it by MD5",
		Long: `Write IMAGE to the device through its ROM serial loader (no flasher stub),
compressed with zlib, and verify it with the MD5 the chip computes. The write is
reported successful only when the MD5 matches.

With --partition the offset comes from the partition table: the file given with
--partition-table, or the table read from the device at 0x8000. nvskit refuses,
unless --force: an image larger than the partition, and any write over the
bootloader, the partition table or an app partition.`,
		Example: `  nvskit flash nvs.bin --port /dev/ttyUSB0 --partition nvs
  nvskit flash nvs.bin --port COM3 --offset 0x9000
  nvskit flash nvs.bin --port socket://127.0.0.1:5555 --partition nvs --partition-table partitions.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkNameOrOffset(name, offset); err != nil {
				return err
			}
			img, err := readInput(env, args[0], fsutil.MaxImage, "a flash image (the largest ESP flash)")
			if err != nil {
				return fmt.Errorf("reading the image: %w", err)
			}
			if len(img) == 0 {
				return usagef("%s is empty", args[0])
			}
			d, err := df.connect(env)
			if err != nil {
				return err
			}
			defer d.Close()
			t, err := resolveTarget(env, d, &pt, name, offset, "")
			if err != nil {
				return err
			}
			return flashImage(env, d, &pt, t, img)
		},
	}
	df.register(c)
	pt.register(c)
	c.Flags().StringVar(&name, "partition", "", "partition name to write (from the partition table)")
	c.Flags().StringVar(&offset, "offset", "", "flash offset to write at, a multiple of 0x1000")
	return c
}

// flashImage writes img to the target and verifies it.
func flashImage(env *Env, d *device, pt *ptFlags, t target, img []byte) error {
	if t.off%0x1000 != 0 {
		return usagef("offset 0x%X is not a multiple of 0x1000 (a flash sector)", t.off)
	}
	if !pt.force {
		if t.part != nil && uint32(len(img)) > t.size {
			return refuse("the image (%d bytes) is larger than %s", len(img), t)
		}
		if err := checkWrite(t.table, t.tableOff, t.off, uint32(len(img))); err != nil {
			return err
		}
		if t.part != nil && t.part.Encrypted() {
			if on, err := d.l.FlashEncryption(); err == nil && on {
				return refuse("partition %q is flagged encrypted and flash encryption is on: the firmware reads it through flash encryption, and nvskit writes plaintext", t.part.Name)
			}
		}
	}
	bar := newProgress(env, "Writing")
	start := time.Now()
	res, err := d.l.WriteFlash(t.off, img, esploader.WriteOptions{Progress: bar.update})
	bar.finish()
	if err != nil && env.ctx().Err() != nil {
		return &partlyWritten{what: fmt.Sprintf("%s may be partly written; write it again", t), err: err}
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", t, err)
	}
	fmt.Fprintf(env.Stdout, "Wrote %d bytes (%d compressed) to %s in %.1f s; MD5 %x verified\n",
		res.Size, res.Compressed, t, time.Since(start).Seconds(), res.MD5)
	return nil
}
