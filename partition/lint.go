package partition

import "fmt"

// Severity grades a Finding.
type Severity int

// Severities, from mild to fatal.
const (
	// Note is information worth knowing (a read-only NVS partition, say).
	Note Severity = iota
	// Warning is likely a mistake, or a cost, but the table works.
	Warning
	// Problem makes the device fail or the tools refuse the table.
	Problem
)

// String gives the severity as "note", "warning" or "error".
func (s Severity) String() string {
	switch s {
	case Note:
		return "note"
	case Warning:
		return "warning"
	}
	return "error"
}

// MarshalText gives the severity as String does, for JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is one result of Lint.
type Finding struct {
	Severity Severity `json:"severity"`
	// Code is a stable identifier of the check, e.g. "nvs-encrypted".
	Code string `json:"code"`
	// Partition is the partition's name ("" for the whole table); Line its CSV line (0 for a
	// binary table) and Index its position.
	Partition string `json:"partition,omitempty"`
	Line      int    `json:"line,omitempty"`
	Index     int    `json:"index"`
	// Message says what is wrong and what to do.
	Message string `json:"message"`
}

// LintOptions tune Lint.
type LintOptions struct {
	// NVSLargeSize is the NVS size above which Lint warns that the partition costs RAM and mount
	// time; 0 means DefaultNVSLargeSize.
	NVSLargeSize uint32
}

// DefaultNVSLargeSize is the default NVSLargeSize: 64 pages (256 KiB).
const DefaultNVSLargeSize = 0x40000

// Lint looks for the mistakes gen_esp32part.py lets through, chiefly around NVS and its
// encryption:
//
//   - nvs-encrypted: an NVS partition with the encrypted flag. NVS encryption does not use
//     flash encryption of the partition; the device fails with ESP_ERR_NVS_WRONG_ENCRYPTION.
//   - nvs-keys-not-encrypted (a warning): an nvs_keys partition without the encrypted flag.
//     It matters once flash encryption is enabled: ESP-IDF (v4.3 and later) then reads nvs_keys
//     as encrypted whatever the flag says, but idf.py encrypted-flash and esptool
//     --encrypt-files follow the flag, so keys flashed from the host read back as garbage
//     (ESP_ERR_NVS_CORRUPT_KEY_PART). Without flash encryption the flag has no effect.
//   - nvs-keys-size: an nvs_keys partition smaller than one 4 KiB sector.
//   - nvs-too-small: an NVS partition under 0x3000 without readonly (gen_esp32part.py refuses it).
//   - nvs-read-only: an NVS partition under 0x3000 with readonly: the device can only read it.
//   - nvs-size-unaligned: an NVS size that is not whole 4 KiB pages; the rest is unused.
//   - nvs-large: an NVS partition above NVSLargeSize; RAM use and mount time grow with its size.
func (t *Table) Lint(opts LintOptions) []Finding {
	large := opts.NVSLargeSize
	if large == 0 {
		large = DefaultNVSLargeSize
	}
	var fs []Finding
	add := func(p *Partition, sev Severity, code, format string, args ...any) {
		fs = append(fs, Finding{Severity: sev, Code: code, Partition: p.Name, Line: p.Line, Index: p.Index,
			Message: fmt.Sprintf(format, args...)})
	}
	for i := range t.Partitions {
		p := &t.Partitions[i]
		if p.Type != TypeData {
			continue
		}
		switch p.SubType {
		case SubtypeNVS:
			if p.Encrypted() {
				add(p, Problem, "nvs-encrypted", "NVS partition %q has the encrypted flag; NVS is never flash-encrypted (its encryption uses an nvs_keys partition), so the device fails with ESP_ERR_NVS_WRONG_ENCRYPTION: remove 'encrypted' from its flags", p.Name)
			}
			if p.Size < MinNVSReadWrite {
				if p.Readonly() {
					add(p, Note, "nvs-read-only", "NVS partition %q is 0x%x bytes, under 0x%x: it is read-only NVS (the device reads it but cannot write it)", p.Name, p.Size, MinNVSReadWrite)
				} else {
					add(p, Problem, "nvs-too-small", "NVS partition %q is 0x%x bytes, under 0x%x: read/write NVS needs 3 pages; flag it readonly or make it 0x%x", p.Name, p.Size, MinNVSReadWrite, MinNVSReadWrite)
				}
			}
			if p.Size%0x1000 != 0 {
				add(p, Warning, "nvs-size-unaligned", "NVS partition %q is 0x%x bytes, not whole 4 KiB pages; the last 0x%x bytes are never used", p.Name, p.Size, p.Size%0x1000)
			}
			if p.Size > large {
				add(p, Warning, "nvs-large", "NVS partition %q is 0x%x bytes (%d pages); RAM use and mount time grow with the size, so make it only as large as its data needs: what the firmware writes at run time included, with room for wear levelling", p.Name, p.Size, p.Size/0x1000)
			}
		case SubtypeNVSKeys:
			if !p.Encrypted() {
				add(p, Warning, "nvs-keys-not-encrypted", "nvs_keys partition %q lacks the encrypted flag; this matters once flash encryption is enabled: the device then treats it as encrypted anyway, but host tools follow the flag and flash it unencrypted, so keys flashed from the host read back as garbage (ESP_ERR_NVS_CORRUPT_KEY_PART): add 'encrypted' to its flags (without flash encryption the flag has no effect)", p.Name)
			}
			if p.Size < 0x1000 {
				add(p, Problem, "nvs-keys-size", "nvs_keys partition %q is 0x%x bytes; it needs one 4 KiB sector (0x1000)", p.Name, p.Size)
			}
		}
	}
	return fs
}
