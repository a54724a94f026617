package doctor

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/nvskit/nvskit/flashcrypt"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/partition"
)

// Partition types of the table the rules look for.
const (
	typeData       = 0x01
	subtypeNVS     = 0x02
	subtypeNVSKeys = 0x04
)

// keysLen is the part of the keys partition the firmware reads: 64 key bytes and their CRC.
const keysLen = nvs.KeysLen + 4

// devicePattern is what nvs_flash_generate_keys writes raw into the keys partition before it
// reads it back through flash decryption: the fingerprint of keys the firmware made itself.
var devicePattern = func() []byte {
	var b []byte
	for _, v := range []byte{0xFF, 0x99, 0xEE, 0x88} {
		b = append(b, bytes.Repeat([]byte{v}, 16)...)
	}
	return b
}()

// Diagnose applies every rule to f and returns the findings, errors first, then warnings, then
// notes, each group in the order the rules ran. It does no I/O and never panics, whatever the
// raw bytes hold. A clean device gives no finding of severity Warning or Error.
func Diagnose(f Facts) []Finding {
	d := &diag{f: &f}
	d.scheme = inferScheme(&f)
	d.checkSecurity()
	d.checkTables()
	d.checkHMAC()
	d.checkKeys()
	d.checkNVS()
	sort.SliceStable(d.out, func(i, j int) bool { return d.out[i].Severity > d.out[j].Severity })
	return d.out
}

// inferScheme returns the scheme Diagnose assumes: f.Scheme when given; else the
// flash-encryption scheme when the table has an nvs_keys partition (or one was read); else
// the HMAC scheme when an eFuse key block has the HMAC_UP purpose; else unknown.
func inferScheme(f *Facts) Scheme {
	if f.Scheme != SchemeUnknown {
		return f.Scheme
	}
	if f.Keys != nil {
		return SchemeFlashEnc
	}
	if t := table(f); t != nil {
		if _, ok := t.FindType(typeData, subtypeNVSKeys); ok {
			return SchemeFlashEnc
		}
	}
	if f.Security != nil {
		for _, kb := range f.Security.KeyBlocks {
			if kb.Purpose == PurposeHMACUp {
				return SchemeHMAC
			}
		}
	}
	return SchemeUnknown
}

// table returns the table the firmware uses: the device's when it could be read, else the
// project's.
func table(f *Facts) *partition.Table {
	if f.DeviceTable != nil {
		return f.DeviceTable
	}
	return f.ProjectTable
}

type diag struct {
	f      *Facts
	scheme Scheme
	out    []Finding

	// deviceKeys are the NVS keys the firmware uses, when the keys partition told them.
	deviceKeys *nvs.Keys
	// keysBroken: a keys finding already explains why the NVS data cannot be read.
	keysBroken bool
}

func (d *diag) add(f Finding) { d.out = append(d.out, f) }

// fe reports flash encryption on, and whether that is known.
func (d *diag) fe() (on, known bool) {
	if d.f.Security == nil {
		return false, false
	}
	return d.f.Security.FlashEncryption, true
}

func (d *diag) nvsName() string {
	if d.f.NVSName != "" {
		return d.f.NVSName
	}
	if d.f.NVS != nil && d.f.NVS.Name != "" {
		return d.f.NVS.Name
	}
	return "nvs"
}

func (d *diag) keysName() string {
	if d.f.Keys != nil && d.f.Keys.Name != "" {
		return d.f.Keys.Name
	}
	if t := table(d.f); t != nil {
		if p, ok := t.FindType(typeData, subtypeNVSKeys); ok {
			return p.Name
		}
	}
	return "nvs_keys"
}

// ---------------------------------------------------------------------------------------------
// Fix commands

func or(s, placeholder string) string {
	if s == "" {
		return placeholder
	}
	return s
}

// needFlashKey: the write must be encrypted on the host (the ROM cannot, or may not, do it).
func (d *diag) needFlashKey() bool {
	s := d.f.Security
	return d.f.Inputs.FlashKeyFile != "" || strings.EqualFold(d.f.Chip, "ESP32") ||
		(s != nil && (s.ReleaseMode || s.SecureDownload || (s.EncryptedDownloadKnown && s.EncryptedDownloadDisabled)))
}

// port returns the --port option of a fix command.
func (d *diag) port() string { return " --port " + or(d.f.Inputs.Port, "PORT") }

func (d *diag) tableOpt() string {
	if d.f.Inputs.PartitionTable != "" {
		return " --partition-table " + d.f.Inputs.PartitionTable
	}
	if on, _ := d.fe(); on || d.f.DeviceTable == nil {
		// With flash encryption on the table on flash is ciphertext: name the build's table.
		return " --partition-table PARTITIONS.csv"
	}
	return ""
}

func (d *diag) flashKeyOpt() string {
	if d.needFlashKey() {
		return " --flash-key " + or(d.f.Inputs.FlashKeyFile, "FLASH_KEY.bin")
	}
	return ""
}

// fixKeysEncrypted writes the user's keys image through flash encryption.
func (d *diag) fixKeysEncrypted() string {
	s := "nvskit flash " + or(d.f.Inputs.KeysFile, "KEYS.bin") + d.port() + " --partition " + d.keysName() +
		" --encrypt" + d.flashKeyOpt() + d.tableOpt()
	if d.f.Inputs.FlashKeyFile == "" && strings.EqualFold(d.f.Chip, "ESP32") {
		s += " (the ESP32 ROM cannot encrypt: without the chip's flash key, erase " + d.keysName() + " and " + d.nvsName() +
			" together instead and let the firmware make its own keys)"
	}
	return s
}

