package nvs

import (
	"encoding/binary"
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
	// namespace-index-0, namespace-clash, unknown-type, string-no-nul, looks-encrypted.
	Code    string `json:"code"`
	Page    int    `json:"page"`
	Slot    int    `json:"slot"`
	Message string `json:"message"`
}

// String formats the finding on one line: severity, location, message and code.
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

	raw []byte // the page's 4096 bytes
}

// Entries decodes the 126 slots of the page in order. A slot that follows a string or blob
// header within its span is marked Payload.
func (pg *Page) Entries() []EntryInfo {
	out := make([]EntryInfo, EntriesPerPage)
	if len(pg.raw) < PageSize {
		return out
	}
	bm := pg.raw[HeaderSize:FirstEntryOff]
	payload := 0
	for i := range EntriesPerPage {
		off := FirstEntryOff + i*EntrySize
		raw := pg.raw[off : off+EntrySize : off+EntrySize]
		ei := &out[i]
		ei.Slot, ei.State, ei.Raw = i, BitmapState(bm, i), raw
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
		if ei.CRCOK && ei.Entry.Type.IsVarLen() && ei.State != EntryEmpty {
			payload = max(int(ei.Entry.Span), 1) - 1
		}
	}
	return out
}

// Counts returns how many slots of the page the bitmap marks written, erased and empty.
func (pg *Page) Counts() (written, erased, empty int) {
	if len(pg.raw) < PageSize {
		return 0, 0, EntriesPerPage
	}
	bm := pg.raw[HeaderSize:FirstEntryOff]
	for i := range EntriesPerPage {
		switch BitmapState(bm, i) {
		case EntryWritten:
			written++
		case EntryErased:
			erased++
		case EntryEmpty:
			empty++
		}
	}
	return
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
	byName map[nameKey]int
}

