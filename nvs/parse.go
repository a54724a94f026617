package nvs

import (
	"errors"
	"fmt"
)

// Severity grades a Finding.
type Severity int

// Severities, from harmless to serious.
const (
	// Info: worth knowing, nothing is lost (for example a quirk of the generator).
	Info Severity = iota
	// Warning: something a power cut or an old bug left behind; the device repairs or ignores it.
	Warning
	// Error: data is damaged or unreadable, or the device cannot mount the image.
	Error
)

// String returns "info", "warning" or "error".
func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	}
	return "error"
}

// MarshalText makes a Severity a JSON string.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the names MarshalText writes.
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "info":
		*s = Info
	case "warning":
		*s = Warning
	case "error":
		*s = Error
	default:
		return fmt.Errorf("unknown severity %q", b)
	}
	return nil
}

// Finding is one integrity problem found in an image. Page is the physical page index and Slot
// the entry slot (0..125); either is -1 when the finding is not about one page or slot.
type Finding struct {
	Severity Severity `json:"severity"`
	// Code is a stable identifier: header-crc, page-state, corrupt-page, bitmap-illegal,
	// entry-crc, data-crc, half-written, incomplete-item, duplicate-key, orphan-chunk,
	// blob-mismatch, freeing-page, seq-clash, no-free-page, new-version, unknown-namespace,
	// namespace-index-0, string-no-nul, looks-encrypted.
	Code    string `json:"code"`
	Page    int    `json:"page"`
	Slot    int    `json:"slot"`
	Message string `json:"message"`
}

func (f Finding) String() string {
	loc := ""
	switch {
	case f.Page >= 0 && f.Slot >= 0:
		loc = fmt.Sprintf("page %d slot %d: ", f.Page, f.Slot)
	case f.Page >= 0:
		loc = fmt.Sprintf("page %d: ", f.Page)
	}
	return fmt.Sprintf("%s: %s%s [%s]", f.Severity, loc, f.Message, f.Code)
}

// Page is one 4096-byte page of an image as stored.
type Page struct {
	Index       int       // physical position in the image
	State       PageState // state word; EMPTY for a page never written
	Seq         uint32    // sequence number (meaningful when the header is valid)
	Version     byte      // header version byte: 0xFE V2, 0xFF V1
	HeaderCRCOK bool      // the header CRC matches (false for an EMPTY page)
	// Entries holds the 126 slots of the page in order.
	Entries []EntryInfo
}

// EntryInfo is one 32-byte slot of a page as stored.
type EntryInfo struct {
	Slot  int
	State EntryState // from the page bitmap
	// Payload is true for the data slots of a string or blob (they follow their header).
	Payload bool
	// Entry is the slot decoded as an item header (meaningless for payload and unused slots).
	Entry Entry
	// CRCOK reports whether the header CRC matches (false for payload slots).
	CRCOK bool
	// Raw is the slot's 32 bytes (decrypted when the image was parsed with keys).
	Raw []byte
}

// NamespaceDef is a namespace definition: its name and index.
type NamespaceDef struct {
	Name  string `json:"name"`
	Index uint8  `json:"index"`
	Page  int    `json:"page"`
	Slot  int    `json:"slot"`
}

// Record is one key as the device reads it: its item (namespace, key, type, value) and where
// it is stored.
type Record struct {
	Item
	NSIndex uint8
	// Page and Slot locate the item's first entry: the header of an integer or string, the
	// first chunk of a V2 blob, the entry of a V1 blob.
	Page, Slot int
	// Chunks and ChunkStart describe a V2 blob (0 and 0 for other types); V1 marks a
	// single-entry V1 blob.
	Chunks     int
	ChunkStart uint8
	V1         bool
}

// Image is a parsed NVS partition.
type Image struct {
	Size int
	// Encrypted reports that the image was decrypted with keys before parsing.
	Encrypted bool
	// LooksEncrypted reports that the image has valid page headers but no entry with a valid
	// CRC: it is probably encrypted and was parsed without keys.
	LooksEncrypted bool
	// Mountable is false when the device would refuse to mount the image; MountError says why.
	Mountable  bool
	MountError string
	Pages      []Page
	// Namespaces are the namespace definitions the device loads, in its order.
	Namespaces []NamespaceDef
	// Records are the keys with the values the device reads, in the device's iteration order
	// (pages by sequence number, then slot).
	Records  []Record
	Findings []Finding

	plain  []byte
	byName map[string]int
}

