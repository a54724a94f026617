package nvs

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Geometry of an NVS partition.
const (
	PageSize        = 4096 // bytes in one flash sector, the unit of an NVS page
	EntrySize       = 32   // bytes in one entry slot
	EntriesPerPage  = 126  // entry slots in a page after the header and bitmap
	HeaderSize      = 32   // page header bytes
	BitmapSize      = 32   // entry-state bitmap bytes
	FirstEntryOff   = HeaderSize + BitmapSize
	KeySize         = 16  // key field bytes, NUL padded
	MaxKeyLen       = 15  // longest key or namespace name
	MaxNamespaces   = 254 // user namespace indices are 1..254
	MinSize         = 0x3000
	MinReadOnlySize = 0x1000
	// MaxSize is the largest partition size accepted: the largest flash of any ESP chip.
	MaxSize = 128 << 20
	// LargeSize is the size above which an NVS partition is unusual (a size given by mistake
	// for the flash size, say); callers may warn.
	LargeSize = 1 << 20

	// MaxStringV1 is the longest V1 string or blob payload (62 slots), NUL included.
	MaxStringV1 = 1984
	// MaxString is the longest string the device stores, NUL included: one whole page.
	MaxString = 4000
	// ChunkMaxSize is the payload of the largest BLOB_DATA chunk (125 slots).
	ChunkMaxSize = (EntriesPerPage - 1) * EntrySize
	// MaxBlob is the device's hard limit on a V2 blob: 127 chunks of ChunkMaxSize bytes.
	// The device also refuses blobs larger than about 0.976 × partition size − 4000.
	MaxBlob = 127 * ChunkMaxSize

	// NamespaceIndex is the namespace index of namespace-definition entries.
	NamespaceIndex = 0
	// ChunkAny is the chunk index of every entry that is not a BLOB_DATA chunk.
	ChunkAny = 0xFF
	// VerOffset1 is the chunk-index base of the second blob version (the first is 0).
	VerOffset1 = 0x80
)

// Version is the NVS page format version.
type Version int

// Format versions. V2 stores blobs as BLOB_DATA chunks plus a BLOB_IDX; V1 as one BLOB entry.
const (
	V1 Version = 1
	V2 Version = 2
)

// Byte returns the value of the page header's version byte.
func (v Version) Byte() byte {
	if v == V1 {
		return 0xFF
	}
	return 0xFE
}

// VersionFromByte maps a page header's version byte to a Version.
func VersionFromByte(b byte) (Version, bool) {
	switch b {
	case 0xFF:
		return V1, true
	case 0xFE:
		return V2, true
	}
	return 0, false
}

// Type is the type code of an NVS entry.
type Type uint8

// Entry type codes. The low nibble of an integer type is its byte width; bit 0x10 marks it signed.
const (
	TypeU8        Type = 0x01
	TypeI8        Type = 0x11
	TypeU16       Type = 0x02
	TypeI16       Type = 0x12
	TypeU32       Type = 0x04
	TypeI32       Type = 0x14
	TypeU64       Type = 0x08
	TypeI64       Type = 0x18
	TypeString    Type = 0x21
	TypeBlob      Type = 0x41 // V1 single-page blob; in an Item, any blob
	TypeBlobData  Type = 0x42 // V2 blob chunk
	TypeBlobIndex Type = 0x48 // V2 blob index
	TypeAny       Type = 0xFF
)

var typeNames = map[Type]string{
	TypeU8: "u8", TypeI8: "i8", TypeU16: "u16", TypeI16: "i16",
	TypeU32: "u32", TypeI32: "i32", TypeU64: "u64", TypeI64: "i64",
	TypeString: "string", TypeBlob: "blob", TypeBlobData: "blob_data", TypeBlobIndex: "blob_index",
	TypeAny: "any",
}

// String returns the lower-case name of the type ("u8", "string", "blob_index", ...).
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(0x%02x)", uint8(t))
}

