package nvscsv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nvskit/nvskit/internal/clip"
	"github.com/nvskit/nvskit/nvs"
)

// This file holds the CSV dialect of ESP-IDF's mass-manufacturing tool (mfg_gen.py): a
// CONFIG.csv that lists the keys without values, and a VALUES.csv with one row per device.

// Config row types beyond those of the generate CSV. They mark values that the mass
// manufacturing generator makes itself for each device, so they take no column in VALUES.csv.
const (
	TypeX509Cert = "x509_cert" // the device certificate issued for this device
	TypeX509Key  = "x509_key"  // the device's private key (PKCS#8)
	TypeX509CA   = "x509_ca"   // the certificate of the CA that issued it
)

// MfgConfigRow is one row of an mfg CONFIG.csv: key,type,encoding[,REPEAT].
type MfgConfigRow struct {
	Line     int    // physical line in the file
	Key      string // key, or namespace name
	Type     string // namespace, data, file, or one of the x509_* types
	Encoding string // as written; empty for namespace rows
	Repeat   bool   // the first device's value is used for every device
}

// IsNamespace reports whether the row declares a namespace.
func (r *MfgConfigRow) IsNamespace() bool { return r.Type == "namespace" }

// IsGenerated reports whether the value is made by the generator (an x509_* type) rather than
// read from VALUES.csv.
func (r *MfgConfigRow) IsGenerated() bool {
	return r.Type == TypeX509Cert || r.Type == TypeX509Key || r.Type == TypeX509CA
}

// MfgConfig is a parsed CONFIG.csv.
type MfgConfig struct {
	File string         // the name given to ParseMfgConfig, used in errors
	Rows []MfgConfigRow // in file order
	// Warnings are rows accepted as mfg_gen.py accepts them but probably not meant: a key
	// defined twice in one namespace (every image then holds both entries, and the device
	// reads only one of them).
	Warnings []Notice
}

// ParseMfgConfig reads an mfg_gen CONFIG.csv: no header; each row is key,type,encoding with an
// optional fourth field REPEAT; namespace rows are "name,namespace,". Blank lines and lines
// starting with '#' are skipped. Every encoding of the generate CSV is accepted, including
// i16, u64 and i64, which mfg_gen.py itself refuses. name is used in errors.
func ParseMfgConfig(name string, r io.Reader) (*MfgConfig, error) {
	cr := NewRecordReader(r)
	cr.SetLimit(MaxConfigRecord)
	cfg := &MfgConfig{File: name}
	ns := ""
	defined := map[nsKey]int{}
	for {
		fields, line, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &Error{File: name, Line: line, Msg: recordMsg(err), Err: err}
		}
		if strings.HasPrefix(fields[0], "#") {
			continue
		}
		bad := func(format string, args ...any) error {
			return &Error{File: name, Line: line, Msg: fmt.Sprintf(format, args...)}
		}
		if len(fields) == 1 && strings.Count(fields[0], ";") >= 2 {
			return nil, bad("the row is separated by ';', not commas (a spreadsheet saved it with its own list separator); mfg_gen.py reads only commas: save the file as comma-separated CSV")
		}
		row := MfgConfigRow{Line: line}
		if len(fields) >= 4 {
			for i, f := range fields[3:] {
				if f == "REPEAT" {
					row.Repeat = true
				} else if f != "" {
					return nil, bad("field %d is %s; the only fourth field allowed is REPEAT (format: key,type,encoding[,REPEAT])", 4+i, clip.Quote(f))
				}
			}
		}
		for len(fields) < 3 {
			fields = append(fields, "")
		}
		row.Key, row.Type, row.Encoding = fields[0], strings.TrimSpace(fields[1]), strings.TrimSpace(fields[2])
		if row.Key == "" {
			return nil, bad("the key is empty (format: key,type,encoding[,REPEAT])")
		}
		if len(row.Key) > 15 {
			return nil, bad("key %s is %d bytes; NVS keys are at most 15", clip.Quote(row.Key), len(row.Key))
		}
		switch row.Type {
		case "namespace":
			if row.Repeat {
				return nil, bad("namespace %q: REPEAT applies to data rows only", row.Key)
			}
		case "data", "file":
			if err := CheckEncoding(row.Encoding); err != nil {
				return nil, bad("key %q: %v", row.Key, err)
			}
		case TypeX509Cert, TypeX509Key, TypeX509CA:
			if row.Encoding != "string" && row.Encoding != "binary" {
				return nil, bad("key %q: %s rows take the encoding string (PEM text) or binary (DER bytes), not %s",
					row.Key, row.Type, clip.Quote(row.Encoding))
			}
			if row.Repeat {
				return nil, bad("key %q: %s values are made for each device; REPEAT does not apply", row.Key, row.Type)
			}
		case "":
			return nil, bad("key %q: the type is empty; use namespace, data, file, %s, %s or %s",
				row.Key, TypeX509Cert, TypeX509Key, TypeX509CA)
		default:
			return nil, bad("key %q: unknown type %s; use namespace, data, file, %s, %s or %s",
				row.Key, clip.Quote(row.Type), TypeX509Cert, TypeX509Key, TypeX509CA)
		}
		if row.IsNamespace() {
			ns = row.Key
		} else if prev, ok := defined[nsKey{ns, row.Key}]; ok {
			cfg.Warnings = append(cfg.Warnings, Notice{File: name, Line: line, Warning: true, Msg: fmt.Sprintf(
				"key %q is defined twice in namespace %q: first at %s:%d, again here; every image gets both entries (as mfg_gen.py writes them), but the device reads only one of them: remove one of the rows",
				row.Key, ns, name, prev)})
		} else {
			defined[nsKey{ns, row.Key}] = line
		}
		cfg.Rows = append(cfg.Rows, row)
	}
	if len(cfg.Rows) == 0 {
		return nil, &Error{File: name, Msg: "the config file has no rows; it lists key,type,encoding for every value"}
	}
	return cfg, nil
}

