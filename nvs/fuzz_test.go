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

// The image fuzz targets take small inputs and build the image from them (fuzzImage): an
// input of whole images (kilobytes) makes the fuzzer's minimiser, which tries removing every
// byte and every range of bytes, run for minutes after each new find, and the fuzzer then
// seems to hang. Inputs above maxFuzzInput are ignored, so the fuzzer does not dwell on them.
const maxFuzzInput = 256

// maxFuzzBase is the size of the largest golden image used as a base.
const maxFuzzBase = 0x4000

// deviceBases returns the device images of the golden corpus of at most maxFuzzBase bytes
// (images the library wrote, power-cut leftovers, the states before and after a mount), in the
// corpus's order: fuzzImage's bases.
func deviceBases(f *testing.F) [][]byte {
	cases, err := golden.LoadDevice()
	if err != nil {
		f.Fatal(err)
	}
	var bases [][]byte
	for _, c := range cases {
		if c.Size > maxFuzzBase {
			continue
		}
		for _, role := range []string{"expected", "cut", "after_mount", "start"} {
			if b, err := c.Read(role); err == nil {
				bases = append(bases, b)
			}
		}
	}
	return bases
}

// fuzzImage builds an image from a fuzz input. The first byte picks the base: one of bases, or
// past their number a blank (all 0xFF) image of 3 to 6 pages. The rest are patches, each a
// 2-byte little-endian offset (modulo the image size), a length byte (1 to 32) and that many
// bytes, written over the base. A few hundred bytes so reach any byte of a realistic
// multi-page image, and the minimiser has little to do.
func fuzzImage(bases [][]byte, data []byte) []byte {
	if len(data) == 0 {
		return bytes.Repeat([]byte{0xFF}, 3*nvs.PageSize)
	}
	var img []byte
	if i := int(data[0]); i < len(bases) {
		img = append([]byte(nil), bases[i]...)
	} else {
		img = bytes.Repeat([]byte{0xFF}, (3+(i-len(bases))%4)*nvs.PageSize)
	}
	for p := data[1:]; len(p) >= 3; {
		off := int(p[0]) | int(p[1])<<8
		n := int(p[2])%32 + 1
		p = p[3:]
		n = min(n, len(p))
		copy(img[off%len(img):], p[:n])
		p = p[n:]
	}
	return img
}

// addBaseSeeds adds one seed per base (the base unchanged) and a few patched ones.
func addBaseSeeds(f *testing.F, bases [][]byte, add func(data []byte)) {
	for i := range bases {
		add([]byte{byte(i)})
	}
	add([]byte{byte(len(bases))})
	add([]byte{0, 0x40, 0x00, 3, 0x00, 0x00, 0x00, 0x20, 0x00, 1, 0x00}) // a bitmap byte and the first entry
	add([]byte{byte(len(bases) + 1), 0x00, 0x00, 31, 0xfe, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xfe})
}