// fixKeysPlain writes the user's keys image as it is.
func (d *diag) fixKeysPlain() string {
	return "nvskit flash " + or(d.f.Inputs.KeysFile, "KEYS.bin") + d.port() + " --partition " + d.keysName() + d.tableOpt()
}

// fixProvision writes the NVS image (and, for the flash-encryption scheme, the keys).
func (d *diag) fixProvision() string {
	s := "nvskit provision " + or(d.f.Inputs.CSVFile, "nvs.csv") + d.port() + " --partition " + d.nvsName()
	if d.scheme != SchemeNone {
		s += " --keys " + or(d.f.Inputs.KeysFile, "KEYS.bin")
		if d.scheme == SchemeFlashEnc {
			s += d.flashKeyOpt()
			if on, known := d.fe(); known && !on {
				// provision refuses the scheme with flash encryption off unless forced: the
				// keys go in plain, for the bootloader to encrypt when it turns it on.
				s += " --force"
			}
		}
		if d.scheme == SchemeHMAC && d.f.HMACKeyID >= 0 && d.f.HMACKeyID <= 5 {
			s += fmt.Sprintf(" --hmac-key-id %d", d.f.HMACKeyID)
		}
	}
	return s + d.tableOpt()
}

// fixProvisionPlain writes an unencrypted NVS image.
func (d *diag) fixProvisionPlain() string {
	return "nvskit provision " + or(d.f.Inputs.CSVFile, "nvs.csv") + d.port() + " --partition " + d.nvsName() + d.tableOpt()
}

// fixDoctorWithTable reruns doctor with the build's partition table.
func (d *diag) fixDoctorWithTable() string {
	return "nvskit doctor" + d.port() + " --partition-table " + or(d.f.Inputs.PartitionTable, "PARTITIONS.csv")
}

// ---------------------------------------------------------------------------------------------
// Security state

func (d *diag) checkSecurity() {
	s := d.f.Security
	if s == nil {
		d.add(Finding{Code: CodeSecurityUnknown, Severity: Info,
			Message:  "the chip's security state could not be read; rules that depend on flash encryption were skipped",
			Evidence: fmt.Sprintf("chip %s: no security information", or(d.f.Chip, "unknown"))})
		return
	}
	if s.SecureDownload {
		d.add(Finding{Code: CodeSecureDownload, Severity: Info,
			Message:  "the ROM runs in Secure Download Mode: flash and eFuse registers cannot be read, so the partitions were not checked",
			Evidence: "GET_SECURITY_INFO reports Secure Download Mode"})
	}
}

// ---------------------------------------------------------------------------------------------
// Partition tables

