package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/partition"
)

func newProvisionCmd(env *Env) *cobra.Command {
	var df devFlags
	var pt ptFlags
	var gf genFlags
	var ef encFlags
	var name, keys, save, keysPart, hmacKey string
	var hmacID int
	var of outFlags
	c := &cobra.Command{
		Use:   "provision INPUT.csv [INPUT.csv...] --port PORT --partition NAME [--keys KEYS.bin [--flash-key KEY] | --hmac-key-id N (--keys KEYS.bin | --hmac-key HMAC.bin)]",
		Short: "Generate an NVS image from a CSV, flash it into a partition and verify it, in one step",
		Long: `Generate the NVS image exactly as "nvskit generate" does, sized to the
partition (from --partition-table or the table on the device), optionally
encrypt it with the keys of an nvs_keys partition image (--keys, from
generate-key or encrypt --keygen), write it and verify it by MD5.

With --keys on a device using ESP-IDF's flash-encryption-based NVS scheme
(nvs_keys partition), provision also writes the keys partition, through the
chip's flash encryption (as flash --encrypt does: the ROM's encrypted write, or
host-side with --flash-key), and the NVS partition plain (NVS encrypts its own
entries; written through flash encryption it would be encrypted twice), in one
step. It refuses what cannot work: no nvs_keys partition in the table of a chip
with flash encryption on (with it off, only the encrypted NVS image is written), an NVS
partition flagged encrypted (ESP_ERR_NVS_WRONG_ENCRYPTION), an nvs_keys
partition not flagged encrypted, and flash encryption off (with --force the keys
are written plain, for a device whose bootloader enables flash encryption, and
encrypts nvs_keys, at its next boot).

With --hmac-key-id N (CONFIG_NVS_SEC_HMAC_EFUSE_KEY_ID) the HMAC-based scheme:
the keys come from --keys (generate-key --key_protect_hmac) or are derived from
--hmac-key; provision checks that eFuse BLOCK_KEYN holds an HMAC_UP key and
writes only the NVS partition. nvskit does not burn eFuses: it names the
espefuse command that does.

On a chip with flash encryption on the table on the device is encrypted: give
--partition-table (or --flash-key to decrypt it). --save keeps a copy of the
image (mode 0600 unless --mode; an existing file is replaced only with --force).`,
		Example: `  nvskit provision nvs.csv --port /dev/ttyUSB0 --partition nvs
  nvskit provision nvs.csv --port COM3 --partition nvs --keys keys/keys.bin --save nvs-device42.bin
  nvskit provision nvs.csv --port /dev/ttyUSB0 --partition nvs --keys keys/keys.bin --partition-table partitions.csv
  nvskit provision nvs.csv --port /dev/ttyUSB0 --partition nvs --hmac-key-id 0 --hmac-key hmac_key.bin --partition-table partitions.csv`,
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
			hmac := c.Flags().Changed("hmac-key-id")
			if hmac && (hmacID < 0 || hmacID > 5) {
				return usagef("--hmac-key-id %d: give the eFuse key block 0..5 the firmware uses (CONFIG_NVS_SEC_HMAC_EFUSE_KEY_ID)", hmacID)
			}
			if hmacKey != "" && !hmac {
				return usagef("--hmac-key goes with --hmac-key-id N (the eFuse key block the firmware uses)")
			}
			if hmac && (hmacKey == "") == (keys == "") {
				return usagef("--hmac-key-id needs exactly one of --keys KEYS.bin and --hmac-key HMAC.bin")
			}
			if hmac && (keysPart != "" || ef.flashKey != "") {
				return usagef("the HMAC scheme writes no nvs_keys partition: --keys-partition and --flash-key do not apply")
			}
			if keys == "" && !hmac && (keysPart != "" || ef.flashKey != "") {
				return usagef("--keys-partition and --flash-key go with --keys")
			}
			var k *nvs.Keys
			switch {
			case hmacKey != "":
				raw, err := readKeyFile(env, hmacKey, "--hmac-key", 64)
				if err != nil {
					return err
				}
				kk, err := nvs.KeysFromHMAC(raw)
				if err != nil {
					return fmt.Errorf("--hmac-key %s: %w", hmacKey, err)
				}
				k = &kk
			case keys != "":
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
			if d.key, err = loadFlashKey(env, ef.flashKey, d); err != nil {
				return err
			}
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
			if k != nil && !hmac && keysPart == "" {
				// No nvs_keys partition but an HMAC_UP key burnt: the firmware uses the HMAC scheme.
				if _, ok := t.table.FindType(partition.TypeData, partition.SubtypeNVSKeys); !ok {
					if id, ok := hmacUpBlock(d); ok {
						fmt.Fprintf(env.Stderr, "note: the table has no nvs_keys partition and eFuse BLOCK_KEY%d holds an HMAC_UP key: provisioning for the HMAC-based scheme (--hmac-key-id %d)\n", id, id)
						hmac, hmacID = true, id
					}
				}
			}
			switch {
			case hmac:
				if err := checkHMACScheme(d, t, hmacID, pt.force); err != nil {
					return err
				}
			case k != nil:
				kt, err := checkFlashEncScheme(env, d, t, keysPart, pt.force)
				if err != nil {
					return err
				}
				if kt != nil {
					if err := writeKeysPartition(env, d, &pt, *kt, k); err != nil {
						return err
					}
					// From here on an interruption leaves the device with new keys and the old
					// NVS data, which they cannot read: never "nothing was written".
					keysWritten := fmt.Sprintf("the nvs_keys partition %q already holds the new keys and %s is not (or only partly) written: run the same command again", kt.part.Name, t)
					if err := env.ctx().Err(); err != nil {
						return &partlyWritten{what: keysWritten, err: err}
					}
					if err := flashImage(env, d, &pt, t, img, "the generated image", false); err != nil {
						var pw *partlyWritten
						if errors.As(err, &pw) {
							return &partlyWritten{what: keysWritten, err: pw.err}
						}
						return fmt.Errorf("%w; the nvs_keys partition %q already holds the new keys, so run the same command again: the NVS data encrypted with the old keys can no longer be read", err, kt.part.Name)
					}
					return nil
				}
			default:
				if err := checkPlainNVS(env, d, t, pt.force); err != nil {
					return err
				}
			}
			return flashImage(env, d, &pt, t, img, "the generated image", false)
		},
	}
	df.register(c)
	pt.register(c, "do it even when nvskit would refuse: a partition or flash-encryption state that does not suit the NVS scheme, a write over the bootloader, the partition table or an app partition, a --save file that exists already", true)
	gf.register(c)
	c.Flags().Lookup("outdir").Hidden = true
	c.Flags().StringVar(&name, "partition", "", "NVS partition name (from the partition table)")
	c.Flags().StringVar(&keys, "keys", "", "nvs_keys partition image: encrypt the NVS image with its keys (and, for the flash-encryption scheme, write it to the nvs_keys partition)")
	c.Flags().StringVar(&keysPart, "keys-partition", "", "name of the nvs_keys partition (default: the first data/nvs_keys partition, as ESP-IDF picks it)")
	c.Flags().IntVar(&hmacID, "hmac-key-id", -1, "HMAC-based scheme: the eFuse key block (0..5) the firmware uses (CONFIG_NVS_SEC_HMAC_EFUSE_KEY_ID)")
	c.Flags().StringVar(&hmacKey, "hmac-key", "", "HMAC-based scheme: the 32-byte HMAC key burnt into BLOCK_KEYN; the NVS keys are derived from it")
	ef.registerKey(c)
	c.Flags().StringVar(&save, "save", "", "also save the image written to this file")
	of.register(c, env, fsutil.DefaultMode, &pt.force)
	return c
}

