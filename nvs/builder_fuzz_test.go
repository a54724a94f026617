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

// FuzzDecrypt decrypts random bytes: it must never panic.
func FuzzDecrypt(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "nvs-gen", "encrypt_seed_0x5000", "expected.bin")); err == nil {
		f.Add(b[:PageSize])
	}
	f.Add(bytes.Repeat([]byte{0xFF}, PageSize))
	f.Add([]byte{1, 2, 3})
	keys, _ := KeysFromHMAC(make([]byte, 32))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Decrypt(data, keys)
		if err == nil && len(out) != len(data) {
			t.Fatalf("output %d bytes for %d", len(out), len(data))
		}
	})
}

// FuzzParseKeysPartition decodes random keys partitions: no panic, and a success always
// round-trips through MarshalPartition.
func FuzzParseKeysPartition(f *testing.F) {
	k, _ := KeysFromHMAC(bytes.Repeat([]byte{7}, 32))
	f.Add(k.MarshalPartition())
	f.Add(bytes.Repeat([]byte{0xFF}, 68))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
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