// CheckEncoding reports whether enc is an encoding a data or file row may use (see Encodings).
func CheckEncoding(enc string) error {
	e := strings.ToLower(strings.TrimSpace(enc))
	for _, x := range Encodings {
		if e == x {
			return nil
		}
	}
	if _, _, _, ok := parseFill(e); ok {
		return nil
	}
	if e == "" {
		return fmt.Errorf("the encoding is empty; use one of %s", strings.Join(Encodings, ", "))
	}
	return fmt.Errorf("unknown encoding %s; use one of %s, blob_fill(N;0xPP), blob_sz_fill(N;0xPP)",
		clip.Quote(enc), strings.Join(Encodings, ", "))
}

// AddRow converts one row, given as its four fields, exactly as if it were a row of a generate
// CSV at file:line, and appends its items (with the Wi-Fi entries the reference adds). The mass
// manufacturing generator uses it to turn a config row and a device's value into items without
// writing a per-device CSV.
func (p *Parser) AddRow(file string, line int, key, typ, enc, value string) error {
	p.file, p.line, p.rowKey = file, line, key
	return p.row(key, typ, enc, value)
}

// Reset forgets the parsed rows, notices and namespace state, keeping the options, so that one
// Parser can be reused for the next device.
func (p *Parser) Reset() {
	opts := p.opts
	ns, keys := p.nsSeen, p.keys
	clear(ns)
	clear(keys)
	rows := p.rows[:0]
	*p = Parser{opts: opts, nsSeen: ns, keys: keys, rows: rows}
}

// RecordReader reads CSV records one at a time, as Python's csv module reads a file opened as
// text: universal line endings, comma separated, '"' quoting with "" as an escaped quote, no
// trimming. Lines of only white space are skipped (mfg_gen.py strips them first). Unlike the
// generate CSV, lines starting with '#' are data.
type RecordReader struct {
	r    *bufio.Reader
	line int    // physical lines consumed
	buf  []byte // the line being read
	rest []byte // what followed a lone '\r' (an old Mac line ending) in buf
	// generate selects the nvs_partition_gen dialect: physical lines starting with '#' are
	// dropped before parsing, even inside a quoted value, and blank lines inside a quoted value
	// are part of it.
	generate bool
	limit    int // longest record in bytes, 0 for no limit
	budget   int // what the record being read may still take
}

