package nvs_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
	"github.com/nvskit/nvskit/nvs"
)

// fuzzImage turns fuzz bytes into an image: whole pages, at least three, at most 16, padded
// with 0xFF.
func fuzzImage(data []byte) []byte {
	n := min(max((len(data)+nvs.PageSize-1)/nvs.PageSize, 3), 16)
	img := bytes.Repeat([]byte{0xFF}, n*nvs.PageSize)
	copy(img, data)
	return img
}

func addDeviceSeeds(f *testing.F, add func(img []byte)) {
	cases, err := golden.LoadDevice()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		if c.Size > 0x6000 {
			continue
		}
		for _, role := range []string{"expected", "cut", "after_mount", "start"} {
			if b, err := c.Read(role); err == nil {
				add(b)
			}
		}
	}
}

// FuzzParse: any bytes give an image with findings or an error, never a panic or a hang;
// the space report, stored items and an editor mount work on whatever Parse accepts.
func FuzzParse(f *testing.F) {
	addDeviceSeeds(f, func(img []byte) { f.Add(img) })
	f.Add([]byte{})
	f.Add(make([]byte, 5000))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := nvs.Parse(data); err != nil && !errors.Is(err, nvs.ErrEmptyImage) && !errors.Is(err, nvs.ErrImageSize) {
			t.Fatalf("unexpected error: %v", err)
		}
		img := fuzzImage(data)
		im, err := nvs.Parse(img)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range im.Records {
			if got := im.Get(r.Namespace, r.Key); got == nil {
				t.Fatalf("Get(%q, %q) is nil for a listed record", r.Namespace, r.Key)
			}
		}
		_ = im.Space()
		_, _ = im.StoredItems()
		if e, err := nvs.NewEditor(img, nil); err == nil {
			_ = e.Set(nvs.Uint("fz", "k", nvs.TypeU8, 1))
			if _, err := nvs.Parse(e.Image()); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzEditor applies random operation sequences. From a blank image the parsed result must
// hold exactly what the operations stored (the device's last-write-wins semantics); from any
// other image nothing may panic or hang.
func FuzzEditor(f *testing.F) {
	f.Add([]byte{}, []byte{0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{}, bytes.Repeat([]byte{0, 1, 2, 200, 3, 4, 40, 5, 6, 7}, 40))
	addDeviceSeeds(f, func(img []byte) { f.Add(img, []byte{1, 7, 5, 3, 9, 200, 100, 2, 8}) })
	f.Fuzz(func(t *testing.T, data, ops []byte) {
		blank := len(ops) > 0 && ops[0]%4 == 0
		var img []byte
		if blank {
			img = bytes.Repeat([]byte{0xFF}, (3+int(ops[0]/4)%5)*nvs.PageSize)
		} else {
			img = fuzzImage(data)
		}
		e, err := nvs.NewEditor(img, nil)
		if err != nil {
			return
		}
		model := map[string]nvs.Item{}
		unsure := map[string]bool{}
		namespaces := []string{"a", "bb", "ccc"}
		keys := []string{"k0", "k1", "k2", "key3", "long_key_name15"}
		types := []nvs.Type{nvs.TypeU8, nvs.TypeI16, nvs.TypeU32, nvs.TypeI64, nvs.TypeString, nvs.TypeBlob}
		for i := 1; i+3 < len(ops) && i < 400; i += 4 {
			op, a, b, c := ops[i], ops[i+1], ops[i+2], ops[i+3]
			ns, key := namespaces[int(a)%len(namespaces)], keys[int(b)%len(keys)]
			id := ns + "/" + key
			switch op % 8 {
			case 0, 1, 2, 3, 4:
				typ := types[int(op/8)%len(types)]
				it := nvs.Item{Namespace: ns, Key: key, Type: typ, Value: uint64(c) * 0x01010101}
				min, max := typ.IntRange()
				if typ.IsInt() && typ.Signed() {
					it.Value = uint64(int64(c) - 100)
					_ = min
				} else if typ.IsInt() {
					it.Value &= max
				}
				switch typ {
				case nvs.TypeString:
					it = nvs.String(ns, key, string(bytes.Repeat([]byte{'a' + c%26}, int(c)*7%4100)))
				case nvs.TypeBlob:
					it = nvs.Blob(ns, key, bytes.Repeat([]byte{c}, int(c)*37%9000))
				}
				if old, ok := model[id]; ok && old.Type != typ && !(old.Type == nvs.TypeBlob) == !(typ == nvs.TypeBlob) {
					// A live key written again with another type: the 2020 library keeps
					// both (see the device README); avoid it, as the device histories do.
					continue
				}
				if err := e.Set(it); err != nil {
					if typ == nvs.TypeBlob {
						unsure[id] = true // a failed blob write may erase chunks of the old one
					}
					continue
				}
				model[id] = it
				delete(unsure, id)
			case 5:
				if err := e.Erase(ns, key); err == nil || errors.Is(err, nvs.ErrNotFound) {
					delete(model, id)
					delete(unsure, id)
				}
			case 6:
				if e.EraseNamespace(ns) == nil {
					for k := range model {
						if k[:len(ns)+1] == ns+"/" {
							delete(model, k)
							delete(unsure, k)
						}
					}
				}
			case 7:
				if err := e.Remount(); err != nil {
					t.Fatalf("remount of an edited image: %v", err)
				}
			}
		}
		im, err := nvs.Parse(e.Image())
		if err != nil {
			t.Fatal(err)
		}
		if !blank {
			return
		}
		if len(im.Findings) != 0 {
			t.Fatalf("findings on an edited blank image: %v", im.Findings)
		}
		for id, it := range model {
			if unsure[id] {
				continue
			}
			r := im.Get(it.Namespace, it.Key)
			if r == nil {
				t.Fatalf("%s missing", id)
			}
			if r.Type != it.Type || r.Value != it.Value || !bytes.Equal(r.Data, it.Data) {
				t.Fatalf("%s: got %s %d %d bytes, want %s %d %d bytes", id, r.Type, r.Value, len(r.Data), it.Type, it.Value, len(it.Data))
			}
		}
		for _, r := range im.Records {
			id := r.Namespace + "/" + r.Key
			if _, ok := model[id]; !ok && !unsure[id] {
				t.Fatalf("%s is in the image but was erased or never set", id)
			}
		}
	})
}

// TestWriteFuzzSeeds writes the seed corpus files under testdata/fuzz when NVSKIT_WRITE_SEEDS
// is set (they are committed; the f.Add seeds above cover the same images).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("NVSKIT_WRITE_SEEDS") == "" {
		t.Skip("set NVSKIT_WRITE_SEEDS=1 to rewrite the seed corpus")
	}
	cases, err := golden.LoadDevice()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		switch c.Name {
		case "mixed_reboots_0x4000", "powercut_raw_blob_orphans_0x5000", "powercut_raw_gc_freeing_0x3000", "partition_full_0x3000":
		default:
			continue
		}
		b, err := c.Read("expected")
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []string{"FuzzParse", "FuzzEditor"} {
			dir := filepath.Join("testdata", "fuzz", target)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if target == "FuzzEditor" {
				body += "[]byte(\"\\x01\\x00\\x01\\x05\\x09\\x02\\x03\\x07\\x05\\x00\\x00\\x00\")\n"
			}
			if err := os.WriteFile(filepath.Join(dir, c.Name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