// nvsWrongEncryption explains why an NVS partition must not carry the encrypted flag.
func nvsWrongEncryption(p *partition.Partition) string {
	return fmt.Sprintf("partition %q is flagged encrypted: with flash encryption on, nvs_flash_init fails with ESP_ERR_NVS_WRONG_ENCRYPTION (0x1119) (NVS encrypts its own entries; only nvs_keys is flash-encrypted); remove \"encrypted\" from its row in the partition table, rebuild and flash the table", p.Name)
}

// checkPlainNVS checks a provisioning without keys: an NVS partition flagged encrypted on a
// chip with flash encryption on cannot be mounted, and such firmware usually encrypts NVS.
func checkPlainNVS(env *Env, d *device, t target, force bool) error {
	sec, err := d.security()
	if err != nil || !sec.FlashEncryption {
		return nil
	}
	if t.part.Encrypted() && !force {
		return refuse("%s", nvsWrongEncryption(t.part))
	}
	fmt.Fprintf(env.Stderr, "note: flash encryption is on; ESP-IDF then encrypts NVS by default (CONFIG_NVS_ENCRYPTION), and such firmware cannot read a plain image: pass --keys unless the firmware turned NVS encryption off\n")
	return nil
}

// checkFlashEncScheme checks the flash-encryption-based scheme and returns the nvs_keys target:
// nil when the table has no nvs_keys partition on a chip with flash encryption off, where only
// the encrypted NVS image is written (its keys reach the device some other way).
func checkFlashEncScheme(env *Env, d *device, t target, keysPart string, force bool) (*target, error) {
	var kp *partition.Partition
	if keysPart != "" {
		p, err := findPartition(t.table, keysPart)
		if err != nil {
			return nil, err
		}
		if p.Type != partition.TypeData || p.SubType != partition.SubtypeNVSKeys {
			return nil, fmt.Errorf("--keys-partition %q is %s/%s, not data/nvs_keys", p.Name, partition.TypeName(p.Type), partition.SubtypeName(p.Type, p.SubType))
		}
		kp = p
	} else if p, ok := t.table.FindType(partition.TypeData, partition.SubtypeNVSKeys); ok {
		kp = p
	}
	sec, err := d.security()
	if err != nil {
		return nil, err
	}
	if kp == nil && !sec.FlashEncryption {
		fmt.Fprintf(env.Stderr, "note: the partition table has no nvs_keys partition: writing the encrypted NVS image only; the firmware must get these keys some other way (the HMAC scheme: pass --hmac-key-id N to check the eFuse key block)\n")
		return nil, nil
	}
	if kp == nil {
		return nil, fmt.Errorf("the partition table has no nvs_keys partition (data, nvs_keys): the firmware's flash-encryption-based scheme fails with ESP_ERR_INVALID_ARG (0x102) (ESP_FAIL before ESP-IDF v5.2); add the row \"nvs_keys, data, nvs_keys, , 0x1000, encrypted\" to the table, rebuild and flash it, or use the HMAC scheme (--hmac-key-id)")
	}
	if kp.Size < nvs.KeysPartitionSize {
		return nil, fmt.Errorf("partition %q is 0x%X bytes; an nvs_keys partition holds a 0x%X-byte keys image", kp.Name, kp.Size, nvs.KeysPartitionSize)
	}
	if !force {
		if t.part.Encrypted() {
			return nil, refuse("%s", nvsWrongEncryption(t.part))
		}
		if !kp.Encrypted() {
			return nil, refuse("the nvs_keys partition %q is not flagged encrypted: ESP-IDF requires the flag (the bootloader and esp_partition then treat it as flash-encrypted); add \"encrypted\" to its row, rebuild and flash the table", kp.Name)
		}
		if !sec.FlashEncryption {
			return nil, refuse("flash encryption is off on the %s: the flash-encryption-based NVS scheme needs it on, and keys written through flash encryption now would not be readable. If the firmware enables flash encryption at its next boot, --force writes the keys plain, and that boot's bootloader encrypts them", sec.Chip)
		}
	}
	return &target{off: kp.Offset, size: kp.Size, part: kp, table: t.table, tableOff: t.tableOff}, nil
}

