package nvscsv

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nvskit/nvskit/nvs"
)

// WriteRow is one row of an nvs_partition_gen CSV: key,type,encoding,value.
type WriteRow struct {
	Key, Type, Encoding, Value string
}

// File is a file a "file" row names: its name relative to the CSV and its content.
type File struct {
	Name string
	Data []byte
}

// ExportOptions configure Export.
type ExportOptions struct {
	// InlineString is the longest string written inline in the CSV; longer strings, and
	// strings with line breaks or control characters, go to a file. Zero means 64.
	InlineString int
}

// Export turns items (namespace items with an empty Key, as nvs.Image.StoredItems gives them)
// into CSV rows and files, such that nvskit generate, reading them back, lays out the same
// items. Every blob and every long string becomes a file row. The entries the generator adds
// by itself for the ESP-IDF Wi-Fi keys (sta.apinfo, sta.pmk and sta.apsw after the first
// sta.ssid or sta.pswd; ap.pmk_info before the row that completes ap.ssid, ap.passwd and
// ap.authmode) are left out where the generator will add them again; the Wi-Fi SSID and
// password blobs are written with the blob_fill and blob_sz_fill encodings they were made with,
// so the generator derives the same ap.pmk_info.
//
// Items that no CSV row can express (a string that is not UTF-8, holds a NUL or lacks its
// terminating NUL; an item before any namespace) are left out and reported in problems.
func Export(items []nvs.Item, opts ExportOptions) (rows []WriteRow, files []File, problems []string) {
	if opts.InlineString == 0 {
		opts.InlineString = 64
	}
	used := map[string]bool{}
	fileName := func(ns, key, ext string) string {
		base := sanitize(ns) + "." + sanitize(key)
		name := base + ext
		for n := 2; used[strings.ToLower(name)]; n++ {
			name = fmt.Sprintf("%s.%d%s", base, n, ext)
		}
		used[strings.ToLower(name)] = true
		return name
	}
	cur := ""
	staDone := false
	skipSta := 0
	var apSSID, apPass, apAuth string
	for i := 0; i < len(items); i++ {
		it := items[i]
		if it.Key == "" {
			rows = append(rows, WriteRow{Key: it.Namespace, Type: "namespace"})
			cur = it.Namespace
			continue
		}
		if skipSta > 0 {
			if want, ok := staExtra(it.Key); ok && it.Type == nvs.TypeBlob && bytes.Equal(it.Data, want) {
				skipSta--
				continue
			}
			skipSta = 0
		}
		if it.Key == "ap.pmk_info" && it.Type == nvs.TypeBlob && i+1 < len(items) {
			if nxt := items[i+1]; nxt.Namespace == it.Namespace && completesAP(nxt, &apSSID, &apPass, &apAuth, false) {
				if bytes.Equal(it.Data, apPMK(apSSID, apPass, apAuth, nxt)) {
					continue
				}
			}
		}
		if it.Namespace != cur {
			rows = append(rows, WriteRow{Key: it.Namespace, Type: "namespace"})
			cur = it.Namespace
		}
		row, file, problem := exportItem(it, opts, fileName)
		if problem != "" {
			problems = append(problems, problem)
			continue
		}
		rows = append(rows, row)
		if file != nil {
			files = append(files, *file)
		}
		completesAP(it, &apSSID, &apPass, &apAuth, true)
		if (it.Key == "sta.ssid" || it.Key == "sta.pswd") && !staDone {
			staDone = true
			skipSta = 3
		}
	}
	return rows, files, problems
}

// staExtra returns the value the generator stores for key next to sta.ssid and sta.pswd,
// if key is one of those. (A function, not a map: a map is built at every start of nvskit.)
func staExtra(key string) ([]byte, bool) {
	switch key {
	case "sta.apinfo":
		return bytes.Repeat([]byte{0xFF}, 140), true
	case "sta.pmk":
		return make([]byte, 32), true
	case "sta.apsw":
		return []byte{0, 0}, true
	}
	return nil, false
}

// rawValue is the CSV text of an exported item, as the generator sees it.
func rawValue(it nvs.Item) string {
	if it.Type.IsInt() {
		return intText(it)
	}
	if it.Type == nvs.TypeBlob {
		if _, v, ok := fillEncoding(it); ok {
			return v
		}
	}
	if it.Type == nvs.TypeString {
		return strings.TrimSuffix(string(it.Data), "\x00")
	}
	return string(it.Data)
}

// completesAP tracks ap.ssid, ap.passwd and ap.authmode as the generator does and reports
// whether it (not yet recorded unless record) completes the set.
func completesAP(it nvs.Item, ssid, pass, auth *string, record bool) bool {
	s, p, a := *ssid, *pass, *auth
	raw := rawValue(it)
	switch it.Key {
	case "ap.ssid":
		s = raw
	case "ap.passwd":
		p = raw
	case "ap.authmode":
		if raw != "0" {
			a = raw
		}
	default:
		return false
	}
	if record {
		*ssid, *pass, *auth = s, p, a
	}
	return s != "" && p != "" && a != ""
}

