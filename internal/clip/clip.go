// Package clip shortens values that error messages echo back to the user: a bad value may be
// megabytes long, or a private key pasted into the wrong column, and neither belongs in a
// terminal, a log or a manifest.
package clip

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxRunes is how much of a value Quote shows.
const MaxRunes = 40

// secretMarkers are texts that mark a value as key or certificate material.
var secretMarkers = []string{"-----BEGIN", "PRIVATE KEY", "-----END"}

// Secret reports whether s looks like key or certificate material (a PEM block, a private key).
func Secret(s string) bool {
	for _, m := range secretMarkers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// Quote returns s quoted (as %q does) for an error message: secret-looking values are not
// shown at all, only their length; values longer than MaxRunes characters are cut, with their
// length in bytes.
func Quote(s string) string {
	if Secret(s) {
		return fmt.Sprintf("(%d bytes of PEM or key material, not shown)", len(s))
	}
	if utf8.RuneCountInString(s) <= MaxRunes {
		return strconv.Quote(s)
	}
	r := []rune(s)
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(string(r[:MaxRunes])), len(s))
}
