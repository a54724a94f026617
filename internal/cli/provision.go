package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/partition"
)

func newProvisionCmd(env *Env) *cobra.Command {
	var df devFlags
	var pt ptFlags
	var gf genFlags
	var name, keys, save string
	var of outFlags
	c := &cobra.Command{
		Use:   "provision INPUT.csv [INPUT.csv...] --port PORT --partition NAME [--keys KEYS.bin]",
		Short: "Generate an NVS image from a CSV, flash it into a partition and verify it, in one step",
		Long: `Generate the NVS image exactly as "nvskit generate" does, sized to the
partition (from --partition-table or the table on the device), optionally
encrypt it with the keys of an nvs_keys partition image (--keys, from
generate-key or encrypt --keygen), write it and verify it by MD5. --save keeps
a copy of the image (mode 0600 unless --mode; an existing file is replaced only
with --force).`,
		Example: `  nvskit provision nvs.csv --port /dev/ttyUSB0 --partition nvs
  nvskit provision nvs.csv --port COM3 --partition nvs --keys keys/keys.bin --save nvs-device42.bin`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if name == "" {
				return usagef("--partition is required (the NVS partition's name, usually nvs)")
			}
			if gf.version != 1 && gf.version != 2 {
				return usagef("--version %d: must be 1 or 2", gf.version)
			}
			o, err := of.options(pt.force)
			if err != nil {
				return err
			}
			if save != "" {
				if err := checkNew(o, env.Path(save)); err != nil {
					return err
				}
			}
			var k *nvs.Keys
			if keys != "" {
				kk, err := loadKeysPartition(env, keys)
				if err != nil {
					return err
				}
				k = &kk
			}
			tableOff, err := pt.offset()
			if err != nil {
				return err
			}
			// With a table file the image can be built (and its errors shown) before connecting.
			var t target
			var img []byte
			if pt.table != "" {
				tbl, err := pt.loadTable(env, nil, true)
				if err != nil {
					return err
				}
				if t, err = partTarget(tbl, tableOff, name); err != nil {
					return err
				}
				if img, err = provisionImage(env, &gf, args, t.part, k, save, o); err != nil {
					return err
				}
			}
			d, err := df.connect(env)
			if err != nil {
				return err
			}
			defer d.Close()
			if img == nil {
				tbl, err := pt.loadTable(env, d, true)
				if err != nil {
					return err
				}
				if t, err = partTarget(tbl, tableOff, name); err != nil {
					return err
				}
				if img, err = provisionImage(env, &gf, args, t.part, k, save, o); err != nil {
					return err
				}
			}
			return flashImage(env, d, &pt, t, img)
		},
	}
	df.register(c)
	pt.register(c)
	gf.register(c)
	c.Flags().Lookup("outdir").Hidden = true
	c.Flags().StringVar(&name, "partition", "", "NVS partition name (from the partition table)")
	c.Flags().StringVar(&keys, "keys", "", "nvs_keys partition image: encrypt the NVS image with its keys")
	c.Flags().StringVar(&save, "save", "", "also save the image written to this file")
	of.register(c, env, fsutil.DefaultMode, &pt.force)
	return c
}

func partTarget(tbl *partition.Table, tableOff uint32, name string) (target, error) {
	p, err := findPartition(tbl, name)
	if err != nil {
		return target{}, err
	}
	return target{off: p.Offset, size: p.Size, part: p, table: tbl, tableOff: tableOff}, nil
}

// provisionImage builds the NVS image for the partition with generate's code path.
func provisionImage(env *Env, gf *genFlags, inputs []string, p *partition.Partition, k *nvs.Keys, save string, o fsutil.Options) ([]byte, error) {
	if p.Type != partition.TypeData || p.SubType != partition.SubtypeNVS {
		return nil, refuse("partition %q is %s/%s, not data/nvs", p.Name, partition.TypeName(p.Type), partition.SubtypeName(p.Type, p.SubType))
	}
	if err := nvs.CheckSize(int(p.Size)); err != nil {
		return nil, fmt.Errorf("partition %q: %w", p.Name, err)
	}
	j := &genJob{env: env, inputs: inputs, size: int(p.Size), version: nvs.Version(gf.version), baseDir: env.Path(gf.baseDir),
		sizeFrom: fmt.Sprintf("partition %q in the partition table", p.Name)}
	img, err := j.build()
	if err != nil {
		return nil, err
	}
	if k != nil {
		if img, err = nvs.Encrypt(img, *k); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(env.Stderr, "Generated %s\n", summary(j.stats))
	if save != "" {
		path := env.Path(save)
		if err := j.checkOutput(path); err != nil {
			return nil, err
		}
		if err := writeOutput(path, img, o); err != nil {
			return nil, err
		}
	}
	return img, nil
}
