package nvscsv

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode"

	"github.com/nvskit/nvskit/internal/clip"
)

// parsePyInt parses a base-10 integer as Python's int() does: surrounding white space, an
// optional sign, and single '_' separators between digits are accepted; "0x10" is not.
func parsePyInt(s string) (*big.Int, error) {
	t := strings.TrimFunc(s, unicode.IsSpace)
	if t == "" {
		return nil, errors.New("is empty; write a decimal integer")
	}
	digits := t
	if digits[0] == '+' || digits[0] == '-' {
		digits = digits[1:]
	}
	ok := digits != ""
	prevDigit := false
	for i := 0; ok && i < len(digits); i++ {
		c := digits[i]
		switch {
		case c >= '0' && c <= '9':
			prevDigit = true
		case c == '_' && prevDigit && i+1 < len(digits):
			prevDigit = false
		default:
			ok = false
		}
	}
	if !ok || !prevDigit {
		hint := ""
		if l := strings.ToLower(digits); strings.HasPrefix(l, "0x") || strings.HasPrefix(l, "0b") || strings.HasPrefix(l, "0o") {
			hint = " (only decimal is accepted; use hex2bin for raw bytes)"
		}
		return nil, fmt.Errorf("%s is not a decimal integer%s", clip.Quote(s), hint)
	}
	n, _ := new(big.Int).SetString(strings.ReplaceAll(t, "_", ""), 10)
	return n, nil
}

// decodeHex decodes hex2bin text: surrounding white space is dropped, then every pair of
// characters must be a hex byte.
func decodeHex(s string) ([]byte, error) {
	t := strings.TrimFunc(s, unicode.IsSpace)
	if len(t) >= 2 && t[0] == '0' && t[1]|0x20 == 'x' {
		return nil, errors.New(`starts with "0x"; hex2bin takes the hex digits alone: drop the 0x prefix`)
	}
	if len(t)%2 != 0 {
		return nil, fmt.Errorf("has %d hex digits; an even number is needed (two per byte)", len(t))
	}
	out := make([]byte, len(t)/2)
	for i := 0; i < len(out); i++ {
		hi, ok1 := hexVal(t[2*i])
		lo, ok2 := hexVal(t[2*i+1])
		if !ok1 || !ok2 {
			pos := 2 * i
			if ok1 {
				pos++
			}
			return nil, fmt.Errorf("has %q at position %d, which is not a hex digit", t[pos], pos+1)
		}
		out[i] = hi<<4 | lo
	}
	return out, nil
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

var b64Val = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeBase64 decodes base64 leniently, as Python's binascii.a2b_base64 does: characters
// outside the alphabet are skipped, decoding stops at the padding that completes a group, and
// the groups must be complete.
func decodeBase64(s []byte) ([]byte, error) {
	out := make([]byte, 0, len(s)*3/4)
	var acc uint32
	quad, pads := 0, 0
	for _, c := range s {
		if c >= 0x80 {
			return nil, errors.New("contains non-ASCII characters; base64 is ASCII only")
		}
		if c == '=' {
			if quad >= 2 {
				pads++
				if quad+pads >= 4 {
					return out, nil
				}
			}
			continue
		}
		v := b64Val[c]
		if v == 0xFF {
			continue
		}
		pads = 0
		acc = acc<<6 | uint32(v)
		quad++
		switch quad {
		case 2:
			out = append(out, byte(acc>>4))
			acc &= 0xF
		case 3:
			out = append(out, byte(acc>>2))
			acc &= 0x3
		case 4:
			out = append(out, byte(acc))
			acc, quad = 0, 0
		}
	}
	switch quad {
	case 0:
		return out, nil
	case 1:
		return nil, errors.New("is not valid base64: the number of characters is one more than a multiple of 4")
	}
	return nil, errors.New("is not valid base64: incorrect padding (the length must be a multiple of 4, padded with '=')")
}
