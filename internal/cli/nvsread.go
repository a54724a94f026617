package cli

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
)

// imageInput is an image file read for inspect, check, get, export, set and rm.
type imageInput struct {
	path string // as given
	raw  []byte
	keys *nvs.Keys
	im   *nvs.Image
}

// readImageFile reads and checks an image file: clear messages for a missing, empty or
// truncated file.
func readImageFile(env *Env, path string) ([]byte, error) {
	b, err := readInput(env, path, fsutil.MaxImage, "an NVS partition image (the largest ESP flash)")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file", path)
		}
		return nil, err
	}
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("%s is empty: not an NVS partition image", path)
	case len(b)%nvs.PageSize != 0:
		return nil, fmt.Errorf("%s is %d bytes, not a multiple of 4096 (%d whole pages and %d bytes more): the file is truncated or not an NVS partition image",
			path, len(b), len(b)/nvs.PageSize, len(b)%nvs.PageSize)
	}
	return b, nil
}

// readKeysFile reads --keys when it is given: an nvs_keys partition image, checked as the
// device checks it (see loadKeysPartition). It returns nil when path is empty.
func readKeysFile(env *Env, path string) (*nvs.Keys, error) {
	if path == "" {
		return nil, nil
	}
	k, err := loadKeysPartition(env, path)
	if err != nil {
		return nil, fmt.Errorf("--keys: %w", err)
	}
	return &k, nil
}

// recognizeImage refuses bytes that are not an NVS partition image (nvs.Recognize), unless
// force. forceHint says whether the command has --force to say so.
func recognizeImage(path string, b []byte, force, forceHint bool) error {
	if force {
		return nil
	}
	err := nvs.Recognize(b)
	if err == nil || !errors.Is(err, nvs.ErrNotNVS) {
		return err
	}
	msg := fmt.Sprintf("%s is not an NVS partition image: %v", path, err)
	msg = strings.TrimSuffix(msg, ": "+nvs.ErrNotNVS.Error())
	if forceHint {
		msg += "; nothing was written (pass --force to treat it as one anyway)"
	}
	return fmt.Errorf("%s%w", msg, errNoText{nvs.ErrNotNVS})
}

// notImageForce is what --force means on the commands that refuse what is not an NVS image
// (set, rm, decrypt).
const notImageForce = "work on the image even when it does not look like an NVS partition image"

// ensureForceFlag gives c a --force meaning notImageForce, or adds that meaning to the --force
// c has already (one flag, "do it even when nvskit would refuse"). NewRoot calls it after every
// command has its own flags.
func ensureForceFlag(c *cobra.Command) {
	if f := c.Flags().Lookup("force"); f != nil {
		f.Usage += "; also " + notImageForce
		return
	}
	c.Flags().Bool("force", false, notImageForce)
}

// forced reports whether c was given --force.
func forced(c *cobra.Command) bool {
	if c == nil {
		return false
	}
	v, _ := c.Flags().GetBool("force")
	return v
}

// errNoText wraps an error for errors.Is without adding to the message.
type errNoText struct{ err error }

func (e errNoText) Error() string { return "" }
func (e errNoText) Unwrap() error { return e.err }

// loadImage reads and parses an image, decrypting it with --keys. An image that looks
// encrypted without keys is an error, and so are bytes that are not an NVS image.
func loadImage(env *Env, path, keysPath string) (*imageInput, error) {
	return loadImageForce(env, path, keysPath, false, false)
}