func apPMK(ssid, pass, auth string, nxt nvs.Item) []byte {
	completesAP(nxt, &ssid, &pass, &auth, true)
	pmk, err := pbkdf2.Key(sha1.New, pass, []byte(ssid), 4096, 32)
	if err != nil {
		return nil
	}
	return append(make([]byte, 100), pmk...)
}

func intText(it nvs.Item) string {
	if it.Type.Signed() {
		w := uint(it.Type.Width()) * 8
		return strconv.FormatInt(int64(it.Value<<(64-w))>>(64-w), 10)
	}
	return strconv.FormatUint(it.Value, 10)
}

// fillEncoding recognises a Wi-Fi SSID or password blob made with blob_fill(N;0xPP) or
// blob_sz_fill(N;0xPP) and returns the encoding and the value text.
func fillEncoding(it nvs.Item) (enc, value string, ok bool) {
	switch it.Key {
	case "sta.ssid", "sta.pswd", "ap.ssid", "ap.passwd":
	default:
		return "", "", false
	}
	d := it.Data
	if len(d) >= 5 {
		l := int(binary.LittleEndian.Uint32(d))
		if l <= len(d)-4 && inlineText(d[4:4+l]) {
			pad := d[4+l:]
			if len(pad) > 0 && bytes.Count(pad, pad[:1]) == len(pad) && bytes.IndexByte(d[4:4+l], pad[0]) < 0 {
				return fmt.Sprintf("blob_sz_fill(%d;0x%02x)", len(d)-4, pad[0]), string(d[4 : 4+l]), true
			}
		}
	}
	if len(d) >= 2 {
		p := d[len(d)-1]
		end := len(d)
		for end > 0 && d[end-1] == p {
			end--
		}
		if end > 0 && inlineText(d[:end]) {
			return fmt.Sprintf("blob_fill(%d;0x%02x)", len(d), p), string(d[:end]), true
		}
	}
	return "", "", false
}

// inlineText reports whether b can be a CSV value as it is: UTF-8 without control
// characters, not starting with '#' or white space that a reader might strip.
func inlineText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

func exportItem(it nvs.Item, opts ExportOptions, fileName func(ns, key, ext string) string) (WriteRow, *File, string) {
	row := WriteRow{Key: it.Key, Type: "data"}
	where := it.Namespace + "/" + it.Key
	switch {
	case it.Type.IsInt():
		row.Encoding, row.Value = it.Type.String(), intText(it)
		return row, nil, ""
	case it.Type == nvs.TypeString:
		d := it.Data
		if len(d) == 0 || d[len(d)-1] != 0 {
			return row, nil, where + ": the string has no terminating NUL; no CSV row stores that"
		}
		d = d[:len(d)-1]
		if bytes.IndexByte(d, 0) >= 0 {
			return row, nil, where + ": the string holds a NUL byte; no CSV row stores that"
		}
		if !utf8.Valid(d) {
			return row, nil, where + ": the string is not UTF-8; no CSV row stores that"
		}
		row.Encoding = "string"
		if len(d) <= opts.InlineString && inlineText(d) {
			row.Value = string(d)
			return row, nil, ""
		}
		f := &File{Name: fileName(it.Namespace, it.Key, ".txt"), Data: append([]byte(nil), d...)}
		row.Type, row.Value = "file", f.Name
		return row, f, ""
	case it.Type == nvs.TypeBlob:
		if enc, v, ok := fillEncoding(it); ok {
			row.Encoding, row.Value = enc, v
			return row, nil, ""
		}
		f := &File{Name: fileName(it.Namespace, it.Key, ".bin"), Data: append([]byte(nil), it.Data...)}
		row.Type, row.Encoding, row.Value = "file", "binary", f.Name
		return row, f, ""
	}
	return row, nil, fmt.Sprintf("%s: type %s has no CSV encoding", where, it.Type)
}

// sanitize makes a name safe as part of a file name.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.Trim(b.String(), ".")
	if out == "" {
		out = "_"
	}
	return out
}

// WriteCSV writes rows as an nvs_partition_gen CSV with the header key,type,encoding,value.
// Each comment line is written first, prefixed with "# ". Fields are quoted when they hold a
// comma, a quote, a line break or leading/trailing white space, or start with '#'.
func WriteCSV(w io.Writer, rows []WriteRow, comments ...string) error {
	var b bytes.Buffer
	for _, c := range comments {
		b.WriteString("# " + c + "\n")
	}
	b.WriteString("key,type,encoding,value\n")
	for _, r := range rows {
		b.WriteString(csvField(r.Key) + "," + r.Type + "," + csvField(r.Encoding) + "," + csvField(r.Value) + "\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

func csvField(s string) string {
	if s == "" {
		return ""
	}
	if strings.ContainsAny(s, ",\"\r\n") || s[0] == '#' || strings.TrimSpace(s) != s {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}