func (d *diag) checkTables() {
	f := d.f
	on, known := d.fe()
	if f.DeviceTable == nil && f.DeviceTableErr != "" && (f.ProjectTable == nil || (known && !on)) {
		ev := "no valid partition table on the device: " + f.DeviceTableErr
		msg := "the partition table on the device could not be read, so partitions could not be located"
		if on {
			msg = "the partition table on the device is encrypted (flash encryption is on), so partitions could not be located"
		} else if f.ProjectTable != nil {
			msg = "the device has no valid partition table although flash encryption is off: the firmware cannot boot"
		}
		d.add(Finding{Code: CodeTableUnreadable, Severity: Warning, Message: msg, Evidence: ev, Fix: d.fixDoctorWithTable()})
	}
	if f.DeviceTable != nil && f.ProjectTable != nil {
		if diffs := diffTables(f.ProjectTable, f.DeviceTable); len(diffs) > 0 {
			d.add(Finding{Code: CodeTableMismatch, Severity: Error, Firmware: ErrNVSNotFound,
				Message:  "the partition table on the device is not the project's: the firmware uses the device's, so data written at the project's offsets is not where it looks",
				Evidence: fmt.Sprintf("%s differs from the device's table: %s", or(f.Inputs.PartitionTable, "the project's table"), strings.Join(diffs, "; ")),
				Fix:      "flash the firmware built with " + or(f.Inputs.PartitionTable, "the project's table") + " (idf.py flash), or run nvskit with the table the device really has: " + "nvskit doctor" + d.port()})
		}
	}
	t := table(f)
	if t == nil {
		return
	}
	name := d.nvsName()
	p, ok := t.Find(name)
	switch {
	case !ok:
		names := make([]string, len(t.Partitions))
		for i := range t.Partitions {
			names[i] = t.Partitions[i].Name
		}
		d.add(Finding{Code: CodeNVSMissing, Severity: Error, Partition: name, Firmware: ErrNVSPartNotFound,
			Message:  fmt.Sprintf("the partition table has no partition %q", name),
			Evidence: "the table has " + strings.Join(names, ", "),
			Fix:      "add a data/nvs partition named " + name + " to the partition table, or name the right one: " + d.fixDoctorWithTable() + " --partition NAME"})
	case p.Type != typeData || p.SubType != subtypeNVS:
		d.add(Finding{Code: CodeNVSMissing, Severity: Error, Partition: name, Firmware: ErrNVSPartNotFound,
			Message:  fmt.Sprintf("partition %q is %s/%s, not data/nvs: nvs_flash_init does not find it", name, partition.TypeName(p.Type), partition.SubtypeName(p.Type, p.SubType)),
			Evidence: fmt.Sprintf("table row %q at 0x%X: type 0x%02X subtype 0x%02X", p.Name, p.Offset, p.Type, p.SubType),
			Fix:      "give the NVS partition the type data and subtype nvs in the partition table"})
	case p.Encrypted():
		sev := Warning
		msg := fmt.Sprintf("partition %q is flagged encrypted: once flash encryption is on, nvs_flash_init fails with ESP_ERR_NVS_WRONG_ENCRYPTION", name)
		if on {
			sev = Error
			msg = fmt.Sprintf("partition %q is flagged encrypted while flash encryption is on: nvs_flash_init refuses it", name)
		}
		d.add(Finding{Code: CodeNVSFlagEncrypted, Severity: sev, Partition: name, Firmware: ErrNVSWrongEncryption, Message: msg,
			Evidence: fmt.Sprintf("table row %q at 0x%X has flags %q", p.Name, p.Offset, p.Flags.String()),
			Fix:      "remove \"encrypted\" from the flags of the " + name + " row (NVS data is never flash-encrypted; keep the flag on nvs_keys only), rebuild and flash the partition table, then: " + d.fixProvision()})
	}

	keys, hasKeys := t.FindType(typeData, subtypeNVSKeys)
	switch {
	case !hasKeys && d.scheme == SchemeFlashEnc:
		d.add(Finding{Code: CodeKeysMissing, Severity: Error, Partition: "nvs_keys", Firmware: ErrInvalidArg,
			Message:  "the flash-encryption scheme needs an nvs_keys partition and the table has none: nvs_flash_init fails (ESP_ERR_INVALID_ARG on ESP-IDF v5.2 and later, ESP_FAIL before)",
			Evidence: "no data/nvs_keys (subtype 0x04) partition in the table",
			Fix:      "add a partition \"nvs_keys, data, nvs_keys, , 0x1000, encrypted\" to the partition table, rebuild, flash, then: " + d.fixProvision()})
	case !hasKeys && d.scheme == SchemeUnknown && on:
		d.add(Finding{Code: CodeKeysMissing, Severity: Warning, Partition: "nvs_keys", Firmware: ErrInvalidArg,
			Message:  "flash encryption is on, which turns NVS encryption on by default, and the table has no nvs_keys partition: unless the firmware uses the HMAC scheme or has NVS encryption off, nvs_flash_init fails",
			Evidence: "no data/nvs_keys (subtype 0x04) partition in the table, and no eFuse key block with the HMAC_UP purpose",
			Fix:      "add a partition \"nvs_keys, data, nvs_keys, , 0x1000, encrypted\" to the partition table (or burn an HMAC_UP key for the HMAC scheme), rebuild and flash"})
	case hasKeys && !keys.Encrypted():
		d.add(Finding{Code: CodeKeysNotFlagged, Severity: Warning, Partition: keys.Name, Firmware: ErrNVSCorruptKeyPart,
			Message:  fmt.Sprintf("partition %q is not flagged encrypted: ESP-IDF reads it through flash encryption anyway, but tools that follow the flag write it plain, which the firmware rejects as ESP_ERR_NVS_CORRUPT_KEY_PART", keys.Name),
			Evidence: fmt.Sprintf("table row %q at 0x%X has flags %q", keys.Name, keys.Offset, keys.Flags.String()),
			Fix:      "add \"encrypted\" to the flags of the " + keys.Name + " row of the partition table, rebuild and flash it"})
	}
}

// diffTables lists how got differs from want, partition by partition (by name).
func diffTables(want, got *partition.Table) []string {
	var diffs []string
	for i := range want.Partitions {
		w := &want.Partitions[i]
		g, ok := got.Find(w.Name)
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%q is missing on the device", w.Name))
			continue
		}
		var d []string
		if g.Offset != w.Offset {
			d = append(d, fmt.Sprintf("offset 0x%X, not 0x%X", g.Offset, w.Offset))
		}
		if g.Size != w.Size {
			d = append(d, fmt.Sprintf("size 0x%X, not 0x%X", g.Size, w.Size))
		}
		if g.Type != w.Type || g.SubType != w.SubType {
			d = append(d, fmt.Sprintf("type %s/%s, not %s/%s", partition.TypeName(g.Type), partition.SubtypeName(g.Type, g.SubType),
				partition.TypeName(w.Type), partition.SubtypeName(w.Type, w.SubType)))
		}
		if g.Flags != w.Flags {
			d = append(d, fmt.Sprintf("flags %q, not %q", g.Flags.String(), w.Flags.String()))
		}
		if len(d) > 0 {
			diffs = append(diffs, fmt.Sprintf("%q on the device has %s", w.Name, strings.Join(d, ", ")))
		}
	}
	for i := range got.Partitions {
		if _, ok := want.Find(got.Partitions[i].Name); !ok {
			diffs = append(diffs, fmt.Sprintf("the device has %q at 0x%X, which the project's table lacks", got.Partitions[i].Name, got.Partitions[i].Offset))
		}
	}
	return diffs
}

// ---------------------------------------------------------------------------------------------
// HMAC scheme

// chipHasHMAC reports whether the chip has the HMAC peripheral the NVS HMAC scheme needs.
func chipHasHMAC(chip string) (has, known bool) {
	switch strings.ToUpper(chip) {
	case "":
		return false, false
	case "ESP32", "ESP32-C2", "ESP8266":
		return false, true
	}
	return true, true
}