// SetLimit bounds a record (all its physical lines) to n bytes, so that a file that never
// ends a line or a quoted value (a FIFO, /dev/zero, a missing closing quote) cannot make the
// reader hold an unbounded line: Next then returns an error wrapping ErrTooLarge. Zero means
// no limit.
func (cr *RecordReader) SetLimit(n int) { cr.limit = n }

// recordTooLong is the error for a record over the limit.
func (cr *RecordReader) recordTooLong() error {
	return &LimitError{Size: -1, Limit: int64(cr.limit),
		Why: "the most one row of this file can hold; is a closing quote missing, or is this not a CSV file?"}
}

// NewRecordReader returns a RecordReader reading from r. A UTF-8 byte order mark at the start
// is dropped, as spreadsheet programs write one (mfg_gen.py would take it as part of the first
// key).
func NewRecordReader(r io.Reader) *RecordReader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\xEF\xBB\xBF" {
		br.Discard(3)
	}
	return &RecordReader{r: br}
}

// readLine returns the next physical line without its line ending ("\n", "\r\n" or "\r").
func (cr *RecordReader) readLine() (string, error) {
	var raw []byte
	if len(cr.rest) > 0 {
		raw, cr.rest = cr.rest, nil
	} else {
		cr.buf = cr.buf[:0]
		for {
			chunk, err := cr.r.ReadSlice('\n')
			cr.buf = append(cr.buf, chunk...)
			if cr.limit > 0 && len(cr.buf) > cr.budget {
				return "", cr.recordTooLong()
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				if len(cr.buf) == 0 {
					return "", io.EOF
				}
				break
			}
			if err != nil {
				return "", err
			}
			break
		}
		raw = cr.buf
	}
	cr.line++
	if i := bytes.IndexByte(raw, '\r'); i >= 0 {
		after := raw[i+1:]
		if len(after) > 0 && after[0] == '\n' {
			after = after[1:]
		}
		if len(after) > 0 {
			cr.rest = append([]byte(nil), after...)
		}
		return string(raw[:i]), nil
	}
	if n := len(raw); n > 0 && raw[n-1] == '\n' {
		raw = raw[:n-1]
	}
	return string(raw), nil
}

// ErrUnclosedQuote: a quoted field runs to the end of the file.
var ErrUnclosedQuote = errors.New("quoted value is never closed: add the closing '\"'")

// Next returns the fields of the next record and the physical line it starts on, or io.EOF.
func (cr *RecordReader) Next() (fields []string, line int, err error) {
	var text string
	for {
		cr.budget = cr.limit
		t, err := cr.readLine()
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return nil, cr.line + 1, err
			}
			return nil, cr.line, err
		}
		if strings.TrimSpace(t) != "" && !cr.comment(t) {
			text = t
			cr.budget -= len(t)
			break
		}
	}
	line = cr.line
	i := 0
	for {
		if i >= len(text) || text[i] != '"' {
			// An unquoted field runs to the next comma; quotes in it are literal.
			k := strings.IndexByte(text[i:], ',')
			if k < 0 {
				return append(fields, text[i:]), line, nil
			}
			fields = append(fields, text[i:i+k])
			i += k + 1
			continue
		}
		// A quoted field: "" is a quote, line breaks are part of the value.
		var sb strings.Builder
		i++
		for {
			j := strings.IndexByte(text[i:], '"')
			if j < 0 {
				sb.WriteString(text[i:])
				sb.WriteByte('\n')
				if text, err = cr.continuation(); err != nil {
					return nil, line, err
				}
				i = 0
				continue
			}
			sb.WriteString(text[i : i+j])
			i += j + 1
			if i < len(text) && text[i] == '"' {
				sb.WriteByte('"')
				i++
				continue
			}
			break
		}
		// Anything between the closing quote and the next comma is kept, as Python does.
		k := strings.IndexByte(text[i:], ',')
		if k < 0 {
			sb.WriteString(text[i:])
			return append(fields, sb.String()), line, nil
		}
		sb.WriteString(text[i : i+k])
		fields = append(fields, sb.String())
		i += k + 1
	}
}