// Parse reads an NVS partition image. Problems in the image become Findings; only an unusable
// input (empty, or a size that is not a multiple of 4096) is an error, wrapping ErrEmptyImage or
// ErrImageSize. The values are those the device would read after mounting the image, with the
// library's recovery rules applied: the newer of two duplicates, a FREEING page's items,
// complete items only, orphan blob chunks ignored. The image is not modified.
func Parse(image []byte) (*Image, error) {
	if err := checkImage(image); err != nil {
		return nil, err
	}
	return parse(append([]byte(nil), image...), false), nil
}

// ParseWithKeys decrypts an encrypted image with k and parses it. It fails with an error
// wrapping ErrWrongKeys when nothing decrypts to a valid entry.
func ParseWithKeys(image []byte, k Keys) (*Image, error) {
	if err := checkImage(image); err != nil {
		return nil, err
	}
	c, err := NewCipher(k)
	if err != nil {
		return nil, err
	}
	img := append([]byte(nil), image...)
	decryptSlots(c, img)
	if good, bad := checkEntryCRCs(img); bad > 0 && good == 0 {
		return nil, fmt.Errorf("none of %d entry headers has a valid CRC after decryption: %w", bad, ErrWrongKeys)
	}
	return parse(img, true), nil
}

func parse(img []byte, encrypted bool) *Image {
	im := &Image{Size: len(img), Encrypted: encrypted, plain: img, Mountable: true}
	add := func(s Severity, code string, page, slot int, format string, args ...any) {
		im.Findings = append(im.Findings, Finding{s, code, page, slot, fmt.Sprintf(format, args...)})
	}
	n := len(img) / PageSize
	im.Pages = make([]Page, n)
	seqs := map[uint32]int{}
	written, goodCRC := 0, 0
	for pi := range n {
		base := pi * PageSize
		h := DecodePageHeader(img[base:])
		pg := &im.Pages[pi]
		pg.Index, pg.State, pg.Seq, pg.Version = pi, h.State, h.Seq, h.Version
		if h.State == PageEmpty {
			if !allFF(img[base : base+PageSize]) {
				add(Warning, "corrupt-page", pi, -1, "page header is blank but the page is not: the device treats it as corrupt and erases it before use")
			}
		} else {
			pg.HeaderCRCOK = h.CRC == HeaderCRC(img[base:base+HeaderSize])
			switch {
			case !pg.HeaderCRCOK:
				add(Error, "header-crc", pi, -1, "page header CRC mismatch (stored 0x%08x, computed 0x%08x): the device treats the page as corrupt and ignores its entries",
					h.CRC, HeaderCRC(img[base:base+HeaderSize]))
			case h.State != PageActive && h.State != PageFull && h.State != PageFreeing && h.State != PageCorrupt:
				add(Error, "page-state", pi, -1, "page state 0x%08x is not a state the device uses; it treats the page as corrupt", uint32(h.State))
			case h.State == PageCorrupt:
				add(Warning, "corrupt-page", pi, -1, "page is marked CORRUPT; the device ignores it and erases it before use")
			default:
				if prev, ok := seqs[h.Seq]; ok {
					add(Error, "seq-clash", pi, -1, "sequence number %d is also used by page %d", h.Seq, prev)
				} else {
					seqs[h.Seq] = pi
				}
				if _, ok := VersionFromByte(h.Version); !ok {
					add(Error, "new-version", pi, -1, "unknown format version byte 0x%02x", h.Version)
				}
			}
		}
		bm := img[base+HeaderSize : base+FirstEntryOff]
		pg.Entries = make([]EntryInfo, EntriesPerPage)
		payload := 0
		for i := range EntriesPerPage {
			off := base + FirstEntryOff + i*EntrySize
			raw := img[off : off+EntrySize : off+EntrySize]
			ei := &pg.Entries[i]
			ei.Slot, ei.State, ei.Raw = i, BitmapState(bm, i), raw
			if ei.State == EntryIllegal && h.State != PageEmpty {
				add(Warning, "bitmap-illegal", pi, i, "entry state bits are 0b01, which is not a valid state")
			}
			if payload > 0 {
				ei.Payload = true
				payload--
				continue
			}
			if ei.State == EntryEmpty && raw[0] == 0xFF && raw[1] == 0xFF {
				continue
			}
			ei.Entry = DecodeEntry(raw)
			ei.CRCOK = ei.Entry.CRC == EntryCRC(raw)
			if ei.State == EntryWritten && pg.HeaderCRCOK {
				written++
				if ei.CRCOK {
					goodCRC++
				}
			}
			if ei.CRCOK && ei.Entry.Type.IsVarLen() && ei.State != EntryEmpty {
				payload = max(int(ei.Entry.Span), 1) - 1
			}
		}
	}
	if written > 0 && goodCRC == 0 && !encrypted {
		im.LooksEncrypted = true
		add(Error, "looks-encrypted", -1, -1, "no written entry has a valid CRC although the page headers are valid: the image looks encrypted; give its keys")
	}

	d := newDevice(append([]byte(nil), img...), nil, nil)
	d.noting, d.lenient = true, true
	mountErr := d.mount()
	if errors.Is(mountErr, ErrNoFreePages) && len(img) < MinSize {
		// A read-only partition (below three pages) has no reserve page by design; ESP-IDF
		// versions with read-only support mount it.
		mountErr = nil
	}
	if mountErr != nil {
		im.Mountable = false
		im.MountError = mountErr.Error()
		code := "no-free-page"
		if errors.Is(mountErr, ErrNewVersion) {
			code = "new-version"
		}
		add(Error, code, -1, -1, "the device would refuse to mount this image: %v", mountErr)
	}
	if !d.mounted {
		// Read what is there anyway.
		_ = d.loadNamespaces()
	}
	for _, nt := range d.notes {
		sev := Warning
		if nt.code == "entry-crc" {
			sev = Error
		}
		if im.LooksEncrypted && nt.code == "entry-crc" {
			continue
		}
		switch {
		case nt.code == "half-written" && nt.last > nt.slot:
			add(sev, nt.code, nt.page, nt.slot, "slots %d..%d were programmed but never marked written (power cut while writing); a mount marks them erased", nt.slot, nt.last)
		case nt.code == "half-written":
			add(sev, nt.code, nt.page, nt.slot, "slot was programmed but never marked written (power cut while writing); a mount marks it erased")
		default:
			add(sev, nt.code, nt.page, nt.slot, "%s", nt.msg)
		}
	}
	im.readRecords(d, add)
	return im
}

