package nvs_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
	"github.com/nvskit/nvskit/nvs"
)

func loadDevice(t *testing.T) []golden.DeviceCase {
	t.Helper()
	cases, err := golden.LoadDevice()
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no device cases")
	}
	return cases
}

// recordSet renders parsed records the same way. V1 blobs are left out: the library's
// iteration (nvs_entry_find) does not list them, although nvs_get_blob reads them.
func recordSet(im *nvs.Image) []string {
	var out []string
	for _, r := range im.Records {
		if r.V1 {
			continue
		}
		var typ, val string
		switch {
		case r.Type.IsInt():
			typ = r.Type.String()
			if r.Type.Signed() {
				w := uint(r.Type.Width()) * 8
				val = strconv.FormatInt(int64(r.Value<<(64-w))>>(64-w), 10)
			} else {
				val = strconv.FormatUint(r.Value, 10)
			}
		case r.Type == nvs.TypeString:
			typ, val = "str", hex.EncodeToString(r.Data)
		default:
			typ, val = "blob", hex.EncodeToString(r.Data)
		}
		out = append(out, fmt.Sprintf("%s/%s %s %s", r.Namespace, r.Key, typ, val))
	}
	sort.Strings(out)
	return out
}

func diffSets(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") == strings.Join(want, "\n") {
		return
	}
	g := map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	w := map[string]bool{}
	for _, s := range want {
		w[s] = true
	}
	short := func(s string) string {
		if len(s) > 120 {
			return s[:120] + "…"
		}
		return s
	}
	for _, s := range want {
		if !g[s] {
			t.Errorf("%s: missing %s", what, short(s))
		}
	}
	for _, s := range got {
		if !w[s] {
			t.Errorf("%s: unexpected %s", what, short(s))
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d records, want %d", what, len(got), len(want))
	}
}

func readKeys(t *testing.T, c *golden.DeviceCase) nvs.Keys {
	t.Helper()
	b, err := c.Read("keys")
	if err != nil {
		t.Fatal(err)
	}
	k, err := nvs.ParseKeysPartition(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestDeviceParse: for every device case, Parse reads the same live keys, types and values as
// the library's own dump (expected.jsonl), and expected_plain.jsonl for encrypted cases.
func TestDeviceParse(t *testing.T) {
	for _, c := range loadDevice(t) {
		t.Run(c.Name, func(t *testing.T) {
			img, err := c.Read("expected")
			if err != nil {
				t.Fatal(err)
			}
			view, err := c.ReadView("expected_view")
			if err != nil {
				t.Fatal(err)
			}
			var im *nvs.Image
			if c.Encrypted {
				im, err = nvs.ParseWithKeys(img, readKeys(t, &c))
			} else {
				im, err = nvs.Parse(img)
			}
			if err != nil {
				t.Fatal(err)
			}
			diffSets(t, "expected.jsonl", recordSet(im), viewLines(t, view))
			sp := im.Space()
			if u, f := view.Summary["used_entries"], view.Summary["free_entries"]; u != float64(sp.EntriesUsed) || f != float64(sp.EntriesFree) {
				t.Errorf("space: used %d free %d, library says used %v free %v", sp.EntriesUsed, sp.EntriesFree, u, f)
			}
			if sp.MinSize > c.Size*2 || sp.MinSize < nvs.MinSize {
				t.Errorf("space: min size 0x%x for a 0x%x partition", sp.MinSize, c.Size)
			}
			raw := c.Powercut != nil && c.Powercut.Kind == "raw"
			for _, f := range im.Findings {
				if !raw {
					t.Errorf("unexpected finding on a clean device image: %s", f)
				}
			}
			if raw && len(im.Findings) == 0 {
				t.Errorf("raw power-cut image gives no findings")
			}
			if c.Encrypted {
				plain, err := c.Read("expected_plain")
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(im.Plain(), plain) {
					t.Errorf("decrypted image differs from expected_plain.bin")
				}
				pv, err := c.ReadView("expected_plain_view")
				if err != nil {
					t.Fatal(err)
				}
				pim, err := nvs.Parse(plain)
				if err != nil {
					t.Fatal(err)
				}
				diffSets(t, "expected_plain.jsonl", recordSet(pim), viewLines(t, pv))
				// Without keys the image must be recognised as encrypted.
				eim, err := nvs.Parse(img)
				if err != nil {
					t.Fatal(err)
				}
				if !eim.LooksEncrypted || len(eim.Records) != 0 {
					t.Errorf("encrypted image parsed without keys: LooksEncrypted=%v, %d records", eim.LooksEncrypted, len(eim.Records))
				}
			}
		})
	}
}

// viewLines renders the library's view for comparison (see golden.View.Lines).
func viewLines(t *testing.T, v *golden.View) []string {
	t.Helper()
	lines, err := v.Lines()
	if err != nil {
		t.Fatal(err)
	}
	return lines
}
