package cli

import (
	"bytes"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
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
	var ef encFlags
	var name, offset string
	c := &cobra.Command{
		Use:   "flash IMAGE --port PORT (--partition NAME | --offset ADDR) [--encrypt [--flash-key KEY]]",
		Short: "Write an image to a device's flash and verify it by MD5",
		Long: `Write IMAGE to the device through its ROM serial loader (no flasher stub) and
verify it with the MD5 the chip computes. The write is reported successful only
when the MD5 matches. It is compressed with zlib where the chip's ROM programs
exactly the image (ESP32-C3), and uncompressed elsewhere (the ESP32 ROM programs
up to 32 KiB past a compressed image; trailing 0xFF blocks are left to the erase).

With --partition the offset comes from the partition table: the file given with
--partition-table, or the table read from the device at 0x8000 (on a chip with
flash encryption on that table is encrypted: give --partition-table, or
--flash-key to decrypt it). nvskit refuses, unless --force: an image larger than
the partition, any write over the bootloader, the partition table or an app
partition, data of the wrong kind for the partition (into a data/nvs partition
only an NVS image, plain or encrypted; into data/nvs_keys only a keys partition
with a valid CRC), and, while flash encryption is on, a plain write into (or running
into) a partition the firmware reads through flash encryption (flagged encrypted,
or nvs_keys), or starting outside every known partition.

An image smaller than an NVS or nvs_keys partition is padded with 0xFF to the
partition's size: the rest of the partition is erased, so that the device reads
exactly the new image and nothing of the old content.

--encrypt writes through the chip's flash encryption: with the ROM's encrypted
write (ESP32-S2 and later, encrypted download allowed, a key burnt), verified
when --flash-key gives the chip's key and otherwise reported as not verifiable;
or, where the ROM cannot (ESP32, release mode), encrypted on the host with
--flash-key and verified by the chip's MD5 of the ciphertext. It refuses when
flash encryption is off (unless --force), when no key is burnt, and in Secure
Download Mode (nothing can be verified there).`,
		Example: `  nvskit flash nvs.bin --port /dev/ttyUSB0 --partition nvs
  nvskit flash nvs.bin --port COM3 --offset 0x9000
  nvskit flash nvs.bin --port socket://127.0.0.1:5555 --partition nvs --partition-table partitions.csv
  nvskit flash nvs_keys.bin --port /dev/ttyUSB0 --partition nvs_keys --partition-table partitions.csv --encrypt
  nvskit flash nvs_keys.bin --port /dev/ttyUSB0 --partition nvs_keys --partition-table partitions.csv --encrypt --flash-key flash_key.bin`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkNameOrOffset(name, offset); err != nil {
				return err
			}
			if ef.flashKey != "" && !ef.encrypt {
				return usagef("--flash-key goes with --encrypt (to write plaintext, leave both out)")
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
			if d.key, err = loadFlashKey(env, ef.flashKey, d); err != nil {
				return err
			}
			t, err := resolveTarget(env, d, &pt, name, offset, "")
			if err != nil {
				return err
			}
			return flashImage(env, d, &pt, t, img, args[0], ef.encrypt)
		},
	}
	df.register(c)
	pt.register(c, "write even when nvskit would refuse: over the bootloader, the partition table or an app partition; an image too large or of the wrong kind for the partition; a plain write where flash encryption reads it; --encrypt with flash encryption off or into an NVS data partition", true)
	c.Flags().BoolVar(&ef.encrypt, "encrypt", false, "write through the chip's flash encryption (the ROM's encrypted write, or host-side with --flash-key)")
	ef.registerKey(c)
	c.Flags().StringVar(&name, "partition", "", "partition name to write (from the partition table)")
	c.Flags().StringVar(&offset, "offset", "", "flash offset to write at, a multiple of 0x1000")
	return c
}

// dataKind checks that img is the kind of data the partition holds: an NVS image for a
// data/nvs partition (plain or encrypted: the page headers are plaintext either way), a keys
// partition with a valid CRC for data/nvs_keys. Other partitions are not checked.
func dataKind(img []byte, name string, p *partition.Partition) error {
	if p == nil || p.Type != partition.TypeData {
		return nil
	}
	switch p.SubType {
	case partition.SubtypeNVS:
		if err := nvs.Recognize(img); err != nil {
			return refuse("%s is not an NVS partition image (%v), and partition %q is data/nvs; write an image made by nvskit generate, encrypt or mfg", name, err, p.Name)
		}
		// An NVS image with damaged pages: the device would treat them as corrupt and erase them.
		im, err := nvs.Parse(img)
		if err != nil {
			return refuse("%s is not an NVS partition image (%v), and partition %q is data/nvs", name, err, p.Name)
		}
		if f := im.DamagedPage(); f != nil {
			return refuse("%s is an NVS image with a damaged page (page %d: %s), which the device would erase; partition %q is data/nvs", name, f.Page, f.Message, p.Name)
		}
	case partition.SubtypeNVSKeys:
		if _, err := nvs.ParseKeysPartition(img); err != nil {
			return refuse("%s is not an nvs_keys partition image (%v), and partition %q is data/nvs_keys; write a keys file made by nvskit generate-key or encrypt --keygen", name, err, p.Name)
		}
	}
	return nil
}

// containing returns the partition of the target: the one named, or the one holding its offset.
func (t target) containing() *partition.Partition {
	if t.part != nil || t.table == nil {
		return t.part
	}
	for i := range t.table.Partitions {
		p := &t.table.Partitions[i]
		if uint64(t.off) >= uint64(p.Offset) && uint64(t.off) < p.End() {
			return p
		}
	}
	return nil
}