func (d *diag) checkHMAC() {
	if d.scheme != SchemeHMAC {
		return
	}
	if has, known := chipHasHMAC(d.f.Chip); known && !has {
		d.add(Finding{Code: CodeHMACUnsupported, Severity: Error, Firmware: ErrNotSupported,
			Message:  d.f.Chip + " has no HMAC peripheral: the HMAC scheme of NVS encryption cannot work on it",
			Evidence: "chip " + d.f.Chip,
			Fix:      "use the flash-encryption scheme (an nvs_keys partition flagged encrypted): " + d.fixProvision()})
		return
	}
	s := d.f.Security
	if s == nil || len(s.KeyBlocks) == 0 {
		return
	}
	id := d.f.HMACKeyID
	if id >= 0 && id <= 5 {
		for _, kb := range s.KeyBlocks {
			if kb.Index != id {
				continue
			}
			switch {
			case kb.Purpose == PurposeHMACUp:
				return
			case kb.Purpose == 0 && !kb.ReadProtected && !kb.WriteProtected && !kb.HasData:
				d.add(d.hmacMissing(id, fmt.Sprintf("BLOCK_KEY%d has purpose USER (0), is not protected and reads blank", id)))
			default:
				d.add(Finding{Code: CodeHMACBlockInUse, Severity: Error, Firmware: ErrHMACKeyGenFailed,
					Message:  fmt.Sprintf("eFuse key block %d, the one the firmware's HMAC scheme uses, holds another key: the firmware cannot find or make its HMAC key (warning 0xF001, then ESP_ERR_NVS_SEC_HMAC_KEY_GENERATION_FAILED)", id),
					Evidence: fmt.Sprintf("BLOCK_KEY%d purpose %s (%d)%s", id, purposeName(kb), kb.Purpose, protNote(kb)),
					Fix:      "set CONFIG_NVS_SEC_HMAC_EFUSE_KEY_ID to a free key block and burn the host's HMAC key there before the first boot: " + burnCmd(freeBlock(s))})
			}
			return
		}
		return
	}
	var purposes []string
	for _, kb := range s.KeyBlocks {
		if kb.Purpose == PurposeHMACUp {
			return
		}
		purposes = append(purposes, fmt.Sprintf("%d:%s", kb.Index, purposeName(kb)))
	}
	d.add(d.hmacMissing(freeBlock(s), "key purposes "+strings.Join(purposes, ", ")))
}

func (d *diag) hmacMissing(block int, ev string) Finding {
	d.keysBroken = true
	return Finding{Code: CodeHMACKeyMissing, Severity: Error, Firmware: ErrHMACKeyNotFound,
		Message:  "no eFuse key block holds an HMAC_UP key: on its first boot the firmware burns a random HMAC key of its own, read-protected, and no NVS image made on the host can be read after that",
		Evidence: ev,
		Fix:      "before the first boot, burn the HMAC key the host's NVS keys derive from (irreversible): " + burnCmd(block) + "; then " + d.fixProvision()}
}

func burnCmd(block int) string {
	if block < 0 {
		block = 0
	}
	return fmt.Sprintf("espefuse burn-key BLOCK_KEY%d hmac_key.bin HMAC_UP", block)
}

// freeBlock returns the first key block with purpose USER and no protection, or -1.
func freeBlock(s *Security) int {
	for _, kb := range s.KeyBlocks {
		if kb.Purpose == 0 && !kb.ReadProtected && !kb.WriteProtected && !kb.HasData {
			return kb.Index
		}
	}
	return -1
}

func purposeName(kb KeyBlock) string {
	if kb.PurposeName != "" {
		return kb.PurposeName
	}
	return fmt.Sprint(kb.Purpose)
}

func protNote(kb KeyBlock) string {
	switch {
	case kb.HasData:
		return ", holding data"
	case kb.ReadProtected && kb.WriteProtected:
		return ", read- and write-protected"
	case kb.ReadProtected:
		return ", read-protected"
	case kb.WriteProtected:
		return ", write-protected"
	}
	return ""
}

// ---------------------------------------------------------------------------------------------
// The nvs_keys partition

// flashSchemes returns the flash-encryption schemes to try with the user's flash key: the
// chip's, or (chip unknown) every scheme the key's length allows.
func (d *diag) flashSchemes() []flashcrypt.Scheme {
	if s := flashcrypt.SchemeForChip(d.f.Chip); s != 0 {
		return []flashcrypt.Scheme{s}
	}
	return []flashcrypt.Scheme{flashcrypt.SchemeXTS, flashcrypt.SchemeESP32}
}

// flashDecrypt decrypts raw (stored at addr) with the user's flash key; ok is false when
// there is no key or it does not fit the scheme.
func (d *diag) flashDecrypt(s flashcrypt.Scheme, raw []byte, addr uint32) ([]byte, bool) {
	if len(d.f.FlashKey) == 0 {
		return nil, false
	}
	n := len(raw) - len(raw)%flashcrypt.BlockSize
	if n == 0 {
		return nil, false
	}
	conf := uint8(flashcrypt.DefaultCryptConf)
	if sec := d.f.Security; sec != nil && sec.FlashCryptConfig != nil && *sec.FlashCryptConfig <= 0xF {
		conf = *sec.FlashCryptConfig
	}
	c, err := flashcrypt.New(s, d.f.FlashKey, conf)
	if err != nil {
		return nil, false
	}
	out := make([]byte, n)
	if err := c.Decrypt(out, raw[:n], addr); err != nil {
		return nil, false
	}
	return out, true
}

// keysConsistent reports whether b holds 64 key bytes and their CRC.
func keysConsistent(b []byte) bool {
	return len(b) >= keysLen && nvs.CRC32(b[:nvs.KeysLen]) == binary.LittleEndian.Uint32(b[nvs.KeysLen:])
}