// ParseType maps a type name as String returns it ("u8" … "i64", "string", "blob") to a Type.
func ParseType(s string) (Type, bool) {
	for t, n := range typeNames {
		if n == s && t != TypeAny {
			return t, true
		}
	}
	return 0, false
}

// IsInt reports whether t is one of the eight integer types.
func (t Type) IsInt() bool {
	switch t {
	case TypeU8, TypeI8, TypeU16, TypeI16, TypeU32, TypeI32, TypeU64, TypeI64:
		return true
	}
	return false
}

// IsVarLen reports whether entries of type t carry a payload in the following slots.
func (t Type) IsVarLen() bool {
	return t == TypeString || t == TypeBlob || t == TypeBlobData
}

// Width is the byte width of an integer type, 0 for others.
func (t Type) Width() int {
	if !t.IsInt() {
		return 0
	}
	return int(t & 0x0F)
}

// Signed reports whether t is a signed integer type.
func (t Type) Signed() bool { return t.IsInt() && t&0x10 != 0 }

// IntRange returns the smallest and largest value of an integer type, as int64 and uint64
// bounds: for unsigned types min is 0 and the maximum is max; for signed types they are the
// two's-complement limits (max fits int64).
func (t Type) IntRange() (min int64, max uint64) {
	w := uint(t.Width()) * 8
	if w == 0 {
		return 0, 0
	}
	if t.Signed() {
		return -(1 << (w - 1)), 1<<(w-1) - 1
	}
	if w == 64 {
		return 0, ^uint64(0)
	}
	return 0, 1<<w - 1
}

// PageState is the state word at the start of a page header.
type PageState uint32

// Page states. Each step clears one more bit, so a state only moves forward on NOR flash.
const (
	PageEmpty   PageState = 0xFFFFFFFF
	PageActive  PageState = 0xFFFFFFFE
	PageFull    PageState = 0xFFFFFFFC
	PageFreeing PageState = 0xFFFFFFF8
	PageCorrupt PageState = 0xFFFFFFF0
	PageInvalid PageState = 0x00000000
)

// String names the state as ESP-IDF does ("ACTIVE", "FULL", ...).
func (s PageState) String() string {
	switch s {
	case PageEmpty:
		return "EMPTY"
	case PageActive:
		return "ACTIVE"
	case PageFull:
		return "FULL"
	case PageFreeing:
		return "FREEING"
	case PageCorrupt:
		return "CORRUPT"
	case PageInvalid:
		return "INVALID"
	}
	return fmt.Sprintf("UNKNOWN(0x%08x)", uint32(s))
}

// EntryState is the 2-bit state of an entry slot in the page bitmap.
type EntryState uint8

// Entry states as stored in the bitmap.
const (
	EntryErased  EntryState = 0b00
	EntryIllegal EntryState = 0b01
	EntryWritten EntryState = 0b10
	EntryEmpty   EntryState = 0b11
)

// String names the state ("Empty", "Written", "Erased", "Illegal").
func (s EntryState) String() string {
	switch s {
	case EntryEmpty:
		return "Empty"
	case EntryWritten:
		return "Written"
	case EntryErased:
		return "Erased"
	}
	return "Illegal"
}

// CRC32 is the checksum NVS uses everywhere: zlib's crc32 with seed 0xFFFFFFFF, which is
// ESP ROM crc32_le(0xFFFFFFFF, ...). CRC32([]byte("123456789")) == 0xD202D277.
func CRC32(b []byte) uint32 { return crc32.Update(0xFFFFFFFF, crc32.IEEETable, b) }

// PageHeader is the first 32 bytes of a page.
type PageHeader struct {
	State   PageState
	Seq     uint32
	Version byte // 0xFE for V2, 0xFF for V1
	CRC     uint32
}

