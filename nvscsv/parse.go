package nvscsv

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nvskit/nvskit/internal/clip"
	"github.com/nvskit/nvskit/nvs"
)

// Error is a problem with one row of a CSV file. Its text starts with "file:line:".
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
	Err  error // the underlying error, if any (for errors.Is, e.g. nvs.ErrKeyTooLong)
}

// Error returns "file:line: message".
func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if loc == "" {
		return e.Msg
	}
	return loc + ": " + e.Msg
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Notice is something the parser did or noticed that the user should hear about: an entry it
// added, or a place where the reference tool would have done something else. A Warning is a
// row that is accepted (the image stays the reference's) but probably not what the user meant.
type Notice struct {
	File    string
	Line    int
	Msg     string
	Warning bool
}

// String returns "file:line: message".
func (n Notice) String() string { return fmt.Sprintf("%s:%d: %s", n.File, n.Line, n.Msg) }

// Row is one item of the parsed CSV, with where it came from.
type Row struct {
	File string
	Line int
	Item nvs.Item
}

// Options configure a Parser.
type Options struct {
	// Version is the format version the items are for; it sets the string and blob limits.
	Version nvs.Version
	// ReadFile reads the file a "file" row names, as written in the CSV. Without it, file rows
	// are an error. The CLI resolves the name against the working directory or --base-dir.
	ReadFile func(name string) ([]byte, error)
}

// Parser reads one or more nvs_partition_gen CSV files in order, with shared state: the
// namespaces seen so far and the Wi-Fi keys that make the reference add entries.
type Parser struct {
	opts    Options
	rows    []Row
	notices []Notice
	ns      string          // current namespace
	nsSeen  map[string]bool // namespaces defined so far
	lastNew string          // most recently created namespace
	wifiSta bool            // sta.* extras written
	apSSID  string
	apPass  string
	apAuth  string
	file    string
	line    int
	rowKey  string
	keys    map[nsKey]keyDef // data keys defined so far, for the duplicate warning
}

type nsKey struct{ ns, key string }

// keyDef is where a key was first defined, and as what.
type keyDef struct {
	file string
	line int
	typ  nvs.Type
}

// NewParser returns a Parser.
func NewParser(opts Options) *Parser {
	if opts.Version == 0 {
		opts.Version = nvs.V2
	}
	return &Parser{opts: opts, nsSeen: make(map[string]bool), keys: make(map[nsKey]keyDef)}
}

// Rows returns the items parsed so far with their file and line.
func (p *Parser) Rows() []Row { return p.rows }

// Notices returns the notices collected so far.
func (p *Parser) Notices() []Notice { return p.notices }

// ParseFile reads a whole CSV from r; name is used in errors and notices.
func ParseFile(name string, r io.Reader, opts Options) ([]Row, []Notice, error) {
	p := NewParser(opts)
	if err := p.Parse(name, r); err != nil {
		return nil, nil, err
	}
	return p.Rows(), p.Notices(), nil
}

// Columns of the CSV header.
var columns = []string{"key", "type", "encoding", "value"}