func allFF(b []byte) bool {
	for _, c := range b {
		if c != 0xFF {
			return false
		}
	}
	return true
}

// fingerprint names keys without showing them, as nvskit keys check does.
func fingerprint(k *nvs.Keys) string {
	sum := sha256.Sum256(k.Bytes())
	return fmt.Sprintf("sha256:%x", sum[:6])
}

// userKeys returns the user's keys when given and valid.
func (d *diag) userKeys() *nvs.Keys {
	if len(d.f.UserKeys) == 0 {
		return nil
	}
	k, err := nvs.ParseKeysPartition(d.f.UserKeys)
	if err != nil {
		return nil
	}
	return &k
}

func (d *diag) checkKeys() {
	kp := d.f.Keys
	if kp == nil || d.scheme == SchemeHMAC || d.scheme == SchemeNone {
		return
	}
	name := kp.Name
	if name == "" {
		name = "nvs_keys"
	}
	where := fmt.Sprintf("%s at 0x%X", name, kp.Offset)
	if len(kp.Raw) < keysLen {
		if kp.ReadErr != "" {
			d.add(Finding{Code: CodeKeysUnverified, Severity: Info, Partition: name,
				Message: "the keys partition could not be read", Evidence: where + ": " + kp.ReadErr})
		}
		return
	}
	raw := kp.Raw[:keysLen]
	on, known := d.fe()
	user := d.userKeys()
	nvsHasData := d.nvsHasEntries()

	emptyFinding := func(ev string) {
		d.keysBroken = true
		sev := Warning
		msg := "the keys partition is empty: on its next boot the firmware makes keys of its own, which nothing outside the chip knows, so no NVS image encrypted on the host can be read"
		if user != nil || nvsHasData {
			sev = Error
			msg = "the keys partition is empty, so the firmware makes keys of its own on its next boot: the NVS image written from the host cannot be read (every key reads ESP_ERR_NVS_NOT_FOUND)"
		}
		fix := d.fixKeysPlain()
		if on {
			fix = d.fixKeysEncrypted()
		}
		d.add(Finding{Code: CodeKeysEmpty, Severity: sev, Partition: name, Firmware: ErrNVSKeysNotInit,
			Message: msg, Evidence: ev, Fix: fix})
	}

	switch {
	case allFF(raw):
		emptyFinding(where + ": the first 68 bytes are all 0xFF")
		return
	case bytes.Equal(raw[:nvs.KeysLen], devicePattern):
		d.deviceMadeKeys(kp, where, on, known, user)
		return
	case keysConsistent(raw):
		k, _ := nvs.KeysFromBytes(raw)
		if on {
			d.keysBroken = true
			ev := fmt.Sprintf("flash encryption is on (crypt count 0x%X), and the raw bytes of %s are a valid plain keys image (the CRC matches)", d.f.Security.CryptCount, where)
			if user != nil && *user == k {
				ev += "; they are the keys of " + or(d.f.Inputs.KeysFile, "--keys")
			}
			d.add(Finding{Code: CodeKeysPlain, Severity: Error, Partition: name, Firmware: ErrNVSCorruptKeyPart,
				Message:  "the keys partition was written plain while flash encryption is on: the firmware reads it through decryption, gets garbage and fails with ESP_ERR_NVS_CORRUPT_KEY_PART (ESP-IDF v5.2 and later then wipe it and make new keys, after which the NVS data must be written again too)",
				Evidence: ev,
				Fix:      d.fixKeysEncrypted()})
			return
		}
		d.deviceKeys = &k
		if !known {
			d.add(Finding{Code: CodeKeysUnverified, Severity: Info, Partition: name,
				Message:  "the keys partition holds plain keys; that is right only if flash encryption is off, which could not be read",
				Evidence: where + ": a valid plain keys image"})
		}
	default: // neither blank, nor the firmware's pattern, nor plain keys
		if known && !on {
			d.keysBroken = true
			d.add(Finding{Code: CodeKeysCorrupt, Severity: Error, Partition: name, Firmware: ErrNVSCorruptKeyPart,
				Message:  "flash encryption is off and the keys partition does not pass its CRC: it holds ciphertext (written with --encrypt, or copied from another device) or other data",
				Evidence: where + ": the CRC at offset 64 does not match the 64 bytes before it",
				Fix:      d.fixKeysPlain()})
			return
		}
		if !on && !known {
			d.add(Finding{Code: CodeKeysUnverified, Severity: Info, Partition: name,
				Message:  "the keys partition does not pass its CRC as stored: fine if flash encryption is on (it is ciphertext), ESP_ERR_NVS_CORRUPT_KEY_PART if it is off; the security state could not be read",
				Evidence: where + ": the CRC does not match the raw bytes"})
			return
		}
		// Flash encryption on: the partition should be ciphertext.
		if len(d.f.FlashKey) == 0 {
			d.add(Finding{Code: CodeKeysUnverified, Severity: Info, Partition: name,
				Message:  "the keys partition holds ciphertext, as it should with flash encryption on; without the chip's flash key (--flash-key) nvskit cannot check which keys it holds",
				Evidence: where + ": not plain keys, not blank"})
			return
		}
		for _, s := range d.flashSchemes() {
			plain, ok := d.flashDecrypt(s, kp.Raw[:min(len(kp.Raw), 80)], kp.Offset)
			if !ok || len(plain) < keysLen {
				continue // too short to hold the keys and their CRC once decrypted
			}
			if allFF(plain[:keysLen]) {
				emptyFinding(where + ": ciphertext of 0xFF (the bootloader encrypted the empty partition when it turned flash encryption on)")
				return
			}
			if keysConsistent(plain) {
				k, _ := nvs.KeysFromBytes(plain)
				d.deviceKeys = &k
				d.compareUserKeys(name, where, user)
				return
			}
		}
		d.keysBroken = true
		d.add(Finding{Code: CodeKeysCorrupt, Severity: Error, Partition: name, Firmware: ErrNVSCorruptKeyPart,
			Message:  "the keys partition does not decrypt to valid keys with the flash key given: it was encrypted with another key or for another address, or the write was torn (or --flash-key is not this chip's key)",
			Evidence: where + ": after decryption with " + or(d.f.Inputs.FlashKeyFile, "--flash-key") + " the CRC does not match",
			Fix:      d.fixKeysEncrypted()})
		return
	}
	d.compareUserKeys(name, where, user)
}

