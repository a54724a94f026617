package partition

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// maxValue bounds the numbers the CSV parser keeps; anything larger can never fit the table.
const maxValue = 1 << 40

// row is a CSV row before placement: offset and size may be missing or negative.
type row struct {
	p         Partition
	offset    int64
	hasOffset bool
	size      int64
}

// ParseCSV reads a CSV partition table as gen_esp32part.py does and places the partitions:
// empty offsets are filled in, negative sizes ("up to this address") resolved. It does not
// verify the result; call Verify (or use Parse).
func ParseCSV(r io.Reader, opts Options) (*Table, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	subtypes, _ := opts.subtypes()
	if bytes.HasPrefix(data, []byte{0xEB, 0xEB}) {
		return nil, tableErr(ErrEncoding, "this is not a CSV: it starts eb eb, the MD5 row of a binary table with no partitions (gen_esp32part.py cannot read such a table either)")
	}
	text, err := decodeText(data)
	if err != nil {
		var pe *Error
		if len(data) >= EntrySize && len(data)%EntrySize == 0 && errors.As(err, &pe) {
			pe.Msg += fmt.Sprintf("; if this is a binary partition table, its first entry is damaged: it starts %s instead of aa 50", hexBytes(data[:2]))
		}
		return nil, err
	}
	var rows []row
	for i, raw := range splitLines(text) {
		lineNo := i + 1
		line := expandVars(raw, opts.LookupEnv)
		if name, ok := leadingVariable(line); ok {
			return nil, lineErr(lineNo, ErrUnknownVariable, "unknown variable '%s': set it in the environment, or write the name without '$'", name)
		}
		line = pyStrip(line)
		if line == "" || line[0] == '#' {
			continue
		}
		rw, err := parseRow(line, lineNo, &opts, &subtypes)
		if err != nil {
			return nil, err
		}
		rw.p.Index = len(rows)
		rows = append(rows, rw)
	}
	t := &Table{Offset: opts.offset()}
	if err := place(rows, &opts); err != nil {
		return nil, err
	}
	for i := range rows {
		t.Partitions = append(t.Partitions, rows[i].p)
	}
	return t, nil
}

// parseRow parses one non-comment line.
func parseRow(line string, lineNo int, opts *Options, subtypes *[4]keywords) (row, error) {
	f := strings.Split(line+",,,,", ",")
	for i := range f {
		f[i] = pyStrip(f[i])
	}
	rw := row{p: Partition{Name: f[0], Line: lineNo}}
	if strings.IndexByte(rw.p.Name, 0) >= 0 {
		return rw, lineErr(lineNo, ErrSyntax, "the name %q contains a NUL character, which would end it in the binary; remove it", rw.p.Name)
	}
	if len(rw.p.Name) > NameLen {
		cut := rw.p.Label()
		msg := fmt.Sprintf("line %d: name %q is %d bytes; the binary keeps only the first %d: %q", lineNo, rw.p.Name, len(rw.p.Name), NameLen, cut)
		if !utf8.Valid(cut) {
			msg += " (the cut splits a character: neither gen_esp32part.py nor nvskit can read that binary back; shorten the name)"
		}
		opts.warn("%s", msg)
	}
	// type
	if f[1] == "" {
		return rw, lineErr(lineNo, ErrSyntax, "the type column is empty; give app, data, bootloader, partition_table or a number")
	}
	typ, err := parseNumber(f[1], typeKeywords, "type", lineNo)
	if err != nil {
		return rw, err
	}
	if typ < 0 || typ > 0xFF {
		return rw, lineErr(lineNo, ErrRange, "type %s is %d, outside 0..255", f[1], typ)
	}
	rw.p.Type = uint8(typ)
	// subtype
	var sub int64
	switch {
	case f[2] == "" && typ == TypeApp:
		return rw, lineErr(lineNo, ErrSyntax, "an app partition needs a subtype: %s", subtypes[TypeApp].names())
	case f[2] == "":
		sub = SubtypeUndefined
	default:
		sub, err = parseNumber(f[2], subtypesOf(subtypes, typ), "subtype", lineNo)
		if err != nil {
			return rw, err
		}
		if sub < 0 || sub > 0xFF {
			return rw, lineErr(lineNo, ErrRange, "subtype %s is %d, outside 0..255", f[2], sub)
		}
	}
	rw.p.SubType = uint8(sub)
	// offset
	tableOff := int64(opts.offset())
	switch {
	case typ == TypeBootloader && sub == SubtypePrimary:
		if opts.PrimaryBootloaderOffset == nil {
			return rw, lineErr(lineNo, ErrOptions, "a primary bootloader row needs --primary-bootloader-offset (the primary bootloader offset is not defined)")
		}
		rw.offset, rw.hasOffset = int64(*opts.PrimaryBootloaderOffset), true
	case typ == TypeBootloader && sub == SubtypeRecovery:
		if opts.RecoveryBootloaderOffset == nil {
			return rw, lineErr(lineNo, ErrOptions, "a recovery bootloader row needs --recovery-bootloader-offset (the recovery bootloader offset is not defined)")
		}
		rw.offset, rw.hasOffset = int64(*opts.RecoveryBootloaderOffset), true
	case typ == TypePartitionTable && sub == SubtypePrimary:
		rw.offset, rw.hasOffset = tableOff, true
	case f[3] == "":
	default:
		rw.offset, err = parseNumber(f[3], nil, "offset", lineNo)
		if err != nil {
			return rw, err
		}
		rw.hasOffset = true
	}
	// size
	switch {
	case typ == TypeBootloader:
		if opts.PrimaryBootloaderOffset == nil {
			return rw, lineErr(lineNo, ErrOptions, "a bootloader row needs --primary-bootloader-offset (its size is the room between the primary bootloader and the table; the primary bootloader offset is not defined)")
		}
		rw.size = tableOff - int64(*opts.PrimaryBootloaderOffset)
	case typ == TypePartitionTable:
		rw.size = SectorSize
	case f[4] == "":
		return rw, lineErr(lineNo, ErrSyntax, "the size column is empty (size field can't be empty); give a size such as 0x6000, 24K or 1M")
	default:
		rw.size, err = parseNumber(f[4], nil, "size", lineNo)
		if err != nil {
			return rw, err
		}
	}
	// flags
	for _, fl := range strings.Split(f[5], ":") {
		switch fl {
		case "encrypted":
			rw.p.Flags |= FlagEncrypted
		case "readonly":
			rw.p.Flags |= FlagReadonly
		case "":
		default:
			return rw, lineErr(lineNo, ErrUnknownFlag, "%s", flagHint(fl))
		}
	}
	return rw, nil
}

