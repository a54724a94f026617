package partition

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Table geometry, as ESP-IDF lays it out.
const (
	// DefaultOffset is where ESP-IDF puts the partition table unless
	// CONFIG_PARTITION_TABLE_OFFSET says otherwise.
	DefaultOffset = 0x8000
	// SectorSize is the flash sector the table owns; the first partition starts no lower than
	// the table offset plus SectorSize.
	SectorSize = 0x1000
	// MaxLength is the size of the binary table: entry rows, the MD5 row and 0xFF padding.
	MaxLength = 0xC00
	// EntrySize is the size of one binary row.
	EntrySize = 32
	// NameLen is the size of the label field of a binary entry.
	NameLen = 16
	// MinNVSReadWrite is the smallest NVS partition the device can write to; smaller ones must
	// be flagged readonly.
	MinNVSReadWrite = 0x3000
)

// Flags are the partition flags, as stored in the binary entry.
type Flags uint32

// The flags gen_esp32part.py knows. Other bits are dropped when a binary table is read.
const (
	FlagEncrypted Flags = 1 << 0
	FlagReadonly  Flags = 1 << 1
)

// String gives the flags as in the CSV flags column ("encrypted:readonly").
func (f Flags) String() string {
	var s []string
	if f&FlagEncrypted != 0 {
		s = append(s, "encrypted")
	}
	if f&FlagReadonly != 0 {
		s = append(s, "readonly")
	}
	return strings.Join(s, ":")
}

// Partition is one row of a partition table.
type Partition struct {
	// Name is the partition's name. From a CSV it is the name as written, which may be longer
	// than the 16 bytes the binary keeps (see Label); from a binary it is the label.
	Name string
	// Type and SubType are the numeric type and subtype (see TypeName, SubtypeName).
	Type, SubType uint8
	// Offset and Size are in bytes.
	Offset, Size uint32
	// Flags holds the encrypted and readonly bits.
	Flags Flags
	// Line is the 1-based CSV line the partition came from, 0 for a binary table.
	Line int
	// Index is the partition's 0-based position in the table (the binary entry number).
	Index int
}

// End returns the first byte after the partition (Offset+Size).
func (p *Partition) End() uint64 { return uint64(p.Offset) + uint64(p.Size) }

// Encrypted reports whether the partition carries the encrypted flag.
func (p *Partition) Encrypted() bool { return p.Flags&FlagEncrypted != 0 }

// Readonly reports whether the partition carries the readonly flag.
func (p *Partition) Readonly() bool { return p.Flags&FlagReadonly != 0 }

// Label returns the name as the binary stores it: the UTF-8 bytes cut to 16, without padding.
// The cut may split a multi-byte character, exactly as gen_esp32part.py does.
func (p *Partition) Label() []byte {
	b := []byte(p.Name)
	if len(b) > NameLen {
		b = b[:NameLen]
	}
	return b
}

// where names the partition for messages: its CSV line or binary entry, and name.
func (p *Partition) where() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d: partition %q", p.Line, p.Name)
	}
	return fmt.Sprintf("entry %d: partition %q", p.Index, p.Name)
}

// Table is a partition table: the partitions in table order and the offset the table lives at.
type Table struct {
	// Offset is the flash offset of the table itself (DefaultOffset unless set otherwise).
	Offset uint32
	// Partitions are in table order, which ESP-IDF never sorts.
	Partitions []Partition
	// MD5 reports, for a table read from a binary, whether it carried a (valid) MD5 row.
	MD5 bool
}

// Find returns the partition named name, the first in table order. A name longer than 16
// bytes also matches a partition whose name is exactly its first 16 bytes (the label a binary
// table keeps), so the long name from a CSV finds its partition in the binary table too.
func (t *Table) Find(name string) (*Partition, bool) {
	for i := range t.Partitions {
		if t.Partitions[i].Name == name {
			return &t.Partitions[i], true
		}
	}
	if len(name) > NameLen {
		cut := name[:NameLen]
		for i := range t.Partitions {
			if t.Partitions[i].Name == cut {
				return &t.Partitions[i], true
			}
		}
	}
	return nil, false
}

// FindType returns the first partition of the given type and subtype in table order, the one
// ESP-IDF's esp_partition_find_first returns.
func (t *Table) FindType(typ, subtype uint8) (*Partition, bool) {
	for i := range t.Partitions {
		if p := &t.Partitions[i]; p.Type == typ && p.SubType == subtype {
			return p, true
		}
	}
	return nil, false
}

// All returns every partition of the given type and subtype, in table order.
func (t *Table) All(typ, subtype uint8) []*Partition {
	var ps []*Partition
	for i := range t.Partitions {
		if p := &t.Partitions[i]; p.Type == typ && p.SubType == subtype {
			ps = append(ps, p)
		}
	}
	return ps
}