// continuation returns the next line of a quoted value that spans lines. mfg_gen.py drops
// blank lines even there; nvs_partition_gen drops comment lines there.
func (cr *RecordReader) continuation() (string, error) {
	for {
		t, err := cr.readLine()
		if err == io.EOF {
			return "", ErrUnclosedQuote
		}
		if err != nil {
			return "", err
		}
		cr.budget -= len(t) + 1
		if cr.limit > 0 && cr.budget < 0 {
			return "", cr.recordTooLong()
		}
		if cr.generate {
			if !cr.comment(t) {
				return t, nil
			}
		} else if strings.TrimSpace(t) != "" {
			return t, nil
		}
	}
}

// comment reports whether a physical line is a comment of the generate dialect.
func (cr *RecordReader) comment(t string) bool {
	return cr.generate && len(t) > 0 && t[0] == '#'
}

// Line returns the number of physical lines read so far.
func (cr *RecordReader) Line() int { return cr.line }

// MfgDevice is one device row of VALUES.csv, matched to the config.
type MfgDevice struct {
	Line int    // physical line of the row in VALUES.csv
	Row  int    // 1 for the first device row, 2 for the next, ...
	ID   string // the file id: the --fileid column's value, or the row number
	// Values holds, for each config row, the value from VALUES.csv (REPEAT applied); it is
	// empty for namespace and generated rows.
	Values []string
	// Columns holds, for each config row, the 1-based VALUES.csv column of its value, or 0.
	Columns []int
	// Fields holds every field of the row as read, in header order (REPEAT not applied).
	Fields []string
}

// DeviceFrom makes the device with file id id from its values by key (get returns the value
// of a config key), as if read from a VALUES.csv row; the factory ledger stores rows that way.
// A config key get does not know is an error naming it.
func (cfg *MfgConfig) DeviceFrom(id string, get func(key string) (string, bool)) (*MfgDevice, error) {
	d := &MfgDevice{ID: id, Row: 1, Values: make([]string, len(cfg.Rows)), Columns: make([]int, len(cfg.Rows))}
	for i := range cfg.Rows {
		r := &cfg.Rows[i]
		if r.IsNamespace() || r.IsGenerated() {
			continue
		}
		v, ok := get(r.Key)
		if !ok {
			return nil, &Error{File: cfg.File, Line: r.Line, Key: r.Key,
				Msg: fmt.Sprintf("key %q has no value for device %q (the config differs from the one the values were imported with)", r.Key, id)}
		}
		d.Values[i] = v
	}
	return d, nil
}

// MfgValues reads VALUES.csv one device at a time: a header row of key names, then one row per
// device. The config's keys must appear among the columns in the config's order; other columns
// (an id, notes) are ignored. Every row must have as many fields as the header.
type MfgValues struct {
	File   string   // name used in errors
	Header []string // the column names
	cfg    *MfgConfig
	rr     *RecordReader
	col    []int // per config row: column index, or -1
	fileID int   // column index of the file id, or -1
	repeat []string
	rows   int
}