// flagHint explains an unknown flag, with the likely fix.
func flagHint(fl string) string {
	msg := fmt.Sprintf("unknown flag '%s' in the flags column; the flags are encrypted and readonly, joined by ':'", fl)
	t := pyStrip(fl)
	switch {
	case strings.HasPrefix(t, "#"):
		return msg + "; only whole lines starting with # are comments, so move the comment to a line of its own"
	case t != fl && (t == "encrypted" || t == "readonly"):
		return msg + "; write them without spaces around ':' (e.g. encrypted:readonly)"
	case strings.EqualFold(t, "encrypted") || strings.EqualFold(t, "readonly"):
		return msg + "; they are case-sensitive, write " + strings.ToLower(t)
	}
	return msg
}

// parseNumber parses a number column as the reference does: a k/K/m/M suffix multiplies the
// rest (parsed the same way, so "1kk" is 1 MiB), then int(x, 0), then the column's keywords
// if it has any.
func parseNumber(v string, kw keywords, column string, lineNo int) (int64, error) {
	var muls []int64
	core := v
	for core != "" {
		last, n := utf8.DecodeLastRuneInString(core)
		var mul int64
		switch last {
		case 'k', 'K', '\u212A':
			mul = 1024
		case 'm', 'M':
			mul = 1024 * 1024
		}
		if mul == 0 {
			break
		}
		muls = append(muls, mul)
		core = core[:len(core)-n]
	}
	if len(muls) > 8 {
		return 0, lineErr(lineNo, ErrRange, "%s %s has %d K/M suffixes; use at most one", column, v, len(muls))
	}
	x, err := parseCore(core, kw, column, lineNo)
	if err != nil {
		return 0, err
	}
	for _, m := range muls {
		if x > maxValue || x < -maxValue {
			return 0, lineErr(lineNo, ErrRange, "%s %s is too large", column, v)
		}
		x *= m
	}
	if x > maxValue || x < -maxValue {
		return 0, lineErr(lineNo, ErrRange, "%s %s is too large", column, v)
	}
	return x, nil
}

// parseCore parses a number without suffix: int(x, 0), then the keywords.
func parseCore(v string, kw keywords, column string, lineNo int) (int64, error) {
	x, ok, big := pyInt(v)
	if ok {
		if x > maxValue || x < -maxValue {
			return 0, lineErr(lineNo, ErrRange, "%s %s is too large", column, v)
		}
		return x, nil
	}
	if big {
		return 0, lineErr(lineNo, ErrRange, "%s %s is too large", column, v)
	}
	leadingZero := ""
	if t := pyStrip(v); len(t) > 1 && t[0] == '0' && t[1] >= '0' && t[1] <= '9' {
		leadingZero = "; decimal numbers cannot have leading zeros, write " + strings.TrimLeft(t, "0_") + " (or 0x" + t + " if it is hex)"
	}
	if len(kw) == 0 {
		hint := "; give a number: decimal or 0x hex, with an optional K or M suffix"
		if leadingZero != "" {
			hint = leadingZero
		}
		kind := ErrSyntax
		if column == "subtype" {
			kind = ErrUnknownSubtype
			hint = "; custom types have no subtype names, give the subtype as a number"
		}
		return 0, lineErr(lineNo, kind, "invalid %s %s (invalid field value)%s", column, v, hint)
	}
	if x, ok := kw.lookup(pyLower(v)); ok {
		return int64(x), nil
	}
	kind := ErrUnknownType
	if column == "subtype" {
		kind = ErrUnknownSubtype
	}
	return 0, lineErr(lineNo, kind, "%s '%s' is not valid. Known keywords: %s (or a number)%s", column, v, kw.names(), leadingZero)
}