// Encodings lists the encodings a data or file row may use; blob_fill(N;0xPP) and
// blob_sz_fill(N;0xPP) are accepted too.
var Encodings = []string{"u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "string", "hex2bin", "base64", "binary"}

// parseFill splits a fill encoding, blob_fill(N;0xPP) or blob_sz_fill(N;0xPP), into its name,
// the digits of N and the two hex digits of PP; ok is false when e is not of that form.
// (Hand-written rather than a package-level regexp: nothing is compiled at start-up.)
func parseFill(e string) (name, n, pad string, ok bool) {
	for _, name := range [...]string{"blob_fill", "blob_sz_fill"} {
		args, found := strings.CutPrefix(e, name+"(")
		if !found {
			continue
		}
		args, found = strings.CutSuffix(args, ")")
		if !found {
			return "", "", "", false
		}
		n, pad, found = strings.Cut(args, ";0x")
		if !found || n == "" || strings.Trim(n, "0123456789") != "" ||
			len(pad) != 2 || strings.Trim(pad, "0123456789abcdefABCDEF") != "" {
			return "", "", "", false
		}
		return name, n, pad, true
	}
	return "", "", "", false
}

// Parse reads one CSV file and appends its items.
func (p *Parser) Parse(name string, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return &Error{File: name, Msg: err.Error(), Err: err}
	}
	p.file = name
	recs, err := splitRecords(data)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File = name
		}
		return err
	}
	if len(recs) == 0 {
		return &Error{File: name, Msg: "the file is empty; it needs the header line key,type,encoding,value"}
	}
	col := map[string]int{}
	for i, h := range recs[0].fields {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	var missing []string
	for _, c := range columns {
		if _, ok := col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		if sep := foreignSeparator(recs[0].fields); sep != "" {
			return &Error{File: name, Line: recs[0].line, Msg: fmt.Sprintf(
				"the header is separated by %s, not commas (a spreadsheet saved it with its own list separator); nvs_partition_gen reads only commas: save the file as comma-separated CSV, or replace the %s separators with commas",
				sep, sep)}
		}
		return &Error{File: name, Line: recs[0].line, Msg: fmt.Sprintf(
			"the header has no %s column; the first line must name the columns key,type,encoding,value",
			strings.Join(missing, ", "))}
	}
	width := len(recs[0].fields)
	for _, rec := range recs[1:] {
		get := func(c string) string {
			if i := col[c]; i < len(rec.fields) {
				return rec.fields[i]
			}
			return ""
		}
		p.line = rec.line
		p.rowKey = get("key")
		if len(rec.fields) > width && strings.Join(rec.fields[width:], "") != "" {
			return p.errorf(nil, "the row has %d fields but the header has %d; put a value that contains commas in double quotes",
				len(rec.fields), width)
		}
		if err := p.row(get("key"), get("type"), get("encoding"), get("value")); err != nil {
			return err
		}
	}
	return nil
}

// foreignSeparator names the separator of a header line that was not split on commas: a
// single field that holds the four column names separated by ';' or a tab. It returns "".
func foreignSeparator(header []string) string {
	if len(header) != 1 {
		return ""
	}
	h := strings.ToLower(header[0])
	for _, sep := range []struct{ sep, name string }{{";", "';'"}, {"\t", "tabs"}} {
		n := 0
		for _, f := range strings.Split(h, sep.sep) {
			for _, c := range columns {
				if strings.Trim(strings.TrimSpace(f), `"`) == c {
					n++
				}
			}
		}
		if n >= 2 {
			return sep.name
		}
	}
	return ""
}

// KeyPrefix is how row errors and notices start: `key "NAME": `, the name cut short (see
// internal/clip) so that a huge or secret-looking key field is not echoed whole.
func KeyPrefix(key string) string { return "key " + clip.Quote(key) + ": " }

func (p *Parser) errorf(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if p.rowKey != "" {
		msg = KeyPrefix(p.rowKey) + msg
	}
	return &Error{File: p.file, Line: p.line, Key: p.rowKey, Msg: msg, Err: err}
}

func (p *Parser) notice(format string, args ...any) {
	p.notices = append(p.notices, Notice{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...)})
}

func (p *Parser) warn(format string, args ...any) {
	p.notices = append(p.notices, Notice{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...), Warning: true})
}