// checkPlainWrite refuses a plain write of n bytes at t that the firmware would read through
// flash encryption: one that touches a partition flagged encrypted or nvs_keys (not just the
// partition it starts in) while flash encryption is on, or, with flash encryption on, one that
// starts outside every known partition, where nvskit cannot tell (esptool refuses plain writes
// on such a chip in release mode and in Secure Download Mode; erase refuses the same ranges).
func checkPlainWrite(d *device, t target, n uint32) error {
	var enc []*partition.Partition
	if t.part != nil {
		enc = append(enc, t.part)
	}
	if t.table != nil {
		end := uint64(t.off) + uint64(n)
		for i := range t.table.Partitions {
			if p := &t.table.Partitions[i]; uint64(t.off) < p.End() && uint64(p.Offset) < end {
				enc = append(enc, p)
			}
		}
	}
	var p *partition.Partition
	for _, q := range enc {
		if readByFirmware(q) {
			p = q
			break
		}
	}
	known := t.containing() != nil
	if p == nil && known {
		return nil
	}
	sec, err := d.security()
	if err != nil {
		if p == nil {
			return nil // a range in no partition of a chip whose state cannot be read: as before
		}
		return refuse("partition %q is read through flash encryption when it is on, and the security state cannot be read (%v); write it with --encrypt", p.Name, err)
	}
	if !sec.FlashEncryption {
		return nil
	}
	if p == nil {
		return refuse("the %s reports flash encryption on and 0x%X is not in a known partition, so nvskit cannot tell whether the firmware reads it through flash encryption (plaintext there would read as garbage); write by --partition NAME with --partition-table, or with --encrypt", sec.Chip, t.off)
	}
	what := "is flagged encrypted"
	if !p.Encrypted() {
		what = "is an nvs_keys partition (ESP-IDF reads it through flash encryption whatever its flag)"
	}
	return refuse("partition %q %s and flash encryption is on: the firmware reads it through flash encryption, so the plaintext written here would read as garbage; write it with --encrypt", p.Name, what)
}

// flashImage writes img to the target and verifies it; with encrypt, through the chip's flash
// encryption (see writeEncrypted). An image smaller than an NVS or nvs_keys partition is padded
// with 0xFF to the partition's size, so that the device finds nothing of the old content after
// it.
func flashImage(env *Env, d *device, pt *ptFlags, t target, img []byte, name string, encrypt bool) error {
	if t.off%0x1000 != 0 {
		return usagef("offset 0x%X is not a multiple of 0x1000 (a flash sector)", t.off)
	}
	if !pt.force {
		if t.part != nil && uint32(len(img)) > t.size {
			return refuse("the image (%d bytes) is larger than %s", len(img), t)
		}
		// With --offset, a write that starts where an NVS or nvs_keys partition starts is
		// checked the same way.
		kind := t.part
		if kind == nil && t.table != nil {
			for i := range t.table.Partitions {
				if p := &t.table.Partitions[i]; p.Offset == t.off {
					kind = p
				}
			}
		}
		if err := dataKind(img, name, kind); err != nil {
			return err
		}
		if err := checkWrite(t.table, t.tableOff, t.off, uint32(len(img))); err != nil {
			return err
		}
		if !encrypt {
			if err := checkPlainWrite(d, t, uint32(len(img))); err != nil {
				return err
			}
		}
	}
	padded := 0
	if p := t.part; p != nil && p.Type == partition.TypeData && (p.SubType == partition.SubtypeNVS || p.SubType == partition.SubtypeNVSKeys) && uint32(len(img)) < t.size {
		padded = int(t.size) - len(img)
		img = append(append([]byte(nil), img...), bytes.Repeat([]byte{0xFF}, padded)...)
	}
	if encrypt {
		if p := t.containing(); !pt.force && p != nil && p.Type == partition.TypeData && p.SubType == partition.SubtypeNVS {
			return refuse("partition %q is an NVS data partition, which is never flash-encrypted: NVS encrypts its own entries (nvskit encrypt, or provision --keys), and the firmware reads the page headers as stored; written with --encrypt it finds no valid page. Write it without --encrypt", p.Name)
		}
		return writeEncrypted(env, d, t, img, d.key, pt.force)
	}
	bar := newProgress(env, "Writing")
	start := time.Now()
	res, err := writeRange(env, t, func() (esploader.WriteResult, error) {
		return d.l.WriteFlash(t.off, img, esploader.WriteOptions{Progress: bar.update})
	})
	bar.finish()
	if err != nil {
		return fmt.Errorf("writing %s: %w", t, err)
	}
	how := fmt.Sprintf("%d compressed", res.Compressed)
	if res.Compressed == 0 {
		how = fmt.Sprintf("uncompressed, %d sent", res.Sent)
	}
	rest := ""
	if padded > 0 {
		rest = fmt.Sprintf(" (the image's %d bytes, then %s erased to the partition's end)", res.Size-padded, humanBytes(padded))
	}
	fmt.Fprintf(env.Stdout, "Wrote %d bytes%s (%s) to %s in %.1f s; MD5 %x verified\n",
		res.Size, rest, how, t, time.Since(start).Seconds(), res.MD5)
	return nil
}

// writeRange runs write, a write into t's range of the flash. While it runs, an interruption
// is reported as leaving t partly written; a write that stopped because the run was
// interrupted returns that account (*partlyWritten) instead of the loader's error.
func writeRange[R any](env *Env, t target, write func() (R, error)) (R, error) {
	what := fmt.Sprintf("%s may be partly written; write it again", t)
	done := env.writing(what)
	res, err := write()
	done()
	if err != nil && env.ctx().Err() != nil {
		return res, &partlyWritten{what: what, err: err}
	}
	return res, err
}
