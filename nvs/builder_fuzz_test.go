package nvs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzBuilder builds images from random items: it must never panic, and every image it
// returns must have valid page headers and entry CRCs.
func FuzzBuilder(f *testing.F) {
	f.Add([]byte("\x01\x05hello\x21\x03abc\x41\x00"), uint8(3), false)
	f.Add(bytes.Repeat([]byte{0x41, 0xff}, 40), uint8(1), false)
	f.Add([]byte{0x18, 0x80, 0x01}, uint8(6), true)
	f.Fuzz(func(t *testing.T, data []byte, pages uint8, v1 bool) {
		if len(data) > 256 {
			return // two bytes per item: 128 items, with strings and blobs enough for 16 pages
		}
		opts := Options{Size: int(pages%16+1) * PageSize, Version: V2}
		if v1 {
			opts.Version = V1
		}
		b, err := NewBuilder(opts)
		if err != nil {
			t.Fatal(err)
		}
		types := []Type{TypeU8, TypeI8, TypeU16, TypeI16, TypeU32, TypeI32, TypeU64, TypeI64, TypeString, TypeBlob, TypeBlobIndex}
		ns := []string{"a", "b", "namespace_15chr"}
		for i := 0; len(data) >= 2; i++ {
			t0, n := types[int(data[0])%len(types)], int(data[1])
			data = data[2:]
			it := Item{Namespace: ns[n%len(ns)], Key: string(rune('a' + i%26)), Type: t0}
			switch {
			case t0.IsInt():
				it.Value = uint64(n) * 0x0101010101010101
			default:
				m := min(n*50, len(data)*40)
				it.Data = bytes.Repeat([]byte{byte(n)}, m)
			}
			if err := b.Add(it); err != nil && !errors.Is(err, ErrBadType) && !errors.Is(err, ErrValueRange) && !errors.Is(err, ErrValueTooLong) {
				t.Fatalf("Add: %v", err)
			}
		}
		img, err := b.Image()
		if err != nil {
			if !errors.Is(err, ErrPartitionFull) {
				t.Fatalf("Image: %v", err)
			}
			return
		}
		if len(img) != opts.Size {
			t.Fatalf("image is %d bytes, want %d", len(img), opts.Size)
		}
		if good, bad := checkEntryCRCs(img); bad != 0 {
			t.Fatalf("%d bad entry CRCs (%d good)", bad, good)
		}
		for p := 0; p < len(img); p += PageSize {
			h := DecodePageHeader(img[p:])
			if h.State != PageEmpty && h.CRC != HeaderCRC(img[p:]) {
				t.Fatalf("page %d header CRC", p/PageSize)
			}
		}
	})
}

// FuzzDecrypt decrypts random bytes: it must never panic. Short inputs (at most 64 bytes, the
// error paths) are decrypted as they are; every input is also written as patches over an
// encrypted golden image or a blank one, as the nvs_test fuzz targets do (small inputs keep the
// fuzzer's minimiser fast), and decrypting that must keep the image's size.
func FuzzDecrypt(f *testing.F) {
	var bases [][]byte
	if b, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "nvs-gen", "encrypt_seed_0x5000", "expected.bin")); err == nil {
		bases = append(bases, b)
	}
	keys, _ := KeysFromHMAC(make([]byte, 32))
	if len(bases) > 0 {
		// The golden image is encrypted with other keys: give these keys an image of their own.
		plain, err := Build([]Item{String("ns", "s", "value"), Blob("ns", "b", bytes.Repeat([]byte{7}, 5000))}, Options{Size: 0x3000})
		if err != nil {
			f.Fatal(err)
		}
		enc, _ := Encrypt(plain, keys)
		bases = append(bases, enc)
	}
	f.Add([]byte{0})
	f.Add([]byte{1})
	f.Add([]byte{1, 0x40, 0x00, 3, 0xaa, 0xaa, 0xaa})
	f.Add([]byte{2})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256 {
			return
		}
		if len(data) <= 64 {
			_, _ = Decrypt(data, keys)
		}
		img := patchImage(bases, data)
		out, err := Decrypt(img, keys)
		if err == nil && len(out) != len(img) {
			t.Fatalf("output %d bytes for %d", len(out), len(img))
		}
	})
}

// patchImage is the nvs_test fuzzImage for this package's targets: data[0] picks a base (or a
// blank image of 1 to 3 pages), the rest are patches (2-byte offset, length byte, bytes).
func patchImage(bases [][]byte, data []byte) []byte {
	if len(data) == 0 {
		return bytes.Repeat([]byte{0xFF}, PageSize)
	}
	var img []byte
	if i := int(data[0]); i < len(bases) {
		img = append([]byte(nil), bases[i]...)
	} else {
		img = bytes.Repeat([]byte{0xFF}, (1+(i-len(bases))%3)*PageSize)
	}
	for p := data[1:]; len(p) >= 3; {
		off, n := int(p[0])|int(p[1])<<8, int(p[2])%32+1
		p = p[3:]
		n = min(n, len(p))
		copy(img[off%len(img):], p[:n])
		p = p[n:]
	}
	return img
}

// FuzzParseKeysPartition decodes random keys partitions: no panic, and a success always
// round-trips through MarshalPartition.
func FuzzParseKeysPartition(f *testing.F) {
	k, _ := KeysFromHMAC(bytes.Repeat([]byte{7}, 32))
	f.Add(k.MarshalPartition())
	f.Add(bytes.Repeat([]byte{0xFF}, 68))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2*PageSize {
			return // a keys partition is one sector; only its first 68 bytes count
		}
		k, err := ParseKeysPartition(data)
		if err != nil {
			return
		}
		if !bytes.Equal(k.MarshalPartition()[:68], data[:68]) {
			t.Fatal("keys do not round-trip")
		}
		if binary.LittleEndian.Uint32(data[64:]) != CRC32(data[:64]) {
			t.Fatal("accepted a bad CRC")
		}
	})
}
