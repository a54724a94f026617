package partition

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

var (
	entryMagic = []byte{0xAA, 0x50}
	md5Magic   = []byte{0xEB, 0xEB}
)

// ParseBinary reads a binary partition table as gen_esp32part.py does: 32-byte rows from the
// start, MD5 rows checked (unless opts.DisableMD5), up to the first all-0xFF row. Anything
// after that row is ignored, so a whole 4 KiB sector is fine. It does not verify the table;
// call Verify (or use Parse).
func ParseBinary(b []byte, opts Options) (*Table, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	t := &Table{Offset: opts.offset()}
	h := md5.New()
	for i := 0; ; i++ {
		o := i * EntrySize
		if o >= len(b) {
			return nil, entryErr(i, ErrNoEndMarker, "the table has no end-of-table marker (a row of 32 0xff bytes) after %d rows; it is truncated or not a partition table", i)
		}
		row := b[o:min(o+EntrySize, len(b))]
		if len(row) != EntrySize {
			return nil, entryErr(i, ErrTruncated, "the table ends with a partial row of %d bytes; its length (%d) must be a multiple of 32", len(row), len(b))
		}
		if allFF(row) {
			return t, nil
		}
		if bytes.HasPrefix(row, md5Magic) {
			if opts.DisableMD5 {
				return nil, entryErr(i, ErrBadMagic, "this is an MD5 row (eb eb), but MD5 rows are disabled (--disable-md5sum); read the table without that option")
			}
			sum := h.Sum(nil)
			if !bytes.Equal(row[16:], sum) {
				return nil, entryErr(i, ErrBadMD5, "MD5 checksums don't match: the row says %x, the %d entries before it hash to %x; the table is corrupted (or was edited without updating its MD5)", row[16:], i, sum)
			}
			t.MD5 = true
			continue
		}
		h.Write(row)
		p, err := decodeEntry(row, i, &opts)
		if err != nil {
			return nil, err
		}
		p.Index = len(t.Partitions)
		t.Partitions = append(t.Partitions, p)
	}
}

func allFF(b []byte) bool {
	for _, c := range b {
		if c != 0xFF {
			return false
		}
	}
	return true
}

func decodeEntry(row []byte, i int, opts *Options) (Partition, error) {
	if !bytes.Equal(row[:2], entryMagic) {
		return Partition{}, entryErr(i, ErrBadMagic, "invalid magic bytes %s for a partition entry (want aa 50); the table is corrupted", hexBytes(row[:2]))
	}
	label := row[12:28]
	if n := bytes.IndexByte(label, 0); n >= 0 {
		label = label[:n]
	}
	if !utf8.Valid(label) {
		return Partition{}, entryErr(i, ErrEncoding, "the name %q is not valid UTF-8 (gen_esp32part.py cannot read it either); the table is corrupted, or its CSV had a name cut in the middle of a character", label)
	}
	p := Partition{
		Name:    string(label),
		Type:    row[2],
		SubType: row[3],
		Offset:  binary.LittleEndian.Uint32(row[4:]),
		Size:    binary.LittleEndian.Uint32(row[8:]),
	}
	flags := Flags(binary.LittleEndian.Uint32(row[28:]))
	p.Flags = flags & (FlagEncrypted | FlagReadonly)
	if unknown := flags &^ (FlagEncrypted | FlagReadonly); unknown != 0 {
		opts.warn("entry %d: partition %q has unknown flag bits 0x%08x (a newer format?); they are dropped", i, p.Name, uint32(unknown))
	}
	return p, nil
}

// MarshalBinary returns the binary table with an MD5 row, as gen_esp32part.py writes it by
// default (0xC00 bytes). Use EncodeBinary for the options.
func (t *Table) MarshalBinary() ([]byte, error) { return t.EncodeBinary(Options{}) }

// EncodeBinary returns the binary table: one 32-byte entry per partition in table order,
// names cut to 16 bytes, the MD5 row unless opts.DisableMD5, then 0xFF up to 0xC00 bytes.
// It fails with ErrTooManyEntries when the rows leave no room for the end marker (more than
// 94 partitions with MD5, 95 without).
func (t *Table) EncodeBinary(opts Options) ([]byte, error) {
	rows := len(t.Partitions)
	if !opts.DisableMD5 {
		rows++
	}
	if rows*EntrySize >= MaxLength {
		max := MaxLength/EntrySize - 1
		if !opts.DisableMD5 {
			max--
		}
		return nil, tableErr(ErrTooManyEntries, "%d partitions make a binary table of %d bytes, longer than the maximum: at most %d partitions fit (%s)",
			len(t.Partitions), rows*EntrySize, max, map[bool]string{true: "without the MD5 row", false: "with the MD5 row; --disable-md5sum makes room for one more"}[opts.DisableMD5])
	}
	out := make([]byte, 0, MaxLength)
	for i := range t.Partitions {
		p := &t.Partitions[i]
		var e [EntrySize]byte
		copy(e[:], entryMagic)
		e[2], e[3] = p.Type, p.SubType
		binary.LittleEndian.PutUint32(e[4:], p.Offset)
		binary.LittleEndian.PutUint32(e[8:], p.Size)
		copy(e[12:28], p.Label())
		binary.LittleEndian.PutUint32(e[28:], uint32(p.Flags&(FlagEncrypted|FlagReadonly)))
		out = append(out, e[:]...)
	}
	if !opts.DisableMD5 {
		sum := md5.Sum(out)
		out = append(out, md5Magic...)
		out = append(out, bytes.Repeat([]byte{0xFF}, 14)...)
		out = append(out, sum[:]...)
	}
	out = append(out, bytes.Repeat([]byte{0xFF}, MaxLength-len(out))...)
	return out, nil
}

// String describes the partition in one line.
func (p *Partition) String() string {
	return fmt.Sprintf("%s %s/%s at 0x%x size 0x%x", p.Name, TypeName(p.Type), SubtypeName(p.Type, p.SubType), p.Offset, p.Size)
}