// DecodePageHeader reads a page header from the first 32 bytes of b.
func DecodePageHeader(b []byte) PageHeader {
	return PageHeader{
		State:   PageState(binary.LittleEndian.Uint32(b[0:4])),
		Seq:     binary.LittleEndian.Uint32(b[4:8]),
		Version: b[8],
		CRC:     binary.LittleEndian.Uint32(b[28:32]),
	}
}

// HeaderCRC computes the CRC of a page header: bytes 4..27 (sequence, version, reserved).
func HeaderCRC(header []byte) uint32 { return CRC32(header[4:28]) }

// PutPageHeader writes a page header with a fresh CRC into the first 32 bytes of b.
// The reserved bytes are set to 0xFF.
func PutPageHeader(b []byte, state PageState, seq uint32, version byte) {
	binary.LittleEndian.PutUint32(b[0:4], uint32(state))
	binary.LittleEndian.PutUint32(b[4:8], seq)
	b[8] = version
	for i := 9; i < 28; i++ {
		b[i] = 0xFF
	}
	binary.LittleEndian.PutUint32(b[28:32], HeaderCRC(b))
}

// BitmapState returns the state of entry i from a page's 32-byte bitmap.
func BitmapState(bitmap []byte, i int) EntryState {
	return EntryState(bitmap[i/4]>>(2*(i%4))) & 3
}

// SetBitmapState sets entry i of a page bitmap to s. Like flash, it can only clear bits:
// the new value is ANDed with the old, so Written over Erased stays Erased.
func SetBitmapState(bitmap []byte, i int, s EntryState) {
	shift := 2 * (i % 4)
	bitmap[i/4] &^= (^byte(s) & 3) << shift
}

// Entry is the 32-byte header of an item, as stored in one slot.
type Entry struct {
	NS    uint8 // namespace index; 0 for namespace definitions
	Type  Type
	Span  uint8 // slots taken by the item, this one included
	Chunk uint8 // chunk index for BLOB_DATA, otherwise ChunkAny
	CRC   uint32
	Key   [KeySize]byte
	Data  [8]byte
}

// DecodeEntry reads an entry from the first 32 bytes of b.
func DecodeEntry(b []byte) Entry {
	var e Entry
	e.NS, e.Type, e.Span, e.Chunk = b[0], Type(b[1]), b[2], b[3]
	e.CRC = binary.LittleEndian.Uint32(b[4:8])
	copy(e.Key[:], b[8:24])
	copy(e.Data[:], b[24:32])
	return e
}

// Put writes the entry into the first 32 bytes of b, with the CRC field as it is in e.
func (e *Entry) Put(b []byte) {
	b[0], b[1], b[2], b[3] = e.NS, byte(e.Type), e.Span, e.Chunk
	binary.LittleEndian.PutUint32(b[4:8], e.CRC)
	copy(b[8:24], e.Key[:])
	copy(b[24:32], e.Data[:])
}

// ComputeCRC returns the CRC the entry should carry: over bytes 0..3 and 8..31.
func (e *Entry) ComputeCRC() uint32 {
	var buf [28]byte
	buf[0], buf[1], buf[2], buf[3] = e.NS, byte(e.Type), e.Span, e.Chunk
	copy(buf[4:20], e.Key[:])
	copy(buf[20:28], e.Data[:])
	return CRC32(buf[:])
}

// EntryCRC computes the CRC of a raw 32-byte entry.
func EntryCRC(b []byte) uint32 {
	// The CRC32 of bytes 0..3 then 8..31, computed in place (a parse checks thousands of
	// headers): bytewise for the first four, eight bytes at a time for the key and data.
	_ = b[31]
	var crc uint32 // the register: the inverse of CRC32's seed 0xFFFFFFFF
	for _, c := range b[0:4] {
		crc = crcTable8[0][byte(crc)^c] ^ crc>>8
	}
	for p := b[8:32]; len(p) >= 8; p = p[8:] {
		crc ^= binary.LittleEndian.Uint32(p)
		crc = crcTable8[0][p[7]] ^ crcTable8[1][p[6]] ^ crcTable8[2][p[5]] ^ crcTable8[3][p[4]] ^
			crcTable8[4][crc>>24] ^ crcTable8[5][crc>>16&0xFF] ^ crcTable8[6][crc>>8&0xFF] ^ crcTable8[7][crc&0xFF]
	}
	return ^crc
}