type nameKey struct{ ns, key string }

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
	img, err := Decrypt(image, k)
	if err != nil {
		return nil, err
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
		pg.raw = img[base : base+PageSize : base+PageSize]
		bm := img[base+HeaderSize : base+FirstEntryOff]
		if h.State != PageEmpty {
			for i := range EntriesPerPage {
				if BitmapState(bm, i) == EntryIllegal {
					add(Warning, "bitmap-illegal", pi, i, "entry state bits are 0b01, which is not a valid state")
				}
			}
			if bm[BitmapSize-1]&0xF0 != 0xF0 {
				add(Warning, "bitmap-illegal", pi, -1, "the 4 unused bits at the end of the entry bitmap are not all 1")
			}
		}
		// Encrypted without keys? Look for one written header with a valid CRC.
		if pg.HeaderCRCOK && goodCRC == 0 {
			for i := range EntriesPerPage {
				if BitmapState(bm, i) != EntryWritten {
					continue
				}
				written++
				off := base + FirstEntryOff + i*EntrySize
				if entryCRCOK(img[off : off+EntrySize]) {
					goodCRC++
					break
				}
			}
		}
	}
	if written > 0 && goodCRC == 0 && !encrypted {
		im.LooksEncrypted = true
		add(Error, "looks-encrypted", -1, -1, "no written entry has a valid CRC although the page headers are valid: the image looks encrypted; give its keys")
	}

	d := newDevice(img, nil, nil)
	d.noting, d.lenient, d.shared = true, true, true
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
	var nsName [256]string
	var nsKnown [256]bool
	for _, nd := range d.ns {
		if !nsKnown[nd.index] {
			nsKnown[nd.index], nsName[nd.index] = true, nd.name
		}
	}
	// ix.locs holds the live headers in page order: the parser walks them instead of every
	// slot. (After the mount the live headers are exactly what the library's iteration,
	// Page::findItem with any namespace, type and key, visits.)
	ix := newLiveIndex(d)
	// Namespace entries with their location, as loadNamespaces found them.
	var skip *dpage
	for _, l := range ix.locs {
		p, i := d.list[l.page], int(l.slot)
		if p == skip || !readablePage(p) || d.entryState(p, i) != EntryWritten {
			continue
		}
		b := d.slot(p, i)
		if b[0] != NamespaceIndex {
			continue
		}
		if Type(b[1]) != TypeU8 {
			skip = p // the rest of the page is not scanned
			continue
		}
		e := DecodeEntry(b)
		im.Namespaces = append(im.Namespaces, NamespaceDef{e.KeyString(), e.Data[0], p.idx, i})
	}
	byIndex, byNSName := map[uint8]string{}, map[string]uint8{}
	for _, n := range im.Namespaces {
		if prev, ok := byIndex[n.Index]; ok {
			add(Error, "namespace-clash", n.Page, n.Slot, "namespace %q has index %d, which namespace %q already has; the device reads its keys under %q", n.Name, n.Index, prev, prev)
		} else if n.Index == 0 || n.Index == 255 {
			add(Error, "namespace-clash", n.Page, n.Slot, "namespace %q has the reserved index %d", n.Name, n.Index)
		}
		if prev, ok := byNSName[n.Name]; ok {
			add(Warning, "namespace-clash", n.Page, n.Slot, "namespace %q is defined twice (indexes %d and %d); the device opens the first", n.Name, prev, n.Index)
		}
		if _, ok := byIndex[n.Index]; !ok {
			byIndex[n.Index] = n.Name
		}
		if _, ok := byNSName[n.Name]; !ok {
			byNSName[n.Name] = n.Index
		}
	}
	im.Records = make([]Record, 0, ix.maxRecords)
	// The keys of all records are gathered into one string, then cut into the records.
	keyBuf := make([]byte, 0, ix.maxRecords*8)
	keyEnd := make([]int, 0, ix.maxRecords)
	for n := range ix.locs {
		l := &ix.locs[n]
		p, idx := d.list[l.page], int(l.slot)
		if !readablePage(p) || d.entryState(p, idx) != EntryWritten {
			continue
		}
		e := d.readEntry(p, idx)
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
		// A key is read once per namespace and kind (blob or not): the group of this
		// header is its namespace and stored key.
		g := &ix.groups[l.group]
		kind := uint8(1)
		if readType == TypeBlob {
			kind = 2
		}
		if g.seen&kind != 0 {
			add(Warning, "duplicate-key", p.idx, idx, "key %s is stored more than once; the device reads the first copy in page order", quoteKey(e))
			continue
		}
		g.seen |= kind
		name, ok := nsName[e.NS], nsKnown[e.NS]
		if !ok {
			add(Error, "unknown-namespace", p.idx, idx, "item %s uses namespace index %d, which no namespace entry defines", quoteKey(e), e.NS)
		}
		lookup := ix.lookup(e.NS, e.Key, l.group)
		var data []byte
		var err error
		if readType == TypeBlob && !r.V1 {
			var ie Entry
			data, ie, err = ix.readBlob(lookup)
			if err == nil {
				_, cnt, st := ie.BlobIndex()
				r.Chunks, r.ChunkStart = int(cnt), st
			}
		} else {
			var ve Entry
			data, ve, err = ix.read(lookup, readType)
			if err == nil && readType.IsInt() {
				// ve has type readType: its data field holds the value.
				r.Value = ve.Uint()
				if readType.Signed() {
					r.Value = uint64(ve.Int())
				}
			}
		}
		if err != nil {
			code := "data-crc"
			if readType == TypeBlob && !r.V1 {
				code = "blob-mismatch"
			}
			add(Error, code, p.idx, idx, "%s/%s cannot be read: %v", name, e.KeyString(), describeReadErr(err))
			continue
		}
		r.Namespace, r.Type = name, readType
		if !readType.IsInt() {
			if data == nil {
				data = []byte{} // an empty value is empty, not absent
			}
			r.Data = data
		}
		if readType == TypeString && (len(data) == 0 || data[len(data)-1] != 0) {
			add(Info, "string-no-nul", p.idx, idx, "string %s/%s has no terminating NUL; the device's nvs_get_str returns it unterminated", name, e.KeyString())
		}
		keyBuf = append(keyBuf, trimKey(&e.Key)...)
		keyEnd = append(keyEnd, len(keyBuf))
		im.Records = append(im.Records, r)
	}
	keys := string(keyBuf)
	im.byName = make(map[nameKey]int, len(im.Records))
	start := 0
	for i := range im.Records {
		r := &im.Records[i]
		r.Key = keys[start:keyEnd[i]]
		start = keyEnd[i]
		im.byName[nameKey{r.Namespace, r.Key}] = i
	}
}

