package cli

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/clip"
	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
)

// editFlags are the flags set and rm share.
type editFlags struct {
	keys string
	out  string
	of   outFlags
}

func (f *editFlags) register(c *cobra.Command, env *Env) {
	c.Flags().StringVar(&f.keys, "keys", "", "nvs_keys partition image of an encrypted IMAGE (it stays encrypted)")
	c.Flags().StringVarP(&f.out, "output", "o", "", "write the changed image to OUT (a new file) and leave IMAGE untouched")
	f.of.register(c, env, fsutil.DefaultMode, nil)
	c.Flags().Lookup("force").Usage = "with -o: replace OUT when it exists already"
	c.Flags().Lookup("mode").Usage = "with -o: permissions of OUT, in octal; the umask still applies (IMAGE updated in place keeps its own)"
}

// editHelp is what set's and rm's help say about the file they write.
const editHelp = `Updating IMAGE in place is the command's job: it is replaced atomically, keeps
its mode, and is locked while it is read and replaced, so that two nvskit runs
editing one image at once both take effect. A symbolic link is followed: the file
it names is edited and the link stays. -o OUT writes a new file instead (mode
0600 unless --mode; an existing OUT is replaced only with --force).`

// edit loads IMAGE, mounts it on the device model, runs change and writes the result
// atomically (to -o OUT or over IMAGE, locked from the read to the rename). Nothing is
// written when change fails.
func (f *editFlags) edit(env *Env, path string, change func(in *imageInput, e *nvs.Editor) (string, error)) error {
	o, err := f.of.options()
	if err != nil {
		return err
	}
	inPlace := f.out == "" || fsutil.SameFile(env.Path(f.out), env.Path(path))
	if !inPlace {
		if err := fsutil.CheckNotInput(env.Path(f.out), env.Path(f.keys)); err != nil {
			return err
		}
		if err := checkNew(o, env.Path(f.out)); err != nil {
			return err
		}
	}
	// Edits in place go to the file a symbolic link names, locked from the read to the
	// rename so that a concurrent edit cannot be lost.
	src, where := path, path
	if inPlace {
		target, err := fsutil.Resolve(env.Path(path))
		if err != nil {
			return err
		}
		if target != filepath.Clean(env.Path(path)) {
			src = target
			where = fmt.Sprintf("%s (through the symbolic link %s)", target, path)
		}
		if _, err := os.Stat(target); err == nil {
			lock, err := fsutil.LockFile(env.ctx(), target, func() {
				fmt.Fprintf(env.Stderr, "waiting for %s: another nvskit is editing it\n", path)
			})
			if err != nil {
				return err
			}
			defer lock.Unlock()
		}
	}
	in, err := loadImageForce(env, src, f.keys, f.of.force, true)
	if err != nil {
		return err
	}
	if !in.im.Mountable {
		return fmt.Errorf("%s: the device would not mount this image (%s), so it cannot be edited the way the device would; run nvskit check %s",
			path, in.im.MountError, path)
	}
	e, err := nvs.NewEditor(in.raw, in.keys)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	msg, err := change(in, e)
	if err != nil {
		return err
	}
	if err := env.ctx().Err(); err != nil {
		return err
	}
	out := env.Path(src)
	if inPlace {
		o = fsutil.Options{Replace: true, Made: env.made, Context: env.ctx()}
	} else {
		out, where = env.Path(f.out), f.out
	}
	if err := writeOutput(out, e.Image(), o); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s in %s\n", msg, where)
	return nil
}

func editError(ns, key string, err error) error {
	switch {
	case errors.Is(err, nvs.ErrNotEnoughSpace):
		return fmt.Errorf("%s/%s: not enough space in the partition, even after garbage collection (the device fails the same way); nothing was written", ns, key)
	case errors.Is(err, nvs.ErrValueTooLong):
		return fmt.Errorf("%s/%s: the value is too long for NVS (strings hold at most 3999 bytes; blobs at most (pages-1)×4000 bytes, and at most 508000); nothing was written", ns, key)
	case errors.Is(err, nvs.ErrKeyTooLong):
		return fmt.Errorf("%s/%s: NVS names are at most 15 bytes", ns, key)
	}
	return fmt.Errorf("%s/%s: %w", ns, key, err)
}