// deviceMadeKeys handles a keys partition the firmware filled itself.
func (d *diag) deviceMadeKeys(kp *Partition, where string, on, known bool, user *nvs.Keys) {
	if !on && known {
		k, _ := nvs.KeysFromBytes(devicePattern)
		d.deviceKeys = &k
	} else if on {
		for _, s := range d.flashSchemes() {
			if plain, ok := d.flashDecrypt(s, kp.Raw[:min(len(kp.Raw), 80)], kp.Offset); ok && keysConsistent(plain) {
				k, _ := nvs.KeysFromBytes(plain)
				d.deviceKeys = &k
				break
			}
		}
	}
	if d.deviceKeys != nil && user != nil && *d.deviceKeys == *user {
		return
	}
	sev := Warning
	if user != nil || d.nvsHasEntries() {
		sev = Error
		d.keysBroken = true
	}
	ev := where + ": the raw bytes are the pattern nvs_flash_generate_keys writes (16×FF 16×99 16×EE 16×88)"
	if d.deviceKeys != nil {
		ev += "; the firmware's keys have fingerprint " + fingerprint(d.deviceKeys)
		if user != nil {
			ev += ", " + or(d.f.Inputs.KeysFile, "--keys") + " has " + fingerprint(user)
		}
	}
	d.add(Finding{Code: CodeKeysDeviceMade, Severity: sev, Partition: kp.Name, Firmware: ErrNVSNotFound,
		Message:  "the firmware generated its own NVS keys (the keys partition was empty or rejected on a boot): an NVS image encrypted on the host with other keys reads ESP_ERR_NVS_NOT_FOUND for every key",
		Evidence: ev,
		Fix:      "write the host's keys and the NVS image again, together: " + d.fixProvision()})
}

// compareUserKeys reports device keys that are not the user's.
func (d *diag) compareUserKeys(name, where string, user *nvs.Keys) {
	if d.deviceKeys == nil || user == nil || *d.deviceKeys == *user {
		return
	}
	d.add(Finding{Code: CodeKeysDiffer, Severity: Error, Partition: name, Firmware: ErrNVSNotFound,
		Message: "the device's NVS keys are not the ones in " + or(d.f.Inputs.KeysFile, "--keys") + ": an image encrypted with those reads ESP_ERR_NVS_NOT_FOUND for every key",
		Evidence: fmt.Sprintf("%s holds keys with fingerprint %s, %s has %s", where, fingerprint(d.deviceKeys),
			or(d.f.Inputs.KeysFile, "--keys"), fingerprint(user)),
		Fix: "write the keys and the NVS image again, together: " + d.fixProvision()})
}

// ---------------------------------------------------------------------------------------------
// The NVS partition

// nvsRaw returns the NVS partition's raw bytes cut to whole pages, or nil.
func (d *diag) nvsRaw() []byte {
	p := d.f.NVS
	if p == nil || len(p.Raw) < nvs.PageSize {
		return nil
	}
	return p.Raw[:len(p.Raw)-len(p.Raw)%nvs.PageSize]
}

// nvsHasEntries reports whether the raw NVS partition has valid page headers and written
// entries (host data the firmware is meant to read).
func (d *diag) nvsHasEntries() bool {
	raw := d.nvsRaw()
	if raw == nil || allFF(raw) {
		return false
	}
	im, err := nvs.Parse(raw)
	if err != nil {
		return false
	}
	for i := range im.Pages {
		if w, e, _ := im.Pages[i].Counts(); im.Pages[i].HeaderCRCOK && w+e > 0 {
			return true
		}
	}
	return false
}

// expectEncrypted says whether the firmware decrypts NVS, and how sure that is.
func (d *diag) expectEncrypted() (enc, sure bool) {
	switch d.scheme {
	case SchemeFlashEnc, SchemeHMAC:
		return true, true
	case SchemeNone:
		return false, true
	}
	if on, _ := d.fe(); on {
		return true, false // ESP-IDF turns NVS encryption on with flash encryption by default
	}
	return false, false
}