// loadImageForce is loadImage for commands with --force (set, rm): with force, bytes that are
// not recognised as an NVS image are loaded anyway.
func loadImageForce(env *Env, path, keysPath string, force, forceHint bool) (*imageInput, error) {
	raw, err := readImageFile(env, path)
	if err != nil {
		return nil, err
	}
	if err := recognizeImage(path, raw, force, forceHint); err != nil {
		return nil, err
	}
	keys, err := readKeysFile(env, keysPath)
	if err != nil {
		return nil, err
	}
	in := &imageInput{path: path, raw: raw, keys: keys}
	if keys != nil {
		in.im, err = nvs.ParseWithKeys(raw, *keys)
		if errors.Is(err, nvs.ErrNotEncrypted) {
			return nil, fmt.Errorf("%s is not encrypted (its entries are readable without keys): drop --keys", path)
		}
		if errors.Is(err, nvs.ErrWrongKeys) {
			return nil, fmt.Errorf("%s does not decrypt with the keys in %s (no entry has a valid CRC after decryption): wrong keys, or the image is not encrypted", path, keysPath)
		}
	} else {
		in.im, err = nvs.Parse(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if in.im.LooksEncrypted {
		return nil, fmt.Errorf("%s looks encrypted: its page headers are valid but no entry has a valid CRC; give the keys partition with --keys nvs_keys.bin", path)
	}
	return in, nil
}

// secretWords mark a key whose value is not shown unless --show-secrets.
var secretWords = []string{"cert", "key", "pass", "pwd", "pswd", "psk", "pmk", "secret", "token",
	"private", "priv", "cred", "auth", "sign", "salt"}

// isSecretName reports whether a key's name looks like it holds a secret.
func isSecretName(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	for _, tok := range strings.FieldsFunc(k, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') }) {
		if tok == "ca" || tok == "pin" || tok == "pw" {
			return true
		}
	}
	return false
}

// isSecret reports whether a record's value is hidden without --show-secrets: its key looks
// secret, or it holds PEM data (certificates, keys).
func isSecret(r *nvs.Record) bool {
	return isSecretName(r.Key) || bytes.Contains(r.Data, []byte("-----BEGIN "))
}

// typeName is the name a record's type has in nvskit's output and in --type.
func typeName(t nvs.Type) string { return t.String() }

// recordSize is the stored size of a record's value: the integer width, the string with its
// NUL, the blob's length.
func recordSize(r *nvs.Record) int {
	if r.Type.IsInt() {
		return r.Type.Width()
	}
	return len(r.Data)
}

// intString formats an integer record in decimal, signed types with their sign.
func intString(r *nvs.Record) string {
	if r.Type.Signed() {
		w := uint(r.Type.Width()) * 8
		return strconv.FormatInt(int64(r.Value<<(64-w))>>(64-w), 10)
	}
	return strconv.FormatUint(r.Value, 10)
}

// stringText returns a string record's text without its terminating NUL.
func stringText(r *nvs.Record) []byte {
	d := r.Data
	if n := len(d); n > 0 && d[n-1] == 0 {
		d = d[:n-1]
	}
	return d
}

// preview renders a value in at most width columns.
func preview(r *nvs.Record, width int) string {
	var s string
	switch {
	case r.Type.IsInt():
		s = intString(r)
	case r.Type == nvs.TypeString:
		t := stringText(r)
		if utf8.Valid(t) {
			s = strconv.Quote(string(t))
		} else {
			s = "0x" + hex.EncodeToString(t)
		}
	default:
		if len(r.Data) == 0 {
			return "(empty)"
		}
		n := min(len(r.Data), (width+1)/3)
		s = strings.TrimSpace(fmt.Sprintf("% x", r.Data[:n]))
		if n < len(r.Data) {
			s += " …"
		}
	}
	return truncate(s, width)
}

// truncate shortens s to width columns (runes), ending in "…" when cut.
func truncate(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	if width <= 1 {
		return "…"
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// listKeysError explains a missing namespace or key, listing what exists.
func listKeysError(im *nvs.Image, path, ns, key string) error {
	names := im.NamespaceNames()
	found := false
	for _, n := range names {
		if n == ns {
			found = true
		}
	}
	if !found {
		if len(names) == 0 {
			return fmt.Errorf("%s has no namespace %q; it has no namespaces at all", path, ns)
		}
		return fmt.Errorf("%s has no namespace %q; its namespaces are: %s", path, ns, strings.Join(names, ", "))
	}
	keys := im.Keys(ns)
	if len(keys) == 0 {
		return fmt.Errorf("namespace %q in %s has no key %q; it has no keys", ns, path, key)
	}
	return fmt.Errorf("namespace %q in %s has no key %q; its keys are: %s", ns, path, key, strings.Join(keys, ", "))
}