func (p *Parser) row(key, typ, enc, value string) error {
	if key == "" {
		return p.errorf(nil, "the key is empty")
	}
	if n := utf8.RuneCountInString(key); len(key) > nvs.MaxKeyLen {
		what := "NVS keys are at most 15"
		if n != len(key) {
			what += " bytes (non-ASCII characters take several)"
		}
		return &Error{File: p.file, Line: p.line, Key: key, Err: nvs.ErrKeyTooLong,
			Msg: fmt.Sprintf("key %s is %d characters; %s", clip.Quote(key), n, what)}
	}
	if strings.IndexByte(key, 0) >= 0 {
		return p.errorf(nvs.ErrNUL, "the name contains a NUL byte; the device reads a name only up to its first NUL, so it could never find this one: remove the NUL")
	}
	if strings.TrimRightFunc(key, unicode.IsSpace) != key || strings.TrimLeftFunc(key, unicode.IsSpace) != key {
		p.notice("key %q has leading or trailing white space, which is part of the key", key)
	}
	switch strings.ToLower(strings.TrimSpace(typ)) {
	case "namespace":
		return p.namespace(key)
	case "data":
		p.checkLeadingSpace(typ, enc, value)
		return p.data(key, enc, []byte(value), false)
	case "file":
		if p.opts.ReadFile == nil {
			return p.errorf(nil, "file rows are not allowed here")
		}
		b, err := p.opts.ReadFile(value)
		if err != nil {
			return p.errorf(err, "cannot read file %s: %v", clip.Quote(value), unwrapPathError(err))
		}
		return p.data(key, enc, b, true)
	case "":
		return p.errorf(nil, "the type is empty; use namespace, data or file")
	default:
		return p.errorf(nil, "unknown type %s; use namespace, data or file", clip.Quote(typ))
	}
}

// checkLeadingSpace warns about a string or binary value that starts with white space, which
// is stored as part of the value (nvs_partition_gen keeps it too, so the image does not change):
// usually it is a space typed after the comma, as in "ssid, data, string, MyNet".
func (p *Parser) checkLeadingSpace(typ, enc, value string) {
	if value == "" || !unicode.IsSpace(rune(value[0])) {
		return
	}
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "string", "binary":
	default:
		return // integers, hex2bin and base64 ignore surrounding white space
	}
	why := ""
	if typ != strings.TrimLeftFunc(typ, unicode.IsSpace) || enc != strings.TrimLeftFunc(enc, unicode.IsSpace) {
		why = " (this row has a space after each comma)"
	}
	p.warn("the value starts with white space, which is stored as part of the value, as nvs_partition_gen stores it%s; if it is not meant, remove the space after the comma", why)
}