func (d *diag) checkNVS() {
	p := d.f.NVS
	if p == nil {
		return
	}
	name := p.Name
	if name == "" {
		name = d.nvsName()
	}
	where := fmt.Sprintf("%s at 0x%X", name, p.Offset)
	raw := d.nvsRaw()
	if raw == nil {
		if p.ReadErr != "" {
			d.add(Finding{Code: CodeNVSUnverified, Severity: Info, Partition: name,
				Message: "the NVS partition could not be read", Evidence: where + ": " + p.ReadErr})
		}
		return
	}
	if allFF(raw) {
		f := Finding{Code: CodeNVSBlank, Severity: Info, Partition: name,
			Message:  "the NVS partition is erased: the firmware starts with no values",
			Evidence: fmt.Sprintf("%s: all %d bytes are 0xFF", where, len(raw))}
		if len(d.f.Expected) > 0 {
			f.Severity, f.Firmware = Error, ErrNVSNotFound
			f.Message = "the NVS partition is erased: every key of " + or(d.f.Inputs.CSVFile, "the CSV") + " reads ESP_ERR_NVS_NOT_FOUND"
			f.Fix = d.fixProvision()
		}
		d.add(f)
		return
	}
	im, err := nvs.Parse(raw)
	if err != nil {
		return
	}
	if validHeaders(im) == 0 {
		d.notNVS(p, name, where, raw)
		return
	}
	if !im.Mountable {
		d.unmountable(im, name, where)
		return
	}
	enc, sure := d.expectEncrypted()
	written, erased := entryCounts(im)
	readable := im
	switch {
	case im.LooksEncrypted:
		if !enc && sure {
			d.add(Finding{Code: CodeNVSUnexpectedEncrypted, Severity: Error, Partition: name, Firmware: ErrNVSNotFound,
				Message:  "the NVS image is encrypted but the firmware does not use NVS encryption: every key reads ESP_ERR_NVS_NOT_FOUND",
				Evidence: where + ": valid page headers, and no written entry has a valid CRC as stored",
				Fix:      d.fixProvisionPlain()})
			return
		}
		keys, whose := d.deviceKeys, "the device's keys (from "+d.keysName()+")"
		if keys == nil && d.scheme != SchemeFlashEnc {
			keys, whose = d.userKeys(), or(d.f.Inputs.KeysFile, "--keys")
		} else if keys == nil && !d.keysBroken {
			if u := d.userKeys(); u != nil {
				keys, whose = u, or(d.f.Inputs.KeysFile, "--keys")+" (the device's own keys could not be read)"
			}
		}
		if keys == nil {
			if !d.keysBroken {
				d.add(Finding{Code: CodeNVSUnverified, Severity: Info, Partition: name,
					Message:  "the NVS image is encrypted and no keys are known to check it (give --keys, and --flash-key for the keys partition)",
					Evidence: where + ": valid page headers, entries encrypted"})
			}
			return
		}
		dec, err := nvs.ParseWithKeys(raw, *keys)
		if errors.Is(err, nvs.ErrWrongKeys) {
			if d.keysBroken {
				return // the keys finding explains it
			}
			d.add(Finding{Code: CodeNVSWrongKeys, Severity: Error, Partition: name, Firmware: ErrNVSNotFound,
				Message:  "the NVS image does not decrypt with " + whose + ": the firmware fails every entry's CRC check, erases the entries and returns ESP_ERR_NVS_NOT_FOUND for every key",
				Evidence: fmt.Sprintf("%s: none of the %d written entries has a valid CRC after decryption with keys %s", where, written, fingerprint(keys)),
				Fix:      "write the image again, encrypted with the keys the device uses: " + d.fixProvision()})
			return
		}
		if err != nil {
			return
		}
		readable = dec
	case written > 0:
		if enc && !d.keysBroken {
			sev := Error
			msg := "the NVS image is plain but the firmware decrypts NVS: every entry fails its CRC after decryption and reads ESP_ERR_NVS_NOT_FOUND"
			if !sure {
				sev = Warning
				msg = "the NVS image is plain while flash encryption is on, which turns NVS encryption on by default: unless the firmware has NVS encryption off, every key reads ESP_ERR_NVS_NOT_FOUND"
			}
			d.add(Finding{Code: CodeNVSPlaintext, Severity: sev, Partition: name, Firmware: ErrNVSNotFound,
				Message: msg, Evidence: where + ": written entries have valid CRCs as stored (the image is not encrypted)",
				Fix: d.fixProvision()})
			if sure {
				return
			}
		}
	case erased > 0:
		sev := Warning
		if len(d.f.Expected) > 0 || d.userKeys() != nil {
			sev = Error
		}
		d.add(Finding{Code: CodeNVSEntriesErased, Severity: sev, Partition: name, Firmware: ErrNVSNotFound,
			Message:  "every entry of the NVS partition is marked erased: the firmware erases entries it cannot decrypt or validate (wrong keys, or a plain/encrypted mismatch), so the values are lost for good",
			Evidence: fmt.Sprintf("%s: %d erased entries, none written", where, erased),
			Fix:      "fix the keys first, then write the image again: " + d.fixProvision()})
		return
	}
	d.checkCSV(readable, name)
}

func validHeaders(im *nvs.Image) int {
	n := 0
	for i := range im.Pages {
		if im.Pages[i].HeaderCRCOK {
			n++
		}
	}
	return n
}

func entryCounts(im *nvs.Image) (written, erased int) {
	for i := range im.Pages {
		if !im.Pages[i].HeaderCRCOK {
			continue
		}
		w, e, _ := im.Pages[i].Counts()
		written += w
		erased += e
	}
	return
}