// NewMfgValues reads the header of VALUES.csv from r and matches it to cfg. fileID names the
// column whose value names each device's files; empty means the devices are numbered 1, 2, 3...
func NewMfgValues(cfg *MfgConfig, name string, r io.Reader, fileID string) (*MfgValues, error) {
	v := &MfgValues{File: name, cfg: cfg, rr: NewRecordReader(r), fileID: -1}
	v.rr.SetLimit(MaxHeaderRecord)
	hdr, line, err := v.rr.Next()
	if err == io.EOF {
		return nil, &Error{File: name, Msg: "the values file is empty; its first row names the keys"}
	}
	if err != nil {
		return nil, &Error{File: name, Line: line, Msg: recordMsg(err), Err: err}
	}
	v.Header = hdr
	if len(hdr) == 1 && strings.Contains(hdr[0], ";") {
		return nil, &Error{File: name, Line: line, Msg: "the header is separated by ';', not commas (a spreadsheet saved it with its own list separator); mfg_gen.py reads only commas: save the file as comma-separated CSV"}
	}
	next := 0
	v.col = make([]int, len(cfg.Rows))
	for i := range cfg.Rows {
		r := &cfg.Rows[i]
		v.col[i] = -1
		if r.IsNamespace() || r.IsGenerated() {
			continue
		}
		j := next
		for j < len(hdr) && hdr[j] != r.Key {
			j++
		}
		if j == len(hdr) {
			msg := fmt.Sprintf("key %q is not a column of %s", r.Key, name)
			for k := 0; k < next; k++ {
				if hdr[k] == r.Key {
					msg = fmt.Sprintf("key %q is column %d of %s, before the column of an earlier config key; the values columns must follow the config's order", r.Key, k+1, name)
				}
			}
			return nil, &Error{File: cfg.File, Line: r.Line, Key: r.Key, Msg: msg}
		}
		v.col[i] = j
		next = j + 1
	}
	v.rr.SetLimit(v.recordLimit())
	if fileID != "" {
		for j, h := range hdr {
			if h == fileID {
				v.fileID = j
				break
			}
		}
		if v.fileID < 0 {
			return nil, &Error{File: name, Line: line, Msg: fmt.Sprintf("the file id column %q is not in the header (%s)",
				fileID, strings.Join(hdr, ","))}
		}
	}
	return v, nil
}

// Next returns the next device, or io.EOF after the last. A row with the wrong number of fields
// gives an *Error naming the file, line and the missing or extra columns; reading can go on
// with the next row.
func (v *MfgValues) Next() (*MfgDevice, error) {
	fields, line, err := v.rr.Next()
	if err == io.EOF {
		return nil, io.EOF
	}
	v.rows++
	if err != nil {
		return nil, &Error{File: v.File, Line: line, Msg: recordMsg(err), Err: err}
	}
	if len(fields) != len(v.Header) {
		var msg string
		if len(fields) < len(v.Header) {
			msg = fmt.Sprintf("the row has %d values but the header has %d columns; column %d (%s) and after are missing",
				len(fields), len(v.Header), len(fields)+1, v.Header[len(fields)])
		} else {
			msg = fmt.Sprintf("the row has %d values but the header has %d columns; column %d is extra (put a value that contains commas in double quotes)",
				len(fields), len(v.Header), len(v.Header)+1)
		}
		return &MfgDevice{Line: line, Row: v.rows, ID: v.idOf(fields)}, &Error{File: v.File, Line: line, Msg: msg, Err: ErrFieldCount}
	}
	if v.repeat == nil {
		v.repeat = make([]string, len(v.cfg.Rows))
		for i, r := range v.cfg.Rows {
			if r.Repeat && v.col[i] >= 0 {
				v.repeat[i] = fields[v.col[i]]
			}
		}
	}
	d := &MfgDevice{Line: line, Row: v.rows, ID: v.idOf(fields), Fields: fields,
		Values: make([]string, len(v.cfg.Rows)), Columns: make([]int, len(v.cfg.Rows))}
	for i, r := range v.cfg.Rows {
		c := v.col[i]
		if c < 0 {
			continue
		}
		d.Columns[i] = c + 1
		if r.Repeat {
			d.Values[i] = v.repeat[i]
		} else {
			d.Values[i] = fields[c]
		}
	}
	return d, nil
}

func (v *MfgValues) idOf(fields []string) string {
	if v.fileID < 0 {
		return fmt.Sprint(v.rows)
	}
	if v.fileID < len(fields) {
		return fields[v.fileID]
	}
	return ""
}