func unwrapPathError(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func (p *Parser) namespace(name string) error {
	if !p.nsSeen[name] {
		if len(p.nsSeen) >= nvs.MaxNamespaces {
			return p.errorf(nvs.ErrTooManyNamespaces, "namespace %q would be number %d; NVS allows at most %d",
				name, len(p.nsSeen)+1, nvs.MaxNamespaces)
		}
		p.nsSeen[name] = true
		p.lastNew = name
	} else if name != p.lastNew {
		p.notice("namespace %q selected again: nvskit puts the following keys into %q; nvs_partition_gen would put them into %q, the last namespace it created",
			name, name, p.lastNew)
	}
	p.ns = name
	p.add(nvs.Namespace(name))
	return nil
}

func (p *Parser) add(it nvs.Item) {
	p.rows = append(p.rows, Row{File: p.file, Line: p.line, Item: it})
}

// data converts one data or file row and appends its item, with the Wi-Fi entries the
// reference adds around the magic keys.
func (p *Parser) data(key, enc string, value []byte, fromFile bool) error {
	if p.ns == "" {
		return p.errorf(nvs.ErrNoNamespace, "comes before any namespace row; add a namespace row such as \"storage,namespace,,\" above it (the device would misread this key)")
	}
	it, err := p.convert(key, enc, value, fromFile)
	if err != nil {
		return err
	}
	if err := it.Check(p.opts.Version); err != nil {
		return p.checkError(it, err)
	}
	p.checkDuplicate(it)
	raw := ""
	if strings.HasPrefix(key, "ap.") { // only the soft-AP keys need the raw text
		raw = string(value)
	}
	if err := p.wifiBefore(key, raw); err != nil {
		return err
	}
	p.add(it)
	return p.wifiAfter(key)
}

// checkDuplicate warns about a key defined twice in one namespace: nvs_partition_gen writes
// both entries (and so does nvskit, to keep the image the reference's), but the device reads
// only one of them.
func (p *Parser) checkDuplicate(it nvs.Item) {
	k := nsKey{it.Namespace, it.Key}
	prev, ok := p.keys[k]
	if !ok {
		p.keys[k] = keyDef{p.file, p.line, it.Type}
		return
	}
	reads := "the device reads only one of them (nvskit check on the image reports the duplicate-key)"
	if prev.typ != it.Type {
		reads = fmt.Sprintf("the device keeps both (there as %s, here as %s), and which value firmware gets depends on the type it asks for", prev.typ, it.Type)
	}
	p.warn("key %s is defined twice in namespace %q: first at %s:%d, again here; nvs_partition_gen writes both entries and so does nvskit, but %s: remove one of the rows",
		clip.Quote(it.Key), it.Namespace, prev.file, prev.line, reads)
}

func (p *Parser) checkError(it nvs.Item, err error) error {
	switch {
	case errors.Is(err, nvs.ErrValueTooLong) && it.Type == nvs.TypeString:
		if p.opts.Version == nvs.V1 {
			// A version 1 blob has the same limit, so a blob is no way out here.
			if len(it.Data) <= nvs.MaxString {
				return p.errorf(err, "the string is %d bytes with its NUL; version 1 strings (and blobs) are at most %d: use --version 2, whose strings hold up to %d bytes",
					len(it.Data), nvs.MaxStringV1, nvs.MaxString)
			}
			return p.errorf(err, "the string is %d bytes with its NUL; version 1 strings and blobs are at most %d: use --version 2 and store it with the binary encoding (a multi-page blob)",
				len(it.Data), nvs.MaxStringV1)
		}
		return p.errorf(err, "the string is %d bytes with its NUL; NVS strings are at most %d: store it with the binary encoding (a blob) instead",
			len(it.Data), nvs.MaxString)
	case errors.Is(err, nvs.ErrValueTooLong):
		if p.opts.Version == nvs.V1 {
			return p.errorf(err, "the blob is %d bytes; version 1 blobs are at most %d: use --version 2 (multi-page blobs)",
				len(it.Data), nvs.MaxStringV1)
		}
		return p.errorf(err, "the blob is %d bytes; the device refuses blobs over %d bytes", len(it.Data), nvs.MaxBlob)
	}
	return p.errorf(err, "%v", err)
}

func (p *Parser) convert(key, enc string, value []byte, fromFile bool) (nvs.Item, error) {
	e := strings.ToLower(strings.TrimSpace(enc))
	if t, ok := nvs.ParseType(e); ok && t.IsInt() {
		n, err := parsePyInt(string(value))
		if err != nil {
			return nvs.Item{}, p.errorf(err, "%s value %v", e, err)
		}
		min, max := t.IntRange()
		if n.Cmp(bigInt(min)) < 0 || n.Cmp(new(big.Int).SetUint64(max)) > 0 {
			return nvs.Item{}, p.errorf(nvs.ErrValueRange, "%s is out of range for %s (%d..%d)", n, e, min, max)
		}
		if t.Signed() {
			return nvs.Int(p.ns, key, t, n.Int64()), nil
		}
		return nvs.Uint(p.ns, key, t, n.Uint64()), nil
	}
	blob := func(b []byte) (nvs.Item, error) { return nvs.Blob(p.ns, key, b), nil }
	switch e {
	case "string":
		if !utf8.Valid(value) {
			return nvs.Item{}, p.errorf(nil, "the file is not UTF-8 text; use the binary encoding for raw bytes")
		}
		if i := bytes.IndexByte(value, 0); i >= 0 {
			return nvs.Item{}, p.errorf(nvs.ErrNUL, "the string has a NUL byte at byte %d; the device reads a string only up to its first NUL: store it as a blob (binary, hex2bin or base64 encoding)", i+1)
		}
		d := make([]byte, len(value)+1) // with its NUL, as nvs.String makes it, in one copy
		copy(d, value)
		return nvs.Item{Namespace: p.ns, Key: key, Type: nvs.TypeString, Data: d}, nil
	case "binary":
		return blob(value)
	case "hex2bin":
		b, err := decodeHex(string(value))
		if err != nil {
			return nvs.Item{}, p.errorf(err, "hex2bin value %v", err)
		}
		return blob(b)
	case "base64":
		b, err := decodeBase64(value)
		if err != nil {
			return nvs.Item{}, p.errorf(err, "base64 value %v", err)
		}
		return blob(b)
	case "":
		return nvs.Item{}, p.errorf(nil, "the encoding is empty; use one of %s", strings.Join(Encodings, ", "))
	}
	if fill, digits, padHex, ok := parseFill(e); ok {
		n, err := strconv.Atoi(digits)
		if err != nil || n > nvs.MaxBlob {
			return nvs.Item{}, p.errorf(nil, "%s: the length %s is too large", e, digits)
		}
		pad, _ := strconv.ParseUint(padHex, 16, 8)
		if len(value) > n {
			return nvs.Item{}, p.errorf(nil, "the value is %d bytes, longer than the %d of %s", len(value), n, e)
		}
		var b []byte
		if fill == "blob_sz_fill" {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(value)))
		}
		b = append(b, value...)
		for i := len(value); i < n; i++ {
			b = append(b, byte(pad))
		}
		return blob(b)
	}
	if strings.HasPrefix(e, "blob_fill") || strings.HasPrefix(e, "blob_sz_fill") {
		return nvs.Item{}, p.errorf(nil, "bad fill encoding %s; write it as blob_fill(N;0xPP) or blob_sz_fill(N;0xPP)", clip.Quote(enc))
	}
	return nvs.Item{}, p.errorf(nil, "unknown encoding %s; use one of %s, blob_fill(N;0xPP), blob_sz_fill(N;0xPP)",
		clip.Quote(enc), strings.Join(Encodings, ", "))
}