// place fills in empty offsets and resolves negative sizes, in file order, rejecting rows that
// start below the end of the previous one, as the reference does.
func place(rows []row, opts *Options) error {
	tableOff := int64(opts.offset())
	end := tableOff + SectorSize
	var first *row
	if len(rows) > 0 {
		first = &rows[0]
	}
	for i := range rows {
		rw := &rows[i]
		t, st := rw.p.Type, rw.p.SubType
		if (t == TypeBootloader || t == TypePartitionTable) && st == SubtypePrimary {
			if err := rw.finish(); err != nil {
				return err
			}
			continue
		}
		if rw.hasOffset && rw.offset < end {
			if first != nil && rw != first && rw.sameAs(first) {
				return lineErr(rw.p.Line, ErrOverlap, "partitions overlap: this row repeats the first partition %q (line %d) exactly; remove one of them",
					rw.p.Name, first.p.Line)
			}
			if first != nil && rw.sameAs(first) {
				return lineErr(rw.p.Line, ErrOverlap, "partition %q starts at 0x%x, inside the partition table's sector at 0x%x; use a free offset 0x%x or higher (or leave the offset empty)",
					rw.p.Name, rw.offset, tableOff, end)
			}
			return lineErr(rw.p.Line, ErrOverlap, "partitions overlap: partition %q starts at 0x%x, but the previous partition ends at 0x%x; rows with offsets must be in increasing address order (use 0x%x or higher, or leave the offset empty)",
				rw.p.Name, rw.offset, end, end)
		}
		if !rw.hasOffset {
			align := int64(alignment(t))
			if end%align != 0 {
				end += align - end%align
			}
			rw.offset, rw.hasOffset = end, true
		}
		if rw.size < 0 {
			rw.size = -rw.size - rw.offset
		}
		end = rw.offset + rw.size
		if err := rw.finish(); err != nil {
			return err
		}
	}
	return nil
}

// sameAs is the reference's row equality: name, type, subtype, offset and size.
func (rw *row) sameAs(o *row) bool {
	return rw.p.Name == o.p.Name && rw.p.Type == o.p.Type && rw.p.SubType == o.p.SubType &&
		rw.hasOffset == o.hasOffset && rw.offset == o.offset && rw.size == o.size
}

// finish checks that offset and size fit the binary's 32-bit fields.
func (rw *row) finish() error {
	if rw.offset < 0 || rw.offset > 0xFFFFFFFF {
		return lineErr(rw.p.Line, ErrRange, "partition %q: offset %d does not fit in 32 bits", rw.p.Name, rw.offset)
	}
	if rw.size < 0 || rw.size > 0xFFFFFFFF {
		if rw.size < 0 {
			return lineErr(rw.p.Line, ErrRange, "partition %q: its size resolves to %d (a negative size means \"up to this address\", which must be above the offset 0x%x)", rw.p.Name, rw.size, rw.offset)
		}
		return lineErr(rw.p.Line, ErrRange, "partition %q: size 0x%x does not fit in 32 bits", rw.p.Name, rw.size)
	}
	rw.p.Offset, rw.p.Size = uint32(rw.offset), uint32(rw.size)
	return nil
}

// alignment is the offset alignment of a type: 64 KiB for app, 4 KiB for every other type.
func alignment(t uint8) uint32 {
	if t == TypeApp {
		return 0x10000
	}
	return 0x1000
}

// WriteCSV writes the table as gen_esp32part.py writes CSV: its two header comments, then one
// row per partition in table order, with keywords where the value has one (extra subtypes
// included), offsets in hex and sizes in M, K or hex.
func (t *Table) WriteCSV(w io.Writer, opts Options) error {
	subtypes, err := opts.subtypes()
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("# ESP-IDF Partition Table\n# Name, Type, SubType, Offset, Size, Flags\n")
	for i := range t.Partitions {
		p := &t.Partitions[i]
		sub := fmt.Sprint(p.SubType)
		if n, ok := subtypesOf(&subtypes, int64(p.Type)).name(p.SubType); ok {
			sub = n
		}
		fmt.Fprintf(bw, "%s,%s,%s,0x%x,%s,%s\n", p.Name, TypeName(p.Type), sub, p.Offset, FormatSize(p.Size), p.Flags)
	}
	return bw.Flush()
}

// MarshalCSV returns the table as CSV text (see WriteCSV).
func (t *Table) MarshalCSV(opts Options) ([]byte, error) {
	var b bytes.Buffer
	err := t.WriteCSV(&b, opts)
	return b.Bytes(), err
}

// FormatSize prints a size as the CSV writer does: nM, nK, or 0x hex (0 is "0M").
func FormatSize(n uint32) string {
	switch {
	case n%0x100000 == 0:
		return fmt.Sprintf("%dM", n/0x100000)
	case n%0x400 == 0:
		return fmt.Sprintf("%dK", n/0x400)
	}
	return fmt.Sprintf("0x%x", n)
}