// readablePage reports whether the parser lists the items of p.
func readablePage(p *dpage) bool {
	return p.state == PageActive || p.state == PageFull || p.state == PageFreeing
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
	if i, ok := im.byName[nameKey{namespace, key}]; ok {
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

// liveIndex finds items the way Storage::findItem does, from an index of the live item headers
// of a mounted device built once: for each page in sequence order, the first live header with
// the namespace, key and chunk index asked for; a header of another type makes the library
// skip that page.
//
// The headers are grouped by namespace and stored key; each group chains its headers in page
// order, and a lookup walks the chain of its group keeping the chunk index asked for.
type liveIndex struct {
	d      *device
	arena  []byte      // values are copied here: one allocation for many records
	keys   *keySet     // the namespace and stored key of each group
	groups []liveGroup // by group number
	locs   []liveLoc   // the live headers, in page order
	parts  [][]byte    // scratch: the chunks of the blob being read
	kept   bool        // a value is in the arena
	// maxRecords bounds the number of records the headers can give.
	maxRecords int
}

type liveGroup struct {
	head, tail int32 // first and last location of the group, -1 if none
	seen       uint8 // readRecords: 1 when a non-blob was read, 2 when a blob was
}

type liveLoc struct {
	page  int32 // position of the page in d.list
	slot  int32
	next  int32 // next location in the same group, -1 at the end
	group int32
	chunk uint8
}

func newLiveIndex(d *device) *liveIndex {
	n := 0
	for _, p := range d.list {
		for i := range EntriesPerPage {
			if p.live[i] {
				n++
			}
		}
	}
	ix := &liveIndex{d: d, keys: newKeySet(n), groups: make([]liveGroup, 0, n), locs: make([]liveLoc, 0, n)}
	payload := 0
	for pos, p := range d.list {
		base := p.idx*PageSize + FirstEntryOff
		for i := range EntriesPerPage {
			if !p.live[i] {
				continue
			}
			off := base + i*EntrySize
			b := d.img[off : off+EntrySize]
			k := nsKey{ns: b[0]}
			copy(k.key[:], b[8:24])
			g, added := ix.keys.add(&k)
			if added {
				ix.groups = append(ix.groups, liveGroup{head: -1, tail: -1})
			}
			loc := int32(len(ix.locs))
			ix.locs = append(ix.locs, liveLoc{page: int32(pos), slot: int32(i), next: -1, group: g, chunk: b[3]})
			if gr := &ix.groups[g]; gr.tail >= 0 {
				ix.locs[gr.tail].next = loc
				gr.tail = loc
			} else {
				gr.head, gr.tail = loc, loc
			}
			t := Type(b[1])
			if t.IsVarLen() {
				payload += min(int(binary.LittleEndian.Uint16(b[24:26])), (p.idx+1)*PageSize-off-EntrySize)
			}
			if b[0] != NamespaceIndex && t != TypeBlobIndex && (t != TypeBlobData || b[3] == 0 || b[3] == VerOffset1) {
				ix.maxRecords++
			}
		}
	}
	ix.arena = make([]byte, 0, min(payload, len(d.img)))
	return ix
}

// lookup returns the group the library's lookup of a stored key finds (it looks up the key
// as a string: at most 15 bytes, up to the first NUL), or -1. own is the group of the stored
// key itself.
func (ix *liveIndex) lookup(ns uint8, key [KeySize]byte, own int32) int32 {
	nk := normKey(key)
	if nk == key {
		return own
	}
	return ix.keys.find(&nsKey{ns, nk})
}

func (ix *liveIndex) find(g int32, typ Type, chunk uint8) (*dpage, int, Entry, error) {
	if g < 0 {
		return nil, 0, Entry{}, ErrNotFound
	}
	last := int32(-1)
	for n := ix.groups[g].head; n >= 0; n = ix.locs[n].next {
		l := &ix.locs[n]
		if l.chunk != chunk || l.page == last {
			continue
		}
		last = l.page
		p, i := ix.d.list[l.page], int(l.slot)
		if ix.d.entryState(p, i) != EntryWritten {
			continue
		}
		if b := ix.d.slot(p, i); Type(b[1]) == typ {
			return p, i, DecodeEntry(b), nil
		}
	}
	return nil, 0, Entry{}, ErrNotFound
}

// read is Storage::readItem for an integer, a string or a V1 blob of group g. It returns the
// item's header, and for a string or blob its payload.
func (ix *liveIndex) read(g int32, typ Type) ([]byte, Entry, error) {
	p, i, e, err := ix.find(g, typ, ChunkAny)
	if err != nil || !typ.IsVarLen() {
		return nil, e, err
	}
	data := ix.d.pagePayload(p, i, e)
	if len(data) != e.VarSize() || CRC32(data) != e.VarCRC() {
		return nil, e, errDataCRC
	}
	return ix.keep(data), e, nil
}

// alloc returns n bytes of the arena, capped so appends cannot spill over.
func (ix *liveIndex) alloc(n int) []byte {
	if cap(ix.arena)-len(ix.arena) < n {
		ix.arena = make([]byte, 0, max(64<<10, n))
	}
	m := len(ix.arena)
	ix.arena = ix.arena[:m+n]
	return ix.arena[m : m+n : m+n]
}

// keep copies b into the arena and returns the copy. An empty b gives nil until a value
// has been kept, then an empty slice (as when the arena was made on the first value).
func (ix *liveIndex) keep(b []byte) []byte {
	if len(b) == 0 && !ix.kept {
		return nil
	}
	ix.kept = true
	out := ix.alloc(len(b))
	copy(out, b)
	return out
}

// readBlob is Storage::readMultiPageBlob for group g; it also returns the blob index entry.
func (ix *liveIndex) readBlob(g int32) ([]byte, Entry, error) {
	_, _, ie, err := ix.find(g, TypeBlobIndex, ChunkAny)
	if err != nil {
		return nil, ie, err
	}
	size, count, start := ie.BlobIndex()
	parts := ix.parts[:0]
	total := 0
	for c := 0; c < int(count); c++ {
		p, i, ce, err := ix.find(g, TypeBlobData, start+uint8(c))
		if err != nil {
			return nil, ie, ErrNotFound
		}
		data := ix.d.pagePayload(p, i, ce)
		if len(data) != ce.VarSize() || CRC32(data) != ce.VarCRC() {
			return nil, ie, errDataCRC
		}
		parts = append(parts, data)
		total += len(data)
	}
	ix.parts = parts
	if total != int(size) {
		return nil, ie, errInvalidLen
	}
	if count == 1 {
		return ix.keep(parts[0]), ie, nil
	}
	out := ix.alloc(total)
	off := 0
	for _, b := range parts {
		off += copy(out[off:], b)
	}
	return out, ie, nil
}

// normKey is keyOf for a stored key: at most 15 bytes, zero after the first NUL.
func normKey(k [KeySize]byte) [KeySize]byte {
	k[MaxKeyLen] = 0
	for i := range MaxKeyLen {
		if k[i] == 0 {
			clear(k[i:])
			break
		}
	}
	return k
}