// wifiBefore adds ap.pmk_info before the row that completes the ap.ssid, ap.passwd and
// ap.authmode set, as the reference does; the PMK is computed from the raw CSV values.
func (p *Parser) wifiBefore(key, raw string) error {
	switch key {
	case "ap.ssid":
		p.apSSID = raw
	case "ap.passwd":
		p.apPass = raw
	case "ap.authmode":
		if raw != "0" {
			p.apAuth = raw
		}
	default:
		return nil
	}
	if p.apSSID == "" || p.apPass == "" || p.apAuth == "" {
		return nil
	}
	pmk, err := pbkdf2.Key(sha1.New, p.apPass, []byte(p.apSSID), 4096, 32)
	if err != nil {
		return p.errorf(err, "computing ap.pmk_info: %v", err)
	}
	info := append(make([]byte, 100), pmk...)
	p.add(nvs.Blob(p.ns, "ap.pmk_info", info))
	p.notice("added ap.pmk_info (the soft-AP PMK ESP-IDF derives from ap.ssid and ap.passwd), as nvs_partition_gen does")
	return nil
}

// wifiAfter adds sta.apinfo, sta.pmk and sta.apsw after the first sta.ssid or sta.pswd.
func (p *Parser) wifiAfter(key string) error {
	if (key != "sta.ssid" && key != "sta.pswd") || p.wifiSta {
		return nil
	}
	p.wifiSta = true
	apinfo := make([]byte, 140)
	for i := range apinfo {
		apinfo[i] = 0xFF
	}
	p.add(nvs.Blob(p.ns, "sta.apinfo", apinfo))
	p.add(nvs.Blob(p.ns, "sta.pmk", make([]byte, 32)))
	p.add(nvs.Blob(p.ns, "sta.apsw", make([]byte, 2)))
	p.notice("added sta.apinfo, sta.pmk and sta.apsw after %s (ESP-IDF Wi-Fi station keys), as nvs_partition_gen does", key)
	return nil
}

func bigInt(v int64) *big.Int { return big.NewInt(v) }