func newSetCmd(env *Env) *cobra.Command {
	var f editFlags
	var typ, value, file string
	var hasValue bool
	c := &cobra.Command{
		Use:   "set IMAGE NAMESPACE KEY --type T (--value V | --file F)",
		Short: "Set one key in an NVS image, as the device would write it",
		Long: `Set one key in an NVS image the way ESP-IDF's nvs_flash library does on the
device: an unchanged value writes nothing; a new value is appended and the old
entry erased; blobs alternate between chunk versions; a full page is closed and
the next one opened; when only the reserve page is left, the page with the most
unused entries is garbage-collected into it. The result is the image the device
itself would have written. The namespace is created if needed.

` + editHelp + `

T is u8, i8, u16, i16, u32, i32, u64, i64, string or blob. Integers are decimal
(or 0x hex); a blob's --value is hex digits; --file F takes the value from a
file (its raw bytes for a blob or string, its text for an integer).`,
		Example: `  nvskit set nvs.bin wifi ssid --type string --value MyNetwork
  nvskit set nvs.bin app boot_count --type u32 --value 0
  nvskit set --keys nvs_keys.bin enc.bin certs ca --type blob --file ca.der -o new.bin`,
		Args: exactArgs(3, "IMAGE NAMESPACE KEY"),
		RunE: func(c *cobra.Command, args []string) error {
			hasValue = c.Flags().Changed("value")
			if hasValue == (file != "") {
				return usagef("give the value with exactly one of --value and --file")
			}
			t, ok := nvs.ParseType(typ)
			if !ok || t == nvs.TypeBlobData || t == nvs.TypeBlobIndex {
				return usagef("--type %q: use u8, i8, u16, i16, u32, i32, u64, i64, string or blob", typ)
			}
			var raw []byte
			if file != "" {
				b, err := readInput(env, file, fsutil.MaxFileRow, "a value (a blob holds at most 508000 bytes)")
				if err != nil {
					return err
				}
				raw = b
			}
			it, err := parseValue(args[1], args[2], t, value, raw, file != "")
			if err != nil {
				return err
			}
			return f.edit(env, args[0], func(in *imageInput, e *nvs.Editor) (string, error) {
				old := in.im.Get(args[1], args[2])
				if err := e.Set(it); err != nil {
					return "", editError(args[1], args[2], err)
				}
				if old != nil && old.Type != it.Type {
					fmt.Fprintf(env.Stderr, "warning: %s/%s is a %s and is set here as a %s: the device keeps both entries (nvs_set_* only replaces a value of the same type), and which one firmware gets depends on the type it asks for; to replace it, nvskit rm the key first\n",
						args[1], args[2], old.Type, it.Type)
				}
				size := len(it.Data)
				if t.IsInt() {
					size = t.Width()
				}
				verb := "added"
				if old != nil {
					verb = "changed"
					if old.Type == it.Type && old.Value == it.Value && string(old.Data) == string(it.Data) {
						verb = "unchanged (nothing written)"
					}
				}
				return fmt.Sprintf("%s/%s (%s, %s) %s", args[1], args[2], t, plural(size, "byte"), verb), nil
			})
		},
	}
	f.register(c, env)
	c.Flags().StringVar(&typ, "type", "", "u8, i8, u16, i16, u32, i32, u64, i64, string or blob (required)")
	c.Flags().StringVar(&value, "value", "", "the value (integers in decimal or 0x hex, blobs in hex)")
	c.Flags().StringVar(&file, "file", "", "read the value from FILE")
	_ = c.MarkFlagRequired("type")
	return c
}

// parseValue makes the item for set.
func parseValue(ns, key string, t nvs.Type, value string, raw []byte, fromFile bool) (nvs.Item, error) {
	switch {
	case t.IsInt():
		s := value
		if fromFile {
			s = string(raw)
		}
		s = strings.ReplaceAll(strings.TrimSpace(s), "_", "")
		n, ok := new(big.Int).SetString(s, 0)
		if !ok {
			return nvs.Item{}, usagef("%s is not an integer", clip.Quote(s))
		}
		lo, hi := t.IntRange()
		if n.Cmp(big.NewInt(lo)) < 0 || n.Cmp(new(big.Int).SetUint64(hi)) > 0 {
			return nvs.Item{}, usagef("%s is out of range for %s (%d..%d)", n, t, lo, hi)
		}
		if t.Signed() {
			return nvs.Int(ns, key, t, n.Int64()), nil
		}
		return nvs.Uint(ns, key, t, n.Uint64()), nil
	case t == nvs.TypeString:
		s := value
		if fromFile {
			s = string(raw)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nvs.Item{}, usagef("a string cannot hold a NUL byte; store it as a blob")
		}
		return nvs.String(ns, key, s), nil
	default:
		if fromFile {
			return nvs.Blob(ns, key, raw), nil
		}
		h := strings.Join(strings.Fields(value), "")
		h = strings.TrimPrefix(strings.TrimPrefix(h, "hex:"), "0x")
		b, err := hex.DecodeString(h)
		if err != nil {
			return nvs.Item{}, usagef("a blob's --value is hex digits (or use --file): %v", err)
		}
		return nvs.Blob(ns, key, b), nil
	}
}

func newRmCmd(env *Env) *cobra.Command {
	var f editFlags
	var all bool
	c := &cobra.Command{
		Use:   "rm IMAGE NAMESPACE (KEY | --all)",
		Short: "Erase a key or a whole namespace from an NVS image, as the device would",
		Long: `Erase one key (nvs_erase_key) or every key of a namespace (--all, nvs_erase_all)
the way the device's nvs_flash library does: the entries are marked erased in
the page bitmap; the namespace entry itself stays. A key that does not exist is
an error that lists the namespace's keys, and nothing is written.

` + editHelp,
		Example: `  nvskit rm nvs.bin wifi pass
  nvskit rm nvs.bin wifi --all -o clean.bin`,
		Args: func(c *cobra.Command, args []string) error {
			if all && len(args) != 2 {
				return argCountError(c, len(args), "with --all, give IMAGE NAMESPACE")
			}
			if !all && len(args) != 3 {
				return argCountError(c, len(args), "")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			ns := args[1]
			return f.edit(env, args[0], func(in *imageInput, e *nvs.Editor) (string, error) {
				if all {
					found := false
					for _, n := range in.im.NamespaceNames() {
						found = found || n == ns
					}
					if !found {
						return "", listKeysError(in.im, args[0], ns, "")
					}
					n := len(in.im.Keys(ns))
					if err := e.EraseNamespace(ns); err != nil {
						return "", editError(ns, "*", err)
					}
					return fmt.Sprintf("erased %s from namespace %s", plural(n, "key"), ns), nil
				}
				if in.im.Get(ns, args[2]) == nil {
					return "", listKeysError(in.im, args[0], ns, args[2])
				}
				if err := e.Erase(ns, args[2]); err != nil {
					return "", editError(ns, args[2], err)
				}
				return fmt.Sprintf("erased %s/%s", ns, args[2]), nil
			})
		},
	}
	f.register(c, env)
	c.Flags().BoolVar(&all, "all", false, "erase every key of NAMESPACE")
	return c
}