// crcTable8 holds the slicing-by-8 tables of the IEEE CRC32: crcTable8[k][b] is the CRC
// register after b followed by k zero bytes.
var crcTable8 = func() (t [8][256]uint32) {
	t[0] = *crc32.IEEETable
	for i := range 256 {
		crc := t[0][i]
		for k := 1; k < 8; k++ {
			crc = t[0][crc&0xFF] ^ crc>>8
			t[k][i] = crc
		}
	}
	return t
}()

// KeyString returns the key up to its first NUL.
func (e *Entry) KeyString() string {
	for i, c := range e.Key {
		if c == 0 {
			return string(e.Key[:i])
		}
	}
	return string(e.Key[:])
}

// SetKey stores k NUL-padded in the key field. k must be at most MaxKeyLen bytes.
func (e *Entry) SetKey(k string) {
	e.Key = [KeySize]byte{}
	copy(e.Key[:MaxKeyLen], k)
}

// VarSize is the payload size of a string, V1 blob or BLOB_DATA entry.
func (e *Entry) VarSize() int { return int(binary.LittleEndian.Uint16(e.Data[0:2])) }

// VarCRC is the payload CRC of a string, V1 blob or BLOB_DATA entry.
func (e *Entry) VarCRC() uint32 { return binary.LittleEndian.Uint32(e.Data[4:8]) }

// SetVar fills the data field of a string, V1 blob or BLOB_DATA entry for payload p.
func (e *Entry) SetVar(p []byte) {
	binary.LittleEndian.PutUint16(e.Data[0:2], uint16(len(p)))
	e.Data[2], e.Data[3] = 0xFF, 0xFF
	binary.LittleEndian.PutUint32(e.Data[4:8], CRC32(p))
}

// BlobIndex returns the fields of a BLOB_IDX entry: total size, chunk count and chunk start.
func (e *Entry) BlobIndex() (size uint32, count, start uint8) {
	return binary.LittleEndian.Uint32(e.Data[0:4]), e.Data[4], e.Data[5]
}

// SetBlobIndex fills the data field of a BLOB_IDX entry.
func (e *Entry) SetBlobIndex(size uint32, count, start uint8) {
	binary.LittleEndian.PutUint32(e.Data[0:4], size)
	e.Data[4], e.Data[5], e.Data[6], e.Data[7] = count, start, 0xFF, 0xFF
}

// Uint returns the raw value of an integer entry, zero-extended from its width.
func (e *Entry) Uint() uint64 {
	var v uint64
	for i := e.Type.Width() - 1; i >= 0; i-- {
		v = v<<8 | uint64(e.Data[i])
	}
	return v
}

// Int returns the value of an integer entry, sign-extended for signed types.
func (e *Entry) Int() int64 {
	v := e.Uint()
	if w := uint(e.Type.Width()) * 8; e.Type.Signed() && w < 64 {
		return int64(v<<(64-w)) >> (64 - w)
	}
	return int64(v)
}

// SetUint fills the data field of an integer entry with the low Width bytes of v, the rest 0xFF.
func (e *Entry) SetUint(v uint64) {
	for i := range e.Data {
		if i < e.Type.Width() {
			e.Data[i] = byte(v >> (8 * i))
		} else {
			e.Data[i] = 0xFF
		}
	}
}

// SlotsFor returns the slots a var-length item of n payload bytes takes, header included.
func SlotsFor(n int) int { return 1 + (n+EntrySize-1)/EntrySize }
