package partition

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the text handling gen_esp32part.py gets from Python: BOM decoding,
// str.splitlines, str.strip, str.lower, int(x, 0) and os.path.expandvars.

// decodeText turns the CSV bytes into a string the way the reference picks a codec: by BOM,
// strict UTF-8 without one.
func decodeText(b []byte) (string, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		return checkUTF8(b[3:], 3)
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}): // also how a UTF-32 LE BOM starts: read as UTF-16, as the reference does
		return decodeUTF16(b[2:], false)
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return decodeUTF16(b[2:], true)
	case bytes.HasPrefix(b, []byte{0x00, 0x00, 0xFE, 0xFF}):
		return decodeUTF32BE(b[4:])
	}
	return checkUTF8(b, 0)
}

func checkUTF8(b []byte, base int) (string, error) {
	if utf8.Valid(b) {
		return string(b), nil
	}
	i := 0
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		i += n
	}
	line := 1 + bytes.Count(b[:i], []byte{'\n'})
	return "", lineErr(line, ErrEncoding, "byte 0x%02x at offset %d is not UTF-8; save the CSV as UTF-8 (a binary table starts with aa 50)", b[i], base+i)
}

func decodeUTF16(b []byte, bigEndian bool) (string, error) {
	if len(b)%2 != 0 {
		return "", tableErr(ErrEncoding, "the CSV has a UTF-16 byte order mark but an odd number of bytes; save it as UTF-8")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		if bigEndian {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
	}
	var sb strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case utf16.IsSurrogate(rune(c)) && c < 0xDC00 && i+1 < len(u) && u[i+1] >= 0xDC00 && u[i+1] < 0xE000:
			sb.WriteRune(utf16.DecodeRune(rune(c), rune(u[i+1])))
			i++
		case utf16.IsSurrogate(rune(c)):
			return "", tableErr(ErrEncoding, "the UTF-16 CSV has an unpaired surrogate at byte %d; save it as UTF-8", 2+2*i)
		default:
			sb.WriteRune(rune(c))
		}
	}
	return sb.String(), nil
}

func decodeUTF32BE(b []byte) (string, error) {
	if len(b)%4 != 0 {
		return "", tableErr(ErrEncoding, "the CSV has a UTF-32 byte order mark but its length is not a multiple of 4; save it as UTF-8")
	}
	var sb strings.Builder
	for i := 0; i < len(b); i += 4 {
		r := rune(uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3]))
		if r < 0 || r > unicode.MaxRune || (r >= 0xD800 && r < 0xE000) {
			return "", tableErr(ErrEncoding, "the UTF-32 CSV has an invalid character at byte %d; save it as UTF-8", 4+i)
		}
		sb.WriteRune(r)
	}
	return sb.String(), nil
}

// isLineBreak reports the characters Python's str.splitlines splits on (besides \r\n).
func isLineBreak(r rune) bool {
	switch r {
	case '\n', '\r', '\v', '\f', 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
		return true
	}
	return false
}

// splitLines splits like Python's str.splitlines(): no empty last line after a final break.
func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isLineBreak(r) {
			i += n
			continue
		}
		lines = append(lines, s[start:i])
		i += n
		if r == '\r' && i < len(s) && s[i] == '\n' {
			i++
		}
		start = i
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}

// pySpace reports whether Python's str.isspace is true for r.
func pySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1C && r <= 0x1F)
}

// pyStrip is Python's str.strip().
func pyStrip(s string) string { return strings.TrimFunc(s, pySpace) }

// pyLower is Python's str.lower() for what matters here: it matches Go's ToLower except for
// U+0130, which Python lowers to "i" + U+0307.
func pyLower(s string) string {
	s = strings.ReplaceAll(s, "\u0130", "i\u0307")
	return strings.ToLower(s)
}

// pyInt parses s as Python's int(s, 0) does: optional sign, decimal without leading zeros,
// 0x/0o/0b prefixes, single '_' between digits, surrounding whitespace. Values beyond ±2^62
// are reported as not ok with big set.
func pyInt(s string) (v int64, ok bool, big bool) {
	return pyParse(s, 0)
}