// writeKeysPartition writes the keys image into nvs_keys: through flash encryption when it is
// on, plain otherwise (forced: the bootloader encrypts it when it enables flash encryption).
func writeKeysPartition(env *Env, d *device, pt *ptFlags, kt target, k *nvs.Keys) error {
	sec, err := d.security()
	if err != nil {
		return err
	}
	img := k.MarshalPartition()
	if !sec.FlashEncryption {
		fmt.Fprintf(env.Stderr, "note: flash encryption is off: writing the keys plain, for the bootloader to encrypt when it enables flash encryption\n")
	}
	return flashImage(env, d, pt, kt, img, "the keys image", sec.FlashEncryption)
}

// checkHMACScheme checks the HMAC-based scheme: the chip has the HMAC peripheral and eFuse
// BLOCK_KEYN holds an HMAC_UP key.
func checkHMACScheme(d *device, t target, id int, force bool) error {
	sec, err := d.security()
	if err != nil {
		return err
	}
	if !sec.HMAC {
		return fmt.Errorf("the %s has no HMAC peripheral, so no HMAC-based NVS scheme: use the flash-encryption-based scheme (--keys with an nvs_keys partition)", sec.Chip)
	}
	if sec.FlashEncryption && t.part.Encrypted() && !force {
		return refuse("%s", nvsWrongEncryption(t.part))
	}
	kb, ok := sec.HMACKey(id)
	if !ok {
		return fmt.Errorf("the key purposes of the %s cannot be read, so BLOCK_KEY%d cannot be checked", sec.Chip, id)
	}
	burn := fmt.Sprintf("espefuse.py --port PORT burn-key BLOCK_KEY%d hmac_key.bin HMAC_UP", id)
	switch {
	case *kb.Purpose == esploader.PurposeHMACUp:
		return nil
	case *kb.Purpose == esploader.PurposeUser && (kb.Blank == nil || *kb.Blank) && (kb.ReadProtected == nil || !*kb.ReadProtected):
		return fmt.Errorf("eFuse BLOCK_KEY%d is empty: at its first boot the firmware would burn a random HMAC key of its own (ESP_ERR_NVS_SEC_HMAC_KEY_NOT_FOUND, 0xF001, then generation), which cannot decrypt this image; burn your HMAC key first (nvskit does not burn eFuses): %s", id, burn)
	}
	return fmt.Errorf("eFuse BLOCK_KEY%d holds a %s key, not HMAC_UP: the firmware fails with ESP_ERR_NVS_SEC_HMAC_KEY_NOT_FOUND (0xF001), then ESP_ERR_NVS_SEC_HMAC_KEY_GENERATION_FAILED (0xF003); choose a free block for CONFIG_NVS_SEC_HMAC_EFUSE_KEY_ID and burn the HMAC key there: %s", id, kb.PurposeName, burn)
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
	fmt.Fprintf(env.Stderr, "Generated the image: %s\n", summary(j.stats))
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

// hmacUpBlock returns the first eFuse key block with the HMAC_UP purpose.
func hmacUpBlock(d *device) (int, bool) {
	sec, err := d.security()
	if err != nil || !sec.HMAC {
		return 0, false
	}
	for _, k := range sec.Keys {
		if k.Purpose != nil && *k.Purpose == esploader.PurposeHMACUp {
			return k.Index, true
		}
	}
	return 0, false
}
