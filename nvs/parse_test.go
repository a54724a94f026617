package nvs_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/nvskit/nvskit/nvs"
)

func baseImage(t *testing.T) []byte {
	t.Helper()
	img, err := nvs.Build([]nvs.Item{
		nvs.Uint("app", "a", nvs.TypeU8, 1),
		nvs.String("app", "s", "hello"),
		nvs.Blob("app", "b", bytes.Repeat([]byte{7}, 100)),
		nvs.Uint("net", "port", nvs.TypeU16, 80),
	}, nvs.Options{Size: 0x3000})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// slotOff is the offset of slot i of page p.
func slotOff(p, i int) int { return p*nvs.PageSize + nvs.FirstEntryOff + i*nvs.EntrySize }

// TestParseFindings: damage of each kind gives its finding code.
func TestParseFindings(t *testing.T) {
	tests := []struct {
		name   string
		damage func(img []byte)
		code   string
	}{
		{"header crc", func(img []byte) { img[10] = 0 }, "header-crc"},
		{"page state", func(img []byte) { binary.LittleEndian.PutUint32(img, 0xFFFF0000) }, "page-state"},
		{"entry crc", func(img []byte) { img[slotOff(0, 1)+24] ^= 1 }, "entry-crc"},
		{"data crc", func(img []byte) { img[slotOff(0, 3)] ^= 1 }, "data-crc"},
		{"illegal bitmap", func(img []byte) { img[nvs.HeaderSize+31] &^= 0x20 }, "bitmap-illegal"},
		{"blank header, data in page", func(img []byte) { img[2*nvs.PageSize+100] = 0 }, "corrupt-page"},
		{"seq clash", func(img []byte) {
			copy(img[nvs.PageSize:2*nvs.PageSize], img[:nvs.PageSize])
		}, "seq-clash"},
		{"unknown namespace", func(img []byte) {
			o := slotOff(0, 1)
			img[o] = 9
			binary.LittleEndian.PutUint32(img[o+4:], nvs.EntryCRC(img[o:o+32]))
		}, "unknown-namespace"},
		{"namespace clash", func(img []byte) {
			o := 0
			for i := range nvs.EntriesPerPage { // the "net" namespace entry gets index 1 too
				if e := nvs.DecodeEntry(img[slotOff(0, i):]); e.NS == 0 && e.KeyString() == "net" {
					o = slotOff(0, i)
				}
			}
			img[o+24] = 1
			binary.LittleEndian.PutUint32(img[o+4:], nvs.EntryCRC(img[o:o+32]))
		}, "namespace-clash"},
		{"no free page", func(img []byte) {
			for p := 1; p < 3; p++ {
				copy(img[p*nvs.PageSize:], img[:nvs.PageSize])
				binary.LittleEndian.PutUint32(img[p*nvs.PageSize+4:], uint32(p))
				binary.LittleEndian.PutUint32(img[p*nvs.PageSize+28:], nvs.HeaderCRC(img[p*nvs.PageSize:]))
			}
		}, "no-free-page"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := baseImage(t)
			tc.damage(img)
			im, err := nvs.Parse(img)
			if err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, f := range im.Findings {
				codes = append(codes, f.Code)
			}
			if !slices.Contains(codes, tc.code) {
				t.Errorf("codes %v, want %s", codes, tc.code)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		img  []byte
		want error
	}{
		{"empty", nil, nvs.ErrEmptyImage},
		{"short", make([]byte, 100), nvs.ErrImageSize},
		{"truncated", make([]byte, 5000), nvs.ErrImageSize},
	}
	for _, tc := range tests {
		if _, err := nvs.Parse(tc.img); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if _, err := nvs.NewEditor(tc.img, nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: editor: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseDoesNotModify(t *testing.T) {
	img := baseImage(t)
	img[slotOff(0, 1)+24] ^= 1 // a bad CRC the mount would erase
	orig := append([]byte(nil), img...)
	if _, err := nvs.Parse(img); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img, orig) {
		t.Fatal("Parse changed its input")
	}
}

// TestDamagedPage: only damage that makes the device erase a page counts.
func TestDamagedPage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(img []byte)
		damaged bool
	}{
		{"intact", func([]byte) {}, false},
		{"header crc", func(img []byte) { img[10] = 0 }, true},
		{"page state", func(img []byte) { binary.LittleEndian.PutUint32(img, 0xFFFF0000) }, true},
		{"blank header, data in page", func(img []byte) { img[2*nvs.PageSize+100] = 0 }, true},
		{"entry crc", func(img []byte) { img[slotOff(0, 1)+24] ^= 1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := baseImage(t)
			tc.damage(img)
			im, err := nvs.Parse(img)
			if err != nil {
				t.Fatal(err)
			}
			if f := im.DamagedPage(); (f != nil) != tc.damaged {
				t.Fatalf("DamagedPage = %v, want damaged %v", f, tc.damaged)
			}
		})
	}
}