// pyIntBase is Python's int(s, base) for base 16 (a 0x prefix is allowed).
func pyIntBase(s string, base int) (int64, bool) {
	v, ok, _ := pyParse(s, base)
	return v, ok
}

func pyParse(s string, base int) (int64, bool, bool) {
	s = pyStrip(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	prefixed := false
	if len(s) >= 2 && s[0] == '0' {
		p := s[1] | 0x20
		if (base == 0 && (p == 'x' || p == 'o' || p == 'b')) || (base == 16 && p == 'x') {
			switch p {
			case 'x':
				base = 16
			case 'o':
				base = 8
			case 'b':
				base = 2
			}
			s = s[2:]
			prefixed = true
		}
	}
	leadingZeroRule := false
	if base == 0 {
		base = 10
		leadingZeroRule = true
	}
	if s == "" {
		return 0, false, false
	}
	// After a prefix one '_' may come first ("0x_10"); otherwise digits must start.
	if prefixed && s[0] == '_' {
		s = s[1:]
		if s == "" {
			return 0, false, false
		}
	}
	var v int64
	big := false
	prevUnderscore := true // no '_' at the start
	allZero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			if prevUnderscore {
				return 0, false, false
			}
			prevUnderscore = true
			continue
		}
		prevUnderscore = false
		var d int
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case c|0x20 >= 'a' && c|0x20 <= 'z':
			d = int(c|0x20-'a') + 10
		default:
			return 0, false, false
		}
		if d >= base {
			return 0, false, false
		}
		if d != 0 {
			allZero = false
		}
		if v > (1<<62)/int64(base) {
			big = true
		} else {
			v = v*int64(base) + int64(d)
		}
	}
	if prevUnderscore {
		return 0, false, false
	}
	if leadingZeroRule && s[0] == '0' && !allZero {
		return 0, false, false
	}
	if big {
		return 0, false, true
	}
	if neg {
		v = -v
	}
	return v, true, false
}

// expandVars is Python's os.path.expandvars on POSIX: $NAME (ASCII letters, digits, '_') and
// ${ANYTHING} are replaced when defined and left alone otherwise; replaced text is not
// scanned again.
func expandVars(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var out strings.Builder
	i := 0
	for i < len(s) {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			break
		}
		j += i
		out.WriteString(s[i:j])
		k := j + 1
		var name string
		end := -1
		if k < len(s) && s[k] == '{' {
			if c := strings.IndexByte(s[k+1:], '}'); c >= 0 {
				name = s[k+1 : k+1+c]
				end = k + 1 + c + 1
			}
		} else {
			e := k
			for e < len(s) && isWordByte(s[e]) {
				e++
			}
			if e > k {
				name = s[k:e]
				end = e
			}
		}
		if end < 0 {
			out.WriteByte('$')
			i = j + 1
			continue
		}
		if v, ok := lookupVar(lookup, name); ok {
			out.WriteString(v)
		} else {
			out.WriteString(s[j:end])
		}
		i = end
	}
	out.WriteString(s[i:])
	return out.String()
}

func lookupVar(lookup func(string) (string, bool), name string) (string, bool) {
	if lookup == nil {
		return "", false
	}
	return lookup(name)
}

func isWordByte(c byte) bool {
	return c == '_' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// leadingVariable returns the name the reference reports as an unknown variable: the
// expanded line starts with '$' and a name ([A-Za-z_][A-Za-z0-9_]*).
func leadingVariable(line string) (string, bool) {
	if len(line) < 2 || line[0] != '$' {
		return "", false
	}
	c := line[1]
	if c != '_' && !(c|0x20 >= 'a' && c|0x20 <= 'z') {
		return "", false
	}
	e := 2
	for e < len(line) && isWordByte(line[e]) {
		e++
	}
	return line[1:e], true
}

// hexBytes renders bytes as the messages show them ("aa 50").
func hexBytes(b []byte) string { return fmt.Sprintf("% x", b) }