// FuzzParse: any bytes give an image with findings or an error, never a panic or a hang;
// the space report, stored items and an editor mount work on whatever Parse accepts.
func FuzzParse(f *testing.F) {
	bases := deviceBases(f)
	addBaseSeeds(f, bases, func(data []byte) { f.Add(data) })
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		if _, err := nvs.Parse(data); err != nil && !errors.Is(err, nvs.ErrEmptyImage) && !errors.Is(err, nvs.ErrImageSize) {
			t.Fatalf("unexpected error: %v", err)
		}
		_ = nvs.Recognize(data)
		img := fuzzImage(bases, data)
		_ = nvs.Recognize(img)
		im, err := nvs.Parse(img)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range im.Records {
			if got := im.Get(r.Namespace, r.Key); got == nil {
				t.Fatalf("Get(%q, %q) is nil for a listed record", r.Namespace, r.Key)
			}
		}
		if len(data)%4 == 1 {
			// Space simulates writes (a few mounts): the slowest step by far, so one input in
			// four runs it, the one-byte base seeds among them.
			_ = im.Space()
		}
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
	bases := deviceBases(f)
	f.Add([]byte{}, []byte{0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{}, bytes.Repeat([]byte{0, 1, 2, 200, 3, 4, 40, 5, 6, 7}, 40))
	addBaseSeeds(f, bases, func(data []byte) { f.Add(data, []byte{1, 7, 5, 3, 9, 200, 100, 2, 8}) })
	f.Fuzz(func(t *testing.T, data, ops []byte) {
		if len(data) > maxFuzzInput || len(ops) > maxFuzzOps {
			return
		}
		runEditorOps(t, bases, data, ops)
	})
}

// maxFuzzOps caps FuzzEditor's operations input: 1 + 4 bytes per operation, 100 operations.
const maxFuzzOps = 401

// runEditorOps is FuzzEditor's body.
func runEditorOps(t *testing.T, bases [][]byte, data, ops []byte) {
	{
		blank := len(ops) > 0 && ops[0]%4 == 0
		var img []byte
		if blank {
			img = bytes.Repeat([]byte{0xFF}, (3+int(ops[0]/4)%5)*nvs.PageSize)
		} else {
			img = fuzzImage(bases, data)
		}
		e, err := nvs.NewEditor(img, nil)
		if err != nil {
			return
		}
		model := map[string]nvs.Item{}
		unsure := map[string]bool{}
		failedBlob := false
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
				_, max := typ.IntRange()
				if typ.IsInt() && typ.Signed() {
					it.Value = uint64(int64(c) - 100)
				} else if typ.IsInt() {
					it.Value &= max
				}
				switch typ {
				case nvs.TypeString:
					it = nvs.String(ns, key, string(bytes.Repeat([]byte{'a' + c%26}, int(c)*7%4100)))
				case nvs.TypeBlob:
					it = nvs.Blob(ns, key, bytes.Repeat([]byte{c}, int(c)*37%9000))
				}
				if old, ok := model[id]; ok && old.Type != typ {
					// A live key written again with another type: the 2020 library keeps
					// both (see the device README); avoid it, as the device histories do.
					continue
				}
				if err := e.Set(it); err != nil {
					if typ == nvs.TypeBlob {
						// The 2020 library cleans up after a failed blob write by chunk
						// number from 0 (not from the version base) and on the pages it
						// wrote to, which garbage collection may have moved the chunks
						// off: chunks can stay behind and spoil this key for good.
						unsure[id] = true
						failedBlob = true
					}
					continue
				}
				model[id] = it
			case 5:
				if err := e.Erase(ns, key); err == nil || errors.Is(err, nvs.ErrNotFound) {
					delete(model, id)
				}
			case 6:
				if e.EraseNamespace(ns) == nil {
					for k := range model {
						if k[:len(ns)+1] == ns+"/" {
							delete(model, k)
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
		for _, fd := range im.Findings {
			// A failed blob write erases the chunks it wrote by chunk number from 0, not from
			// the version base (as the 2020 library does), so chunks of version 128 can stay
			// behind as orphans until the next mount.
			if !((fd.Code == "orphan-chunk" || fd.Code == "blob-mismatch" || fd.Code == "duplicate-key") && failedBlob) {
				t.Fatalf("findings on an edited blank image: %v", im.Findings)
			}
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
	}
}

// TestWriteFuzzSeeds writes the seed corpus files under testdata/fuzz when NVSKIT_WRITE_SEEDS
// is set (they are committed; the f.Add seeds above cover the same images). Each seed picks a
// golden device image as fuzzImage's base, unchanged and with a patch over its first entries.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("NVSKIT_WRITE_SEEDS") == "" {
		t.Skip("set NVSKIT_WRITE_SEEDS=1 to rewrite the seed corpus")
	}
	cases, err := golden.LoadDevice()
	if err != nil {
		t.Fatal(err)
	}
	idx := 0 // the base index, counted as deviceBases counts
	for _, c := range cases {
		if c.Size > maxFuzzBase {
			continue
		}
		first := idx
		for _, role := range []string{"expected", "cut", "after_mount", "start"} {
			if _, err := c.Read(role); err == nil {
				idx++
			}
		}
		switch c.Name {
		case "mixed_reboots_0x4000", "powercut_raw_gc_freeing_0x3000", "partition_full_0x3000":
		default:
			continue
		}
		for _, target := range []string{"FuzzParse", "FuzzEditor"} {
			dir := filepath.Join("testdata", "fuzz", target)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for k, data := range [][]byte{{byte(first)}, {byte(first), 0x60, 0x00, 4, 0x01, 0x21, 0x02, 0xff}} {
				body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
				if target == "FuzzEditor" {
					body += "[]byte(\"\\x01\\x00\\x01\\x05\\x09\\x02\\x03\\x07\\x05\\x00\\x00\\x00\")\n"
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d", c.Name, k)), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