// notNVS explains an NVS partition without one valid page header.
func (d *diag) notNVS(p *Partition, name, where string, raw []byte) {
	// Written through flash encryption? Then decrypting with the flash key gives NVS.
	for _, s := range d.flashSchemes() {
		plain, ok := d.flashDecrypt(s, raw, p.Offset)
		if !ok {
			continue
		}
		if im, err := nvs.Parse(plain); err == nil && validHeaders(im) > 0 {
			fw := ErrNVSNotFound
			if nim, err := nvs.Parse(raw); err == nil && !nim.Mountable {
				fw = ErrNVSNoFreePages
			}
			d.add(Finding{Code: CodeNVSDoubleEncrypted, Severity: Error, Partition: name, Firmware: fw,
				Message:  "the NVS partition was written through flash encryption (flash --encrypt, or the partition is flagged encrypted): NVS data is never flash-encrypted, so the firmware finds no valid page",
				Evidence: fmt.Sprintf("%s: no valid page header as stored, %d after decryption with the flash key", where, validHeaders(im)),
				Fix:      "write the NVS image without --encrypt: " + d.fixProvision()})
			return
		}
	}
	fw := ErrNVSNotFound
	if im, err := nvs.Parse(raw); err == nil && !im.Mountable {
		fw = ErrNVSNoFreePages
	}
	ev := where + ": no page has a valid NVS header; the data looks like " + identify(raw)
	msg := "what is stored where the NVS partition should be is not NVS: the image was written at another offset, or the table the firmware uses puts NVS elsewhere"
	if on, _ := d.fe(); on && len(d.f.FlashKey) == 0 {
		msg += " (with flash encryption on, an NVS image written with --encrypt looks like this too; give --flash-key to tell)"
	}
	d.add(Finding{Code: CodeNVSNotNVS, Severity: Error, Partition: name, Firmware: fw, Message: msg, Evidence: ev,
		Fix: "write the NVS image at the partition's offset from the table the firmware was built with: " + d.fixProvision()})
}

// identify names what raw flash data looks like.
func identify(raw []byte) string {
	switch {
	case len(raw) >= 2 && raw[0] == 0xAA && raw[1] == 0x50:
		return "a partition table (magic AA 50)"
	case len(raw) >= 1 && raw[0] == 0xE9:
		return "an app or bootloader image (magic E9)"
	case keysConsistent(raw) && allFF(raw[keysLen:min(len(raw), nvs.PageSize)]):
		return "an nvs_keys partition image"
	case bytes.Count(raw[:min(len(raw), 4096)], []byte{0}) == min(len(raw), 4096):
		return "zeros"
	}
	return "data of another kind (ciphertext or another partition's contents)"
}

// unmountable reports an image the firmware refuses to mount.
func (d *diag) unmountable(im *nvs.Image, name, where string) {
	code, fw := CodeNVSNoFreePage, ErrNVSNoFreePages
	msg := "the firmware cannot mount the NVS partition: it has no free page (the image fills the partition, or is larger than it)"
	fix := "generate the image for the partition's size, which keeps one page free, and write it again: " + d.fixProvision()
	for _, f := range im.Findings {
		if f.Code == "new-version" {
			code, fw = CodeNVSNewVersion, ErrNVSNewVersionFound
			msg = "a page of the NVS partition carries a format version the firmware does not know: nvs_flash_init fails with ESP_ERR_NVS_NEW_VERSION_FOUND"
			fix = "generate the image in the format the firmware reads (--version 1 for ESP-IDF before v4.0, 2 after) and write it again: " + d.fixProvision()
			break
		}
	}
	d.add(Finding{Code: code, Severity: Error, Partition: name, Firmware: fw, Message: msg,
		Evidence: where + ": " + im.MountError, Fix: fix})
}

// checkCSV compares the values the user expects with those on the device.
func (d *diag) checkCSV(im *nvs.Image, name string) {
	if len(d.f.Expected) == 0 || im == nil {
		return
	}
	var missing, typ, val []string
	total := 0
	for _, it := range d.f.Expected {
		if it.Key == "" {
			continue
		}
		total++
		id := it.Namespace + "/" + it.Key
		r := im.Get(it.Namespace, it.Key)
		switch {
		case r == nil:
			missing = append(missing, id)
		case r.Type != it.Type:
			typ = append(typ, fmt.Sprintf("%s (%s on the device, %s in the CSV)", id, r.Type, it.Type))
		case it.Type.IsInt() && r.Value != it.Value, !it.Type.IsInt() && !bytes.Equal(r.Data, it.Data):
			val = append(val, id)
		}
	}
	csv := or(d.f.Inputs.CSVFile, "the CSV")
	if len(missing) > 0 {
		d.add(Finding{Code: CodeCSVMissing, Severity: Error, Partition: name, Firmware: ErrNVSNotFound,
			Message:  fmt.Sprintf("%d of the %d keys of %s are not on the device: nvs_get_* returns ESP_ERR_NVS_NOT_FOUND", len(missing), total, csv),
			Evidence: "missing: " + list(missing),
			Fix:      d.fixProvision()})
	}
	if len(typ) > 0 {
		d.add(Finding{Code: CodeCSVDiffers, Severity: Error, Partition: name, Firmware: ErrNVSTypeMismatch,
			Message:  fmt.Sprintf("%d keys of %s are stored with another type: the firmware's nvs_get_* for the CSV's type returns ESP_ERR_NVS_TYPE_MISMATCH", len(typ), csv),
			Evidence: "type differs: " + list(typ),
			Fix:      d.fixProvision()})
	}
	if len(val) > 0 {
		d.add(Finding{Code: CodeCSVDiffers, Severity: Error, Partition: name,
			Message:  fmt.Sprintf("%d keys of %s have another value on the device (values are not shown)", len(val), csv),
			Evidence: "value differs: " + list(val),
			Fix:      d.fixProvision()})
	}
}

// list joins up to 8 names and says how many more there are.
func list(names []string) string {
	if len(names) <= 8 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:8], ", "), len(names)-8)
}