type addFunc func(s Severity, code string, page, slot int, format string, args ...any)

// readRecords lists the keys the way the device iterates them and reads each value.
func (im *Image) readRecords(d *device, add addFunc) {
	nsName := map[uint8]string{}
	for _, nd := range d.ns {
		if _, ok := nsName[nd.index]; !ok {
			nsName[nd.index] = nd.name
		}
	}
	// Namespace entries with their location.
	for _, p := range d.list {
		for i := 0; ; {
			idx, e, err := d.pageFind(p, NamespaceIndex, TypeU8, nil, i, ChunkAny, verAny)
			if err != nil {
				break
			}
			im.Namespaces = append(im.Namespaces, NamespaceDef{e.KeyString(), e.Data[0], p.idx, idx})
			i = idx + 1
		}
	}
	type seenKey struct {
		ns   uint8
		key  [KeySize]byte
		blob bool
	}
	seen := map[seenKey]bool{}
	im.byName = map[string]int{}
	for _, p := range d.list {
		for i := 0; ; {
			idx, e, err := d.pageFind(p, nsAny, TypeAny, nil, i, ChunkAny, verAny)
			if err != nil {
				break
			}
			i = idx + max(int(e.Span), 1)
			if e.NS == NamespaceIndex {
				if e.Type != TypeU8 {
					add(Warning, "namespace-index-0", p.idx, idx, "item %s (%s) has namespace index 0, which is reserved for namespace definitions; the device ignores it", quoteKey(e), e.Type)
				}
				continue
			}
			readType := e.Type
			r := Record{NSIndex: e.NS, Page: p.idx, Slot: idx}
			switch {
			case e.Type == TypeBlobIndex:
				continue
			case e.Type == TypeBlobData:
				if e.Chunk != 0 && e.Chunk != VerOffset1 {
					continue
				}
				readType = TypeBlob
			case e.Type == TypeBlob:
				r.V1 = true
			case e.Type.IsInt() || e.Type == TypeString:
			default:
				add(Warning, "unknown-type", p.idx, idx, "item %s has unknown type 0x%02x", quoteKey(e), uint8(e.Type))
				continue
			}
			sk := seenKey{e.NS, e.Key, readType == TypeBlob}
			if seen[sk] {
				add(Warning, "duplicate-key", p.idx, idx, "key %s is stored more than once; the device reads the first copy in page order", quoteKey(e))
				continue
			}
			seen[sk] = true
			key := e.KeyString()
			name, ok := nsName[e.NS]
			if !ok {
				add(Error, "unknown-namespace", p.idx, idx, "item %s uses namespace index %d, which no namespace entry defines", quoteKey(e), e.NS)
			}
			var data []byte
			if readType == TypeBlob && !r.V1 {
				k := e.Key
				data, err = d.readMultiPageBlob(e.NS, &k)
				if err == nil {
					_, _, ie, _ := d.find(e.NS, TypeBlobIndex, &k, ChunkAny, verAny)
					_, cnt, st := ie.BlobIndex()
					r.Chunks, r.ChunkStart = int(cnt), st
				}
			} else {
				data, err = d.readItem(e.NS, readType, key)
			}
			if err != nil {
				code := "data-crc"
				if readType == TypeBlob && !r.V1 {
					code = "blob-mismatch"
				}
				add(Error, code, p.idx, idx, "%s/%s cannot be read: %v", name, key, describeReadErr(err))
				continue
			}
			r.Namespace, r.Key, r.Type = name, key, readType
			if readType.IsInt() {
				var en Entry
				en.Type = readType
				copy(en.Data[:], data)
				r.Value = en.Uint()
				if readType.Signed() {
					r.Value = uint64(en.Int())
				}
			} else {
				r.Data = data
			}
			if readType == TypeString && (len(data) == 0 || data[len(data)-1] != 0) {
				add(Info, "string-no-nul", p.idx, idx, "string %s/%s has no terminating NUL; the device's nvs_get_str returns it unterminated", name, key)
			}
			im.byName[name+"\x00"+key] = len(im.Records)
			im.Records = append(im.Records, r)
		}
	}
}

func describeReadErr(err error) string {
	switch {
	case errors.Is(err, errDataCRC):
		return "a chunk's data CRC does not match"
	case errors.Is(err, errInvalidLen):
		return "the chunks do not add up to the size the blob index gives"
	case errors.Is(err, ErrNotFound):
		return "its data is damaged or a blob chunk is missing"
	}
	return err.Error()
}

// Get returns the record of key in namespace, or nil.
func (im *Image) Get(namespace, key string) *Record {
	if i, ok := im.byName[namespace+"\x00"+key]; ok {
		return &im.Records[i]
	}
	return nil
}

// Keys returns the keys of namespace in the device's order.
func (im *Image) Keys(namespace string) []string {
	var out []string
	for i := range im.Records {
		if im.Records[i].Namespace == namespace {
			out = append(out, im.Records[i].Key)
		}
	}
	return out
}

// NamespaceNames returns the names of the defined namespaces in the device's order.
func (im *Image) NamespaceNames() []string {
	var out []string
	for _, n := range im.Namespaces {
		out = append(out, n.Name)
	}
	return out
}

// Plain returns the image bytes that were parsed (decrypted when parsed with keys). The
// caller must not modify them.
func (im *Image) Plain() []byte { return im.plain }