// Buffered returns the number of bytes read from the source and not yet consumed: when it is
// zero, the next Next reads from the source, which may wait.
func (v *MfgValues) Buffered() int { return v.rr.r.Buffered() + len(v.rr.rest) }

// FileIDColumn returns the 1-based column of the file id, or 0 when devices are numbered.
func (v *MfgValues) FileIDColumn() int { return v.fileID + 1 }

// ErrFieldCount: a VALUES.csv row does not have as many fields as the header.
var ErrFieldCount = errors.New("wrong number of values")

// Limits on what the mass manufacturing reader holds in memory at once. They are far above
// what any valid input needs and keep a file that never ends (a FIFO, /dev/zero) from growing
// memory without bound.
const (
	// MaxConfigRecord is the longest CONFIG.csv row (key,type,encoding[,REPEAT]).
	MaxConfigRecord = 64 << 10
	// MaxHeaderRecord is the longest VALUES.csv header row.
	MaxHeaderRecord = 1 << 20
	// maxOtherColumn is what a VALUES.csv column that no config row uses (an id, notes) may
	// hold.
	maxOtherColumn = 64 << 10
	// maxPath is the longest file name a file row's value may be.
	maxPath = 4096
)

// ErrTooLarge: an input is larger than its format allows. Errors that wrap it are
// *LimitError values naming the limit.
var ErrTooLarge = errors.New("input larger than its format allows")

// LimitError is an input larger than the limit its format implies.
type LimitError struct {
	Size  int64  // the input's size in bytes, or -1 when it is only known to exceed Limit
	Limit int64  // the limit in bytes
	Why   string // what the limit is, for the message
}

// Error returns "is N bytes, over the limit of M bytes: WHY".
func (e *LimitError) Error() string {
	if e.Size >= 0 {
		return fmt.Sprintf("is %d bytes, over the limit of %d bytes: %s", e.Size, e.Limit, e.Why)
	}
	return fmt.Sprintf("is over the limit of %d bytes: %s", e.Limit, e.Why)
}

// Is reports whether target is ErrTooLarge.
func (e *LimitError) Is(target error) bool { return target == ErrTooLarge }

// MaxValueSize returns the largest value text, in bytes, that a value of encoding enc (a data
// value, or the content of a file a file row names) can have and still convert to something
// the device stores, with room for white space; and a description of the limit for messages.
// Readers of untrusted input read at most that much.
func MaxValueSize(enc string) (int64, string) {
	e := strings.ToLower(strings.TrimSpace(enc))
	if t, ok := nvs.ParseType(e); ok && t.IsInt() {
		return 4096, fmt.Sprintf("an %s value is a decimal integer, far shorter", e)
	}
	switch e {
	case "hex2bin", "base64":
		return 2*nvs.MaxBlob + 64<<10, fmt.Sprintf("the %s text of the largest blob the device stores (%d bytes) is shorter", e, nvs.MaxBlob)
	}
	return nvs.MaxBlob, fmt.Sprintf("the device stores no value larger than %d bytes (its largest blob)", nvs.MaxBlob)
}

// recordLimit is the longest device row that can be valid: every config column at its
// encoding's maximum, every other column at maxOtherColumn, all of it quoted with every
// character a doubled quote.
func (v *MfgValues) recordLimit() int {
	n := 0
	used := make([]bool, len(v.Header))
	for i, r := range v.cfg.Rows {
		c := v.col[i]
		if c < 0 {
			continue
		}
		used[c] = true
		if r.Type == "file" {
			n += maxPath
		} else {
			m, _ := MaxValueSize(r.Encoding)
			n += int(m)
		}
	}
	for _, u := range used {
		if !u {
			n += maxOtherColumn
		}
	}
	return 2*n + 3*len(v.Header) + 4096
}

// recordMsg is the message for an error of RecordReader.Next.
func recordMsg(err error) string {
	if errors.Is(err, ErrTooLarge) {
		return "the row " + err.Error()
	}
	return err.Error()
}