// Lookup returns the partition named name, or an error wrapping ErrNotFound that lists the
// names the table has.
func (t *Table) Lookup(name string) (*Partition, error) {
	if p, ok := t.Find(name); ok {
		return p, nil
	}
	names := make([]string, len(t.Partitions))
	for i := range t.Partitions {
		names[i] = t.Partitions[i].Name
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no partition %q: the table is empty", ErrNotFound, name)
	}
	return nil, fmt.Errorf("%w: no partition %q; the table has %s", ErrNotFound, name, strings.Join(names, ", "))
}

// Sentinel errors, for callers that branch on the kind of problem. Errors returned by this
// package wrap one of them (errors.Is), most through an *Error.
var (
	ErrSyntax          = errors.New("invalid CSV field")
	ErrUnknownType     = errors.New("unknown partition type")
	ErrUnknownSubtype  = errors.New("unknown partition subtype")
	ErrUnknownFlag     = errors.New("unknown flag")
	ErrUnknownVariable = errors.New("unknown variable")
	ErrEncoding        = errors.New("not a partition table")
	ErrRange           = errors.New("value out of range")
	ErrOverlap         = errors.New("partitions overlap")
	ErrMisaligned      = errors.New("misaligned partition")
	ErrDuplicateName   = errors.New("duplicate partition name")
	ErrInvalid         = errors.New("invalid partition")
	ErrTooManyEntries  = errors.New("partition table too long")
	ErrFlashSize       = errors.New("partition table does not fit the flash")
	ErrBadMagic        = errors.New("bad magic")
	ErrBadMD5          = errors.New("MD5 mismatch")
	ErrNoEndMarker     = errors.New("no end-of-table marker")
	ErrTruncated       = errors.New("truncated partition table")
	ErrNotFound        = errors.New("partition not found")
	ErrOptions         = errors.New("invalid option")
)

// Error is a problem at one place of a table: a CSV line or a binary entry.
type Error struct {
	// Line is the 1-based CSV line, 0 when not from a CSV.
	Line int
	// Entry is the 0-based binary entry, -1 when not from a binary.
	Entry int
	// Kind is the sentinel error (ErrOverlap, ...).
	Kind error
	// Msg says what is wrong and how to fix it.
	Msg string
}

// Error gives the place (CSV line, or binary entry and its bytes) and the message.
func (e *Error) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	case e.Entry >= 0:
		return fmt.Sprintf("entry %d (bytes 0x%x-0x%x): %s", e.Entry, e.Entry*EntrySize, e.Entry*EntrySize+EntrySize-1, e.Msg)
	}
	return e.Msg
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Kind }

func lineErr(line int, kind error, format string, args ...any) *Error {
	return &Error{Line: line, Entry: -1, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func entryErr(entry int, kind error, format string, args ...any) *Error {
	return &Error{Entry: entry, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func tableErr(kind error, format string, args ...any) *Error {
	return &Error{Entry: -1, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// partErr places an error at p's CSV line or binary entry.
func partErr(p *Partition, kind error, format string, args ...any) *Error {
	msg := fmt.Sprintf("partition %q: ", p.Name) + fmt.Sprintf(format, args...)
	if p.Line > 0 {
		return &Error{Line: p.Line, Entry: -1, Kind: kind, Msg: msg}
	}
	return &Error{Entry: p.Index, Kind: kind, Msg: msg}
}

// Parse reads a partition table in either form: a binary table if data starts with the entry
// magic AA 50, CSV text otherwise. Unless opts.NoVerify is set it then verifies the table
// (Verify) and, when opts.FlashSize is set, checks that it fits (CheckFlashSize).
func Parse(data []byte, opts Options) (*Table, error) {
	var t *Table
	var err error
	if IsBinary(data) {
		t, err = ParseBinary(data, opts)
	} else {
		t, err = ParseCSV(bytes.NewReader(data), opts)
	}
	if err != nil {
		return nil, err
	}
	if !opts.NoVerify {
		if err := t.Verify(opts); err != nil {
			return nil, err
		}
	}
	if opts.FlashSize > 0 {
		if err := t.CheckFlashSize(opts.FlashSize); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// IsBinary reports whether data starts like a binary partition table (the entry magic AA 50),
// the test gen_esp32part.py uses to choose the direction.
func IsBinary(data []byte) bool {
	return len(data) >= 2 && data[0] == 0xAA && data[1] == 0x50
}

// ReadFlash reads the binary table stored at offset in a whole flash dump (or any image that
// contains it), with opts.Offset taken as offset. It verifies the table like Parse.
func ReadFlash(dump []byte, offset uint32, opts Options) (*Table, error) {
	if uint64(offset)+2 > uint64(len(dump)) {
		return nil, tableErr(ErrTruncated, "the dump is 0x%x bytes, too short for a partition table at 0x%x", len(dump), offset)
	}
	end := uint64(offset) + MaxLength
	if end > uint64(len(dump)) {
		end = uint64(len(dump))
	}
	data := dump[offset:end]
	if !IsBinary(data) {
		return nil, tableErr(ErrBadMagic, "no partition table at 0x%x: it starts % x, not aa 50 (pass the offset the table is at, usually 0x8000)", offset, data[:2])
	}
	opts.Offset = offset
	return Parse(data, opts)
}
