package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/doctor"
	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/nvscsv"
	"github.com/nvskit/nvskit/partition"
)

// doctorFlags are doctor's own options.
type doctorFlags struct {
	keys, flashKey, csv, nvsName, scheme string
	hmacID                               int
	asJSON                               bool
}

// maxDoctorRead bounds what doctor reads of one partition (the NVS partition of a typical
// project is 24 KiB; READ_FLASH_SLOW moves 64 bytes per round trip).
const maxDoctorRead = 1 << 20

func newDoctorCmd(env *Env) *cobra.Command {
	var df devFlags
	var pt ptFlags
	var f doctorFlags
	c := &cobra.Command{
		Use:   "doctor --port PORT [--keys KEYS] [--flash-key KEY] [--partition-table T] [--csv nvs.csv]",
		Short: "Diagnose why a device cannot read its (encrypted) NVS, from the device itself",
		Long: `Read-only. Connect to the device's ROM loader and read the chip, its security
state (flash encryption, its mode, encrypted download, Secure Download Mode, the
eFuse key blocks' purposes), the partition table on the device (decrypted with
--flash-key when flash encryption is on), and the raw nvs_keys and NVS
partitions; then report each problem the firmware would hit: a stable code, the
error it returns (name and number, e.g. ESP_ERR_NVS_CORRUPT_KEY_PART 0x1117), the
evidence, and the nvskit command that fixes it.

--keys (the nvs_keys image the NVS data was encrypted with), --flash-key (the
chip's flash-encryption key), --partition-table (the project's table, also
compared with the device's) and --csv (the values expected in NVS) let it check
more. --scheme and --hmac-key-id say which NVS encryption scheme the firmware
uses when the device cannot tell. The codes are listed in docs/doctor.md.

Exit status: 0 when clean (notes only), 1 with findings, 2 for a usage error.`,
		Example: `  nvskit doctor --port /dev/ttyUSB0 --partition-table partitions.csv --keys keys/keys.bin
  nvskit doctor --port /dev/ttyUSB0 --flash-key flash_key.bin --csv nvs.csv --json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runDoctor(env, c, &df, &pt, &f)
		},
	}
	df.register(c)
	pt.register(c, "unused (hidden)", true)
	c.Flags().Lookup("force").Hidden = true
	c.Flags().StringVar(&f.keys, "keys", "", "the nvs_keys partition image the NVS data was encrypted with")
	c.Flags().StringVar(&f.flashKey, "flash-key", "", "the chip's flash-encryption key file, as espsecure uses it")
	c.Flags().StringVar(&f.csv, "csv", "", "the CSV the NVS data was made from: check its values are on the device")
	c.Flags().StringVar(&f.nvsName, "partition", "nvs", "name of the NVS partition the firmware uses")
	c.Flags().StringVar(&f.scheme, "scheme", "auto", "the firmware's NVS encryption scheme: auto, flash-enc, hmac or none")
	c.Flags().IntVar(&f.hmacID, "hmac-key-id", -1, "HMAC scheme: the eFuse key block the firmware uses (CONFIG_NVS_SEC_HMAC_EFUSE_KEY_ID)")
	c.Flags().BoolVar(&f.asJSON, "json", false, "print JSON (schema nvskit-doctor/1, see docs/doctor.md)")
	return c
}

func runDoctor(env *Env, c *cobra.Command, df *devFlags, pt *ptFlags, f *doctorFlags) error {
	facts := doctor.Facts{NVSName: f.nvsName, HMACKeyID: f.hmacID}
	switch f.scheme {
	case "auto", "":
	case "flash-enc":
		facts.Scheme = doctor.SchemeFlashEnc
	case "hmac":
		facts.Scheme = doctor.SchemeHMAC
	case "none":
		facts.Scheme = doctor.SchemeNone
	default:
		return usagef("--scheme %q: choose auto, flash-enc, hmac or none", f.scheme)
	}
	if f.hmacID < -1 || f.hmacID > 5 {
		return usagef("--hmac-key-id %d: give 0..5", f.hmacID)
	}
	facts.Inputs = doctor.Inputs{Port: df.port, KeysFile: f.keys, FlashKeyFile: f.flashKey, PartitionTable: pt.table, CSVFile: f.csv}
	// The user's files first: their errors need no device.
	if f.keys != "" {
		b, err := readKeyFile(env, f.keys, "--keys", nvs.KeysPartitionSize)
		if err != nil {
			return err
		}
		facts.UserKeys = b
	}
	if pt.table != "" {
		t, err := pt.loadTable(env, nil, true)
		if err != nil {
			return err
		}
		facts.ProjectTable = t
	}
	if f.csv != "" {
		items, err := expectedItems(env, f.csv)
		if err != nil {
			return err
		}
		facts.Expected = items
	}
	d, err := df.connect(env)
	if err != nil {
		return err
	}
	defer d.Close()
	if d.key, err = loadFlashKey(env, f.flashKey, d); err != nil {
		return err
	}
	if d.key != nil {
		facts.FlashKey, _ = readKeyFile(env, f.flashKey, "--flash-key", 64)
	}
	if err := gatherFacts(env, d, pt, &facts); err != nil {
		return err
	}
	// Ctrl-C closes the port: what failed after it is no finding, and no report is printed.
	if err := env.ctx().Err(); err != nil {
		return err
	}
	rep := doctor.NewReport(facts)
	if f.asJSON {
		e := json.NewEncoder(env.Stdout)
		e.SetIndent("", "  ")
		if err := e.Encode(rep); err != nil {
			return err
		}
	} else {
		writeDoctorText(env.Stdout, &rep)
	}
	if !rep.Clean {
		return &ExitError{Code: 1}
	}
	return nil
}

// expectedItems parses --csv as generate does (file rows resolved against the working
// directory, as nvs_partition_gen resolves them).
func expectedItems(env *Env, name string) ([]nvs.Item, error) {
	p := nvscsv.NewParser(nvscsv.Options{ReadFile: func(n string) ([]byte, error) {
		return fsutil.ReadFile(env.Path(n), fsutil.MaxFileRow, "a file row's value (a blob holds at most 508000 bytes)")
	}})
	fh, err := fsutil.Open(env.Path(name), fsutil.MaxCSV, "an NVS CSV")
	if err != nil {
		return nil, inputError("--csv", name, err)
	}
	defer fh.Close()
	if err := p.Parse(name, fh); err != nil {
		return nil, err
	}
	var items []nvs.Item
	for _, r := range p.Rows() {
		items = append(items, r.Item)
	}
	return items, nil
}

// doctorSecurity converts the loader's security state into the doctor's facts.
func doctorSecurity(s *esploader.Security) *doctor.Security {
	ds := &doctor.Security{
		FlashEncryption: s.FlashEncryption,
		CryptCount:      uint32(s.FlashCryptCnt),
		ReleaseMode:     s.Mode == "release",
		SecureBoot:      s.SecureBoot,
		SecureDownload:  s.SecureDownload,
		// The ESP32's key tweak groups: without them doctor decrypts with 0xF, which is wrong
		// for a chip whose readable FLASH_CRYPT_CONFIG holds another value.
		FlashCryptConfig: s.FlashCryptConfig,
	}
	if s.DownloadEncryptDisabled != nil {
		ds.EncryptedDownloadKnown, ds.EncryptedDownloadDisabled = true, *s.DownloadEncryptDisabled
	}
	if s.FlashKeyPresent != nil {
		ds.FlashKeyPresent = *s.FlashKeyPresent
	}
	for _, k := range s.Keys {
		if k.Purpose == nil {
			continue
		}
		kb := doctor.KeyBlock{Index: k.Index, Purpose: *k.Purpose, PurposeName: k.PurposeName}
		if k.ReadProtected != nil {
			kb.ReadProtected = *k.ReadProtected
		}
		kb.HasData = k.Blank != nil && !*k.Blank
		ds.KeyBlocks = append(ds.KeyBlocks, kb)
	}
	return ds
}

// gatherFacts reads what doctor looks at off the device: security state, table, raw
// partitions. What cannot be read is left unknown, with the reason where Facts has a place.
func gatherFacts(env *Env, d *device, pt *ptFlags, facts *doctor.Facts) error {
	facts.Chip = d.l.Chip().Name
	sec, err := d.security()
	if env.ctx().Err() != nil {
		return env.ctx().Err()
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "note: %v\n", err)
	} else {
		facts.Security = doctorSecurity(sec)
	}
	if sec != nil && sec.SecureDownload {
		facts.DeviceTableErr = "the chip is in Secure Download Mode, which refuses flash reads"
	} else {
		facts.DeviceTable, facts.DeviceTableErr = readDeviceTable(d, pt)
	}
	tbl := facts.DeviceTable
	if tbl == nil {
		tbl = facts.ProjectTable
	}
	if tbl == nil {
		return nil
	}
	read := func(p *partition.Partition) *doctor.Partition {
		dp := &doctor.Partition{Name: p.Name, Offset: p.Offset, Size: p.Size, Encrypted: p.Encrypted()}
		if sec != nil && sec.SecureDownload {
			dp.ReadErr = "the chip is in Secure Download Mode, which refuses flash reads"
			return dp
		}
		if env.ctx().Err() != nil {
			return dp // runDoctor stops before the report
		}
		n := int(min(p.Size, maxDoctorRead))
		bar := newProgress(env, "Reading "+p.Name)
		raw, err := d.l.ReadFlash(p.Offset, n, bar.update)
		bar.finish()
		if err != nil {
			dp.ReadErr = err.Error()
			return dp
		}
		dp.Raw = raw
		return dp
	}
	if p, ok := tbl.Find(facts.NVSName); ok {
		facts.NVS = read(p)
	}
	if p, ok := tbl.FindType(partition.TypeData, partition.SubtypeNVSKeys); ok {
		facts.Keys = read(p)
	}
	return nil
}

// readDeviceTable reads the partition table off the device: plain, or decrypted with
// --flash-key when flash encryption is on.
func readDeviceTable(d *device, pt *ptFlags) (*partition.Table, string) {
	t, err := (&ptFlags{tableOffset: pt.tableOffset, flashKey: true}).loadTable(d.env, d, true)
	if err != nil {
		return nil, err.Error()
	}
	return t, ""
}

// writeDoctorText is doctor's text face.
func writeDoctorText(w io.Writer, r *doctor.Report) {
	fe := "unknown"
	if s := r.Security; s != nil {
		fe = "off"
		if s.FlashEncryption {
			fe = "on (development mode)"
			if s.ReleaseMode {
				fe = "on (release mode)"
			}
		}
	}
	fmt.Fprintf(w, "Chip: %s, flash encryption %s, NVS scheme %s\n", r.Chip, fe, r.Scheme)
	bad := 0
	for _, f := range r.Findings {
		if f.Severity >= doctor.Warning {
			bad++
		}
		head := fmt.Sprintf("%s %s", f.Severity, f.Code)
		if f.Partition != "" {
			head += " [" + f.Partition + "]"
		}
		fmt.Fprintln(w)
		writeWrapped(w, head+": "+f.Message, 100, "    ")
		if !f.Firmware.IsZero() {
			fmt.Fprintf(w, "    firmware: %s\n", f.Firmware)
		}
		if f.Evidence != "" {
			var b strings.Builder
			writeWrapped(&b, "evidence: "+f.Evidence, 96, "  ")
			for _, line := range strings.SplitAfter(strings.TrimSuffix(b.String(), "\n"), "\n") {
				fmt.Fprintf(w, "    %s", line)
			}
			fmt.Fprintln(w)
		}
		if f.Fix != "" {
			// One line, so that it can be copied as it stands.
			fmt.Fprintf(w, "    fix: %s\n", strings.TrimSpace(f.Fix))
		}
	}
	fmt.Fprintln(w)
	if bad == 0 {
		fmt.Fprintf(w, "clean: nothing the firmware would trip over (%s)\n", plural(len(r.Findings), "note"))
	} else {
		fmt.Fprintf(w, "%s\n", plural(bad, "problem"))
	}
}
