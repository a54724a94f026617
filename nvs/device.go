package nvs

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// This file models the ESP-IDF nvs_flash library (the 2020 version the device golden vectors
// were made with) working on an image in memory: mount with its recovery, lookups, writes,
// erases and garbage collection. The editor and the parser both drive it, so that an edit gives
// the bytes the device would write and a read gives the value the device would read.
//
// Written from the behaviour described in testdata/golden/device/README.md and from reading the
// library's sources; no code of the library is reused.

// Errors of the device model. Editor methods wrap these.
var (
	// ErrNotFound: the namespace or key does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNoFreePages: the image has no free page, so the device refuses to mount it
	// (ESP_ERR_NVS_NO_FREE_PAGES).
	ErrNoFreePages = errors.New("no free page: the device cannot mount this image")
	// ErrNewVersion: a page carries a format version newer than this library knows
	// (ESP_ERR_NVS_NEW_VERSION_FOUND).
	ErrNewVersion = errors.New("a page has a newer NVS format version")
	// ErrNotEnoughSpace: the write does not fit (ESP_ERR_NVS_NOT_ENOUGH_SPACE). It wraps
	// ErrPartitionFull.
	ErrNotEnoughSpace = errNotEnoughSpace{}
	// ErrTypeMismatch: the key exists with another type (ESP_ERR_NVS_TYPE_MISMATCH).
	ErrTypeMismatch = errors.New("the key exists with another type")
	// ErrInvalidState: the image is in a state the device refuses to write to
	// (ESP_ERR_NVS_INVALID_STATE).
	ErrInvalidState = errors.New("invalid page state")
)

type errNotEnoughSpace struct{}

func (errNotEnoughSpace) Error() string { return "not enough space in the partition" }
func (errNotEnoughSpace) Unwrap() error { return ErrPartitionFull }

var (
	errPageFull     = errors.New("page full")
	errContentDiffs = errors.New("content differs")
	errInvalidLen   = errors.New("invalid length")
)

const (
	invalidEntry = 1 << 30 // the library's INVALID_ENTRY
	nsAny        = 0xFF    // the library's NS_ANY
	verAny       = -1      // any blob version (VER_ANY)
	nvsVersion   = 0xFE    // page format version the library writes
)

// pageUninit is the model's name for a page whose header is all 0xFF (UNINITIALIZED).
const pageUninit = PageEmpty

// dpage is the library's view of one page.
type dpage struct {
	idx      int
	state    PageState
	seq      uint32
	version  byte
	nextFree int // first slot never written on an active page; invalidEntry if unknown
	live     [EntriesPerPage]bool
}

// recoveryNote reports one thing a mount repaired, for the parser's findings.
type recoveryNote struct {
	page, slot int
	last       int // last slot of a run of half-written slots
	code       string
	msg        string
}

type nsDef struct {
	name  string
	index uint8
}

// device is the library mounted on an image.
type device struct {
	img     []byte // plaintext
	raw     []byte // on-flash bytes: the same slice as img unless encrypted
	cipher  *Cipher
	pages   []*dpage
	list    []*dpage // pages in use, in sequence order
	free    []*dpage // free pages, in the order the library takes them
	nextSeq uint32
	ns      []nsDef
	nsUsed  [256]bool
	notes   []recoveryNote
	noting  bool
	shared  bool // img is borrowed: copy it before the first write
	lenient bool // parser: load pages with unknown versions too
	mounted bool
}

func (d *device) note(p *dpage, slot int, code, msg string) {
	if !d.noting {
		return
	}
	if n := len(d.notes); n > 0 && code == "half-written" {
		prev := &d.notes[n-1]
		if prev.code == code && prev.page == p.idx && prev.last+1 == slot {
			prev.last = slot
			return
		}
	}
	d.notes = append(d.notes, recoveryNote{p.idx, slot, slot, code, msg})
}

// ---- flash access -------------------------------------------------------------------------

func (d *device) slotOff(p *dpage, i int) int { return p.idx*PageSize + FirstEntryOff + i*EntrySize }

func (d *device) slot(p *dpage, i int) []byte {
	o := d.slotOff(p, i)
	return d.img[o : o+EntrySize]
}

func (d *device) bitmap(p *dpage) []byte {
	o := p.idx*PageSize + HeaderSize
	return d.img[o : o+BitmapSize]
}

func (d *device) entryState(p *dpage, i int) EntryState { return BitmapState(d.bitmap(p), i) }

// own makes the model's image its own before the first write (copy on write): a parse of a
// clean image never copies it.
func (d *device) own() {
	if !d.shared {
		return
	}
	d.img = append([]byte(nil), d.img...)
	if d.cipher == nil {
		d.raw = d.img
	}
	d.shared = false
}

func (d *device) setEntryState(p *dpage, i int, s EntryState) {
	if BitmapState(d.bitmap(p), i)&s == BitmapState(d.bitmap(p), i) {
		return // already in that state (or further): nothing to program
	}
	d.own()
	SetBitmapState(d.bitmap(p), i, s)
	if d.cipher != nil {
		o := p.idx*PageSize + HeaderSize
		SetBitmapState(d.raw[o:o+BitmapSize], i, s)
	}
}

func (d *device) programSlot(p *dpage, i int, data []byte) {
	d.own()
	o := d.slotOff(p, i)
	for k := range EntrySize {
		d.img[o+k] &= data[k]
	}
	if d.cipher != nil {
		var enc [EntrySize]byte
		d.cipher.x.Encrypt(enc[:], d.img[o:o+EntrySize], uint64(o))
		copy(d.raw[o:o+EntrySize], enc[:])
	}
}

func (d *device) writeU32(off int, v uint32) {
	d.own()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	for k := range 4 {
		d.img[off+k] &= b[k]
		if d.cipher != nil {
			d.raw[off+k] &= b[k]
		}
	}
}

func (d *device) eraseSector(p *dpage) {
	d.own()
	o := p.idx * PageSize
	for k := o; k < o+PageSize; k++ {
		d.img[k] = 0xFF
	}
	if d.cipher != nil {
		for k := o; k < o+PageSize; k++ {
			d.raw[k] = 0xFF
		}
	}
}

func (d *device) readEntry(p *dpage, i int) Entry { return DecodeEntry(d.slot(p, i)) }

func entryCRCOK(b []byte) bool { return EntryCRC(b) == binary.LittleEndian.Uint32(b[4:8]) }

// ---- page operations ----------------------------------------------------------------------

func (d *device) loadPage(p *dpage) error {
	base := p.idx * PageSize
	h := DecodePageHeader(d.img[base:])
	p.nextFree = invalidEntry
	p.live = [EntriesPerPage]bool{}
	switch {
	case h.State == PageEmpty:
		p.state = pageUninit
		for _, b := range d.img[base : base+PageSize] {
			if b != 0xFF {
				p.state = PageCorrupt
				break
			}
		}
		return nil
	case h.CRC != HeaderCRC(d.img[base:base+HeaderSize]):
		p.state = PageCorrupt
		return nil
	}
	p.state, p.seq = h.State, h.Seq
	p.version = h.Version
	if h.Version < nvsVersion {
		if !d.lenient {
			return ErrNewVersion
		}
		defer func() { d.loadEntryTable(p) }()
		return ErrNewVersion
	}
	switch p.state {
	case PageActive, PageFull, PageFreeing:
		d.loadEntryTable(p)
	default:
		p.state = PageCorrupt
	}
	return nil
}

func (d *device) firstUsed(p *dpage) int {
	for i := range EntriesPerPage {
		if d.entryState(p, i) == EntryWritten {
			return i
		}
	}
	return invalidEntry
}

// allWritten reports whether slots from..to-1 are all in the page and WRITTEN.
func (d *device) allWritten(p *dpage, from, to int) bool {
	if to > EntriesPerPage {
		return false
	}
	bm := d.bitmap(p)
	for i := from; i < to; {
		if i%4 == 0 && i+4 <= to {
			if bm[i/4] != 0xAA { // four WRITTEN slots (0b10 each)
				return false
			}
			i += 4
			continue
		}
		if BitmapState(bm, i) != EntryWritten {
			return false
		}
		i++
	}
	return true
}

func (d *device) usedCount(p *dpage) int {
	n := 0
	bm := d.bitmap(p)
	for i := range EntriesPerPage {
		if BitmapState(bm, i) == EntryWritten {
			n++
		}
	}
	return n
}

func (d *device) loadEntryTable(p *dpage) {
	if p.state == PageActive {
		for i := range EntriesPerPage {
			if d.entryState(p, i) == EntryEmpty {
				p.nextFree = i
				break
			}
		}
		// Slots programmed before their state bits were set are marked erased.
		for p.nextFree < EntriesPerPage {
			b := d.slot(p, p.nextFree)
			if binary.LittleEndian.Uint32(b) == 0xFFFFFFFF {
				break
			}
			d.note(p, p.nextFree, "half-written", "programmed but its state bits were never set (power cut while writing); a mount marks it erased")
			d.setEntryState(p, p.nextFree, EntryErased)
			p.nextFree++
		}
		end := min(p.nextFree, EntriesPerPage)
		lastItem := invalidEntry
		var last Entry
		span := 1
		for i := 0; i < end; i += span {
			span = 1
			st := d.entryState(p, i)
			if st == EntryErased {
				lastItem = invalidEntry
				continue
			}
			lastItem = i
			b := d.slot(p, i)
			e := DecodeEntry(b)
			last = e
			if !entryCRCOK(b) {
				if st == EntryWritten {
					d.note(p, i, "entry-crc", "entry header CRC mismatch; a mount marks it erased")
				}
				d.eraseEntryAndSpan(p, i)
				continue
			}
			p.live[i] = true
			dup := d.hashFind(p, 0, e.NS, e.Key, e.Chunk)
			if e.Type.IsVarLen() {
				span = max(int(e.Span), 1)
				if !d.allWritten(p, i, i+span) {
					lastItem = invalidEntry
					d.note(p, i, "incomplete-item", "variable-length item "+quoteKey(e)+" is not completely written (power cut); a mount erases it")
					d.eraseEntryAndSpan(p, i)
					continue
				}
			}
			if dup < i {
				de := d.readEntry(p, dup)
				d.note(p, dup, "duplicate-key", "older duplicate of "+quoteKey(de)+" on the same page; a mount erases it")
				d.eraseEntryAndSpan(p, dup)
			}
		}
		if lastItem != invalidEntry {
			if idx, _, err := d.pageFind(p, last.NS, last.Type, keyPtr(last.Key), 0, ChunkAny, verAny); err == nil && idx < lastItem {
				d.note(p, idx, "duplicate-key", "older duplicate of "+quoteKey(last)+" on the same page; a mount erases it")
				d.eraseEntryAndSpan(p, idx)
			}
		}
		return
	}
	// FULL or FREEING
	for i := d.firstUsed(p); i < EntriesPerPage; i++ {
		if d.entryState(p, i) != EntryWritten {
			continue
		}
		b := d.slot(p, i)
		if !entryCRCOK(b) {
			d.note(p, i, "entry-crc", "entry header CRC mismatch; a mount marks it erased")
			d.eraseEntryAndSpan(p, i)
			continue
		}
		e := DecodeEntry(b)
		p.live[i] = true
		span := max(int(e.Span), 1)
		if e.Type.IsVarLen() && !d.allWritten(p, i+1, i+span) {
			d.note(p, i, "incomplete-item", "variable-length item "+quoteKey(e)+" is not completely written; a mount erases it")
			d.eraseEntryAndSpan(p, i)
		}
		i += span - 1
	}
}

func keyPtr(k [KeySize]byte) *[KeySize]byte { return &k }

// keyOf builds the key field the library writes for name: at most 15 bytes, NUL padded.
func keyOf(name string) [KeySize]byte {
	var k [KeySize]byte
	n := copy(k[:MaxKeyLen], name)
	if i := bytes.IndexByte(k[:n], 0); i >= 0 {
		clear(k[i:])
	}
	return k
}

// keyEq compares like strncmp(a, b, 15).
func keyEq(a, b *[KeySize]byte) bool {
	for i := range MaxKeyLen {
		if a[i] != b[i] {
			return false
		}
		if a[i] == 0 {
			return true
		}
	}
	return true
}

func quoteKey(e Entry) string { return "\"" + e.KeyString() + "\"" }

// hashFind is the library's per-page hash list: the first live item at or after start with
// this namespace, key and chunk index.
func (d *device) hashFind(p *dpage, start int, ns uint8, key [KeySize]byte, chunk uint8) int {
	for i := start; i < EntriesPerPage; i++ {
		if !p.live[i] {
			continue
		}
		b := d.slot(p, i)
		if b[0] == ns && b[3] == chunk && bytes.Equal(b[8:24], key[:]) {
			return i
		}
	}
	return invalidEntry
}

// pageFind is Page::findItem. key nil means any key; ns nsAny any namespace; typ TypeAny any
// type; chunk ChunkAny any chunk; ver verAny any blob version.
func (d *device) pageFind(p *dpage, ns uint8, typ Type, key *[KeySize]byte, from int, chunk uint8, ver int) (int, Entry, error) {
	if p.state == PageCorrupt || p.state == PageInvalid || p.state == pageUninit {
		return 0, Entry{}, ErrNotFound
	}
	if from >= EntriesPerPage {
		return 0, Entry{}, ErrNotFound
	}
	start := d.firstUsed(p)
	if start == invalidEntry {
		return 0, Entry{}, ErrNotFound
	}
	if from > start {
		start = from
	}
	end := min(p.nextFree, EntriesPerPage)
	if ns != nsAny && typ != TypeAny && key != nil {
		c := d.hashFind(p, start, ns, keyOf(string(trimKey(key))), chunk)
		if c >= EntriesPerPage {
			return 0, Entry{}, ErrNotFound
		}
		start = c
	}
	next := 0
	for i := start; i < end; i = next {
		next = i + 1
		if d.entryState(p, i) != EntryWritten {
			continue
		}
		b := d.slot(p, i)
		if !entryCRCOK(b) {
			d.eraseEntryAndSpan(p, i)
			continue
		}
		e := DecodeEntry(b)
		if e.Type.IsVarLen() {
			next = i + max(int(e.Span), 1)
		}
		if ns != nsAny && e.NS != ns {
			continue
		}
		if key != nil && !keyEq(key, &e.Key) {
			continue
		}
		if chunk != ChunkAny && typ == TypeBlobData && e.Chunk != chunk {
			continue
		}
		if typ == TypeBlobIndex && e.Chunk != ChunkAny {
			continue
		}
		if typ == TypeBlobIndex && ver != verAny {
			if _, _, st := e.BlobIndex(); int(st) != ver {
				continue
			}
		}
		if typ != TypeAny && e.Type != typ {
			if key == nil && ns == nsAny && chunk == ChunkAny {
				continue
			}
			return i, e, ErrTypeMismatch
		}
		return i, e, nil
	}
	return 0, Entry{}, ErrNotFound
}

func trimKey(k *[KeySize]byte) []byte {
	if i := bytes.IndexByte(k[:], 0); i >= 0 {
		return k[:i]
	}
	return k[:]
}

func (d *device) eraseEntryAndSpan(p *dpage, i int) {
	st := d.entryState(p, i)
	span := 1
	if st == EntryWritten {
		b := d.slot(p, i)
		p.live[i] = false
		if !entryCRCOK(b) {
			d.setEntryState(p, i, EntryErased)
		} else {
			span = max(int(b[2]), 1)
			end := min(i+span, EntriesPerPage)
			for j := end - 1; j >= i; j-- {
				d.setEntryState(p, j, EntryErased)
			}
		}
	} else {
		d.setEntryState(p, i, EntryErased)
	}
	if i+span > p.nextFree || p.nextFree == invalidEntry {
		if p.nextFree != invalidEntry {
			p.nextFree = i + span
		}
	}
}

func (d *device) pageEraseItem(p *dpage, ns uint8, typ Type, key *[KeySize]byte, chunk uint8, ver int) error {
	i, _, err := d.pageFind(p, ns, typ, key, 0, chunk, ver)
	if err != nil {
		return err
	}
	d.eraseEntryAndSpan(p, i)
	return nil
}

func (d *device) initialize(p *dpage) {
	p.state = PageActive
	d.own()
	base := p.idx * PageSize
	var h [HeaderSize]byte
	PutPageHeader(h[:], PageActive, p.seq, p.version)
	for k := range HeaderSize {
		d.img[base+k] &= h[k]
		if d.cipher != nil {
			d.raw[base+k] &= h[k]
		}
	}
	p.nextFree = 0
}

func (d *device) writeEntry(p *dpage, b []byte) {
	d.programSlot(p, p.nextFree, b)
	d.setEntryState(p, p.nextFree, EntryWritten)
	p.nextFree++
}

func (d *device) alterPageState(p *dpage, s PageState) {
	d.writeU32(p.idx*PageSize, uint32(s))
	p.state = s
}

func (d *device) markFull(p *dpage) error {
	if p.state != PageActive {
		return ErrInvalidState
	}
	d.alterPageState(p, PageFull)
	return nil
}

func (d *device) erasePage(p *dpage) {
	d.eraseSector(p)
	p.state = pageUninit
	p.nextFree = invalidEntry
	p.live = [EntriesPerPage]bool{}
}

// pageWriteItem is Page::writeItem.
func (d *device) pageWriteItem(p *dpage, ns uint8, typ Type, key string, data []byte, chunk uint8) error {
	if p.state == PageInvalid {
		return ErrInvalidState
	}
	if p.state == pageUninit {
		d.initialize(p)
	}
	if p.state == PageFull {
		return errPageFull
	}
	if p.state != PageActive {
		return ErrInvalidState
	}
	if len(key) > MaxKeyLen {
		return ErrKeyTooLong
	}
	if len(data) > ChunkMaxSize {
		return ErrValueTooLong
	}
	count := 1
	if typ.IsVarLen() {
		count += (len(data) + EntrySize - 1) / EntrySize
	}
	if p.nextFree == invalidEntry || p.nextFree+count > EntriesPerPage {
		return errPageFull
	}
	var e Entry
	e.NS, e.Type, e.Span, e.Chunk = ns, typ, uint8(count), chunk
	e.Key = keyOf(key)
	for k := range e.Data {
		e.Data[k] = 0xFF
	}
	var b [EntrySize]byte
	p.live[p.nextFree] = true
	if !typ.IsVarLen() {
		copy(e.Data[:], data)
		e.CRC = e.ComputeCRC()
		e.Put(b[:])
		d.writeEntry(p, b[:])
		return nil
	}
	e.SetVar(data)
	e.CRC = e.ComputeCRC()
	e.Put(b[:])
	d.writeEntry(p, b[:])
	for off := 0; off < len(data); off += EntrySize {
		for k := range b {
			b[k] = 0xFF
		}
		copy(b[:], data[off:])
		d.writeEntry(p, b[:])
	}
	return nil
}

func (d *device) tailroom(p *dpage) int {
	switch p.state {
	case pageUninit:
		return ChunkMaxSize
	case PageFull:
		return 0
	}
	if p.nextFree < EntriesPerPage-1 {
		return (EntriesPerPage - p.nextFree - 1) * EntrySize
	}
	return 0
}

// pagePayload returns the payload of the var-length item at slot i: its slots are contiguous
// in the page, so this is a view into the image (copy it before keeping it).
func (d *device) pagePayload(p *dpage, i int, e Entry) []byte {
	start := d.slotOff(p, i) + EntrySize
	end := min(start+e.VarSize(), (p.idx+1)*PageSize)
	return d.img[start:end:end]
}

// pageCmpItem is Page::cmpItem.
func (d *device) pageCmpItem(p *dpage, ns uint8, typ Type, key *[KeySize]byte, data []byte, chunk uint8) error {
	if p.state == PageInvalid {
		return ErrInvalidState
	}
	i, e, err := d.pageFind(p, ns, typ, key, 0, chunk, verAny)
	if err != nil {
		return err
	}
	if !typ.IsVarLen() {
		if !bytes.Equal(data, e.Data[:len(data)]) {
			return errContentDiffs
		}
		return nil
	}
	n := e.VarSize()
	if len(data) < n {
		return errInvalidLen
	}
	left := n
	pos := 0
	for j := i + 1; j < i+max(int(e.Span), 1) && j < EntriesPerPage; j++ {
		c := min(EntrySize, left)
		if !bytes.Equal(data[pos:pos+c], d.slot(p, j)[:c]) {
			return errContentDiffs
		}
		left -= c
		pos += c
	}
	if CRC32(data[:n]) != e.VarCRC() {
		return errContentDiffs
	}
	return nil
}

// ---- page manager -------------------------------------------------------------------------

func (d *device) activatePage() error {
	if len(d.free) == 0 {
		return ErrNotEnoughSpace
	}
	p := d.free[0]
	if p.state == PageCorrupt {
		d.erasePage(p)
	}
	d.free = d.free[1:]
	d.list = append(d.list, p)
	p.seq = d.nextSeq
	d.nextSeq++
	return nil
}

func (d *device) current() *dpage { return d.list[len(d.list)-1] }

func (d *device) removeFromList(p *dpage) {
	for i, q := range d.list {
		if q == p {
			d.list = append(d.list[:i:i], d.list[i+1:]...)
			return
		}
	}
}

func (d *device) copyItems(from, to *dpage) {
	first := d.firstUsed(from)
	if first == invalidEntry {
		return
	}
	if to.state == pageUninit {
		d.initialize(to)
	}
	for i := first; i < EntriesPerPage; {
		if d.entryState(from, i) != EntryWritten {
			i++
			continue
		}
		b := d.slot(from, i)
		span := max(int(b[2]), 1)
		if to.nextFree >= EntriesPerPage {
			return
		}
		to.live[to.nextFree] = true
		d.writeEntry(to, append([]byte(nil), b...))
		end := min(i+span, EntriesPerPage)
		for j := i + 1; j < end && to.nextFree < EntriesPerPage; j++ {
			d.writeEntry(to, append([]byte(nil), d.slot(from, j)...))
		}
		i = end
	}
}

// requestNewPage is PageManager::requestNewPage: a free page, garbage-collecting the page
// with the most unused entries when only the reserve page is left.
func (d *device) requestNewPage() error {
	if len(d.free) == 0 {
		return ErrInvalidState
	}
	if len(d.free) >= 2 {
		return d.activatePage()
	}
	var victim *dpage
	maxUnused := 0
	for _, p := range d.list {
		if u := EntriesPerPage - d.usedCount(p); u > maxUnused {
			victim, maxUnused = p, u
		}
	}
	if victim == nil {
		return ErrNotEnoughSpace
	}
	if err := d.activatePage(); err != nil {
		return err
	}
	np := d.current()
	if victim.state != PageFull && victim.state != PageActive {
		return ErrInvalidState
	}
	d.alterPageState(victim, PageFreeing)
	d.copyItems(victim, np)
	d.erasePage(victim)
	d.removeFromList(victim)
	d.free = append(d.free, victim)
	return nil
}

// mount loads the image as nvs_flash_init does, repairing what the library repairs.
func (d *device) mount() error {
	d.list, d.free = nil, nil
	d.ns = nil
	d.nsUsed = [256]bool{}
	d.mounted = false
	n := len(d.img) / PageSize
	if d.pages == nil {
		d.pages = make([]*dpage, n)
		all := make([]dpage, n)
		for i := range d.pages {
			all[i] = dpage{idx: i, version: nvsVersion}
			d.pages[i] = &all[i]
		}
	}
	var verErr error
	for _, p := range d.pages {
		// A mount makes new Page objects: the format version a page writes into its header
		// is the library's own unless the page is loaded with a valid header.
		p.version = nvsVersion
		if err := d.loadPage(p); err != nil {
			if !d.lenient {
				return err
			}
			verErr = err
			d.note(p, -1, "new-version", "page header has a format version this library does not know")
		}
		if p.state == pageUninit || p.state == PageCorrupt || p.state == PageInvalid {
			d.free = append(d.free, p)
			continue
		}
		pos := len(d.list)
		for k, q := range d.list {
			if q.seq > p.seq {
				pos = k
				break
			}
		}
		d.list = append(d.list, nil)
		copy(d.list[pos+1:], d.list[pos:])
		d.list[pos] = p
	}
	if len(d.list) == 0 {
		d.nextSeq = 0
		if err := d.activatePage(); err != nil {
			return err
		}
		d.mounted = true
		return d.loadNamespaces()
	}
	d.nextSeq = d.list[len(d.list)-1].seq + 1

	// A power cut after writing a new item but before erasing the old one leaves a duplicate:
	// the last item of the last page wins.
	last := d.list[len(d.list)-1]
	var item Entry
	found := false
	for i := 0; ; {
		idx, e, err := d.pageFind(last, nsAny, TypeAny, nil, i, ChunkAny, verAny)
		if err != nil {
			break
		}
		item, found = e, true
		i = idx + max(int(e.Span), 1)
	}
	if found {
		k := item.Key
		hit := false
		for _, p := range d.list[:len(d.list)-1] {
			if p.state == PageFreeing {
				continue
			}
			if i, _, err := d.pageFind(p, item.NS, item.Type, &k, 0, item.Chunk, verAny); err == nil {
				d.note(p, i, "duplicate-key", "older copy of "+quoteKey(item)+" (a newer one is the last item written); a mount erases it")
				d.eraseEntryAndSpan(p, i)
				hit = true
				break
			}
		}
		if !hit && item.Type == TypeBlobIndex {
			for _, p := range d.list[:len(d.list)-1] {
				if p.state == PageFreeing {
					continue
				}
				if i, _, err := d.pageFind(p, item.NS, TypeBlob, &k, 0, item.Chunk, verAny); err == nil {
					d.note(p, i, "duplicate-key", "old-format blob "+quoteKey(item)+" replaced by a newer blob index; a mount erases it")
					d.eraseEntryAndSpan(p, i)
					break
				}
			}
		}
	}

	// A power cut during garbage collection leaves a FREEING page; the mount copies it again.
	for _, p := range d.list {
		if p.state != PageFreeing {
			continue
		}
		d.note(p, -1, "freeing-page", "page is FREEING (power cut during garbage collection); a mount copies its items again and erases it")
		np := d.current()
		if np.state == PageActive && np != p {
			d.note(np, -1, "freeing-page", "page holds a partial copy of a FREEING page; a mount erases it")
			d.erasePage(np)
			d.removeFromList(np)
			d.free = append(d.free, np)
		}
		if err := d.activatePage(); err != nil {
			return err
		}
		d.copyItems(p, d.current())
		d.erasePage(p)
		d.removeFromList(p)
		d.free = append(d.free, p)
		break
	}
	if len(d.free) == 0 {
		return ErrNoFreePages
	}
	d.mounted = true
	if err := d.loadNamespaces(); err != nil {
		return err
	}
	return verErr
}

// loadNamespaces reads the namespace entries and erases orphan blob chunks, as Storage::init.
// Right after a mount the live headers (the library's hash lists) are exactly the items its
// page scans visit, so the scans walk them directly.
func (d *device) loadNamespaces() error {
	type idxInfo struct {
		start, cnt int
		next       int32 // the next blob index of the same namespace and key, -1 at the end
	}
	var idxs []idxInfo
	keys := newKeySet(64) // namespaces and keys (up to the NUL) of the blob indexes
	var heads []int32     // by key: the last blob index of the key
	var chunks []int      // blob chunks, as page and slot: list position*EntriesPerPage + slot
	blobKey := func(b []byte) (k nsKey) {
		k.ns = b[0]
		key := b[8:24]
		if n := bytes.IndexByte(key, 0); n >= 0 {
			key = key[:n]
		}
		copy(k.key[:], key)
		return k
	}
	// One walk over the live headers finds the namespace entries, the blob indexes and
	// the blob chunks; nothing changes until the chunks are checked.
	for pos, p := range d.list {
		nsScan := p.state == PageActive || p.state == PageFull || p.state == PageFreeing
		for i := range EntriesPerPage {
			if !p.live[i] || d.entryState(p, i) != EntryWritten {
				continue
			}
			b := d.slot(p, i)
			if nsScan && b[0] == NamespaceIndex {
				if Type(b[1]) == TypeU8 {
					e := DecodeEntry(b)
					d.ns = append(d.ns, nsDef{e.KeyString(), e.Data[0]})
					d.nsUsed[e.Data[0]] = true
				} else {
					nsScan = false // the library's scan stops at a namespace-0 item of another type
				}
			}
			switch {
			case Type(b[1]) == TypeBlobIndex && b[3] == ChunkAny:
				k := blobKey(b)
				n, added := keys.add(&k)
				if added {
					heads = append(heads, -1)
				}
				idxs = append(idxs, idxInfo{int(b[24+5]), int(b[24+4]), heads[n]})
				heads[n] = int32(len(idxs) - 1)
			case Type(b[1]) == TypeBlobData:
				chunks = append(chunks, pos*EntriesPerPage+i)
			}
		}
	}
	d.nsUsed[0], d.nsUsed[255] = true, true

	for _, c := range chunks {
		p, i := d.list[c/EntriesPerPage], c%EntriesPerPage
		if !p.live[i] || d.entryState(p, i) != EntryWritten {
			continue // erased with an earlier orphan
		}
		b := d.slot(p, i)
		ok := false
		k := blobKey(b)
		n := int32(-1)
		if key := keys.find(&k); key >= 0 {
			n = heads[key]
		}
		for ; n >= 0; n = idxs[n].next {
			x := &idxs[n]
			if int(b[3]) >= x.start && int(b[3]) < x.start+x.cnt {
				ok = true
				break
			}
		}
		if !ok {
			e := DecodeEntry(b)
			d.note(p, i, "orphan-chunk", "blob chunk "+quoteKey(e)+" has no blob index that covers it; a mount erases it")
			key := e.Key
			_ = d.pageEraseItem(p, e.NS, e.Type, &key, e.Chunk, verAny)
		}
	}
	return nil
}

// ---- storage ------------------------------------------------------------------------------

// find is Storage::findItem: the first page in sequence order that holds a match.
func (d *device) find(ns uint8, typ Type, key *[KeySize]byte, chunk uint8, ver int) (*dpage, int, Entry, error) {
	for _, p := range d.list {
		i, e, err := d.pageFind(p, ns, typ, key, 0, chunk, ver)
		if err == nil {
			return p, i, e, nil
		}
	}
	return nil, 0, Entry{}, ErrNotFound
}

func (d *device) openNamespace(name string, create bool) (uint8, error) {
	k := keyOf(name)
	for _, n := range d.ns {
		nk := keyOf(n.name)
		if keyEq(&k, &nk) {
			return n.index, nil
		}
	}
	if !create {
		return 0, ErrNotFound
	}
	ns := 1
	for ; ns < 255; ns++ {
		if !d.nsUsed[ns] {
			break
		}
	}
	if ns == 255 {
		return 0, ErrNotEnoughSpace
	}
	if err := d.writeItem(NamespaceIndex, TypeU8, name, []byte{byte(ns)}); err != nil {
		return 0, err
	}
	d.nsUsed[ns] = true
	d.ns = append(d.ns, nsDef{name, uint8(ns)})
	return uint8(ns), nil
}

// writeItem is Storage::writeItem; typ TypeBlob writes a multi-page blob.
func (d *device) writeItem(ns uint8, typ Type, key string, data []byte) error {
	if !d.mounted {
		return ErrInvalidState
	}
	k := keyOf(key)
	var findPage *dpage
	var item Entry
	ft := typ
	if typ == TypeBlob {
		ft = TypeBlobIndex
	}
	if p, _, e, err := d.find(ns, ft, &k, ChunkAny, verAny); err == nil {
		findPage, item = p, e
	}
	if typ == TypeBlob {
		prev, next := 0, 0
		if findPage != nil {
			if d.cmpMultiPageBlob(ns, &k, data) == nil {
				return nil
			}
			_, _, st := item.BlobIndex()
			prev = int(st)
			if prev == VerOffset1 {
				next = 0
			} else {
				next = VerOffset1
			}
		}
		if err := d.writeMultiPageBlob(ns, key, data, next); err != nil {
			if errors.Is(err, errPageFull) {
				return ErrNotEnoughSpace
			}
			return err
		}
		if findPage != nil {
			return d.eraseMultiPageBlob(ns, &k, prev)
		}
		// An old-format (V1) blob of the same key is replaced too.
		if p, _, _, err := d.find(ns, TypeBlob, &k, ChunkAny, verAny); err == nil {
			return d.pageEraseItem(p, ns, TypeBlob, &k, ChunkAny, verAny)
		}
		return nil
	}
	if findPage != nil && d.pageCmpItem(findPage, ns, typ, &k, data, ChunkAny) == nil {
		return nil
	}
	p := d.current()
	err := d.pageWriteItem(p, ns, typ, key, data, ChunkAny)
	if errors.Is(err, errPageFull) {
		if p.state != PageFull {
			if err := d.markFull(p); err != nil {
				return err
			}
		}
		if err := d.requestNewPage(); err != nil {
			return err
		}
		err = d.pageWriteItem(d.current(), ns, typ, key, data, ChunkAny)
		if errors.Is(err, errPageFull) {
			return ErrNotEnoughSpace
		}
	}
	if err != nil {
		return err
	}
	if findPage != nil {
		if findPage.state == pageUninit || findPage.state == PageInvalid {
			// Garbage collection moved the old item; look it up again.
			p, _, _, err := d.find(ns, typ, &k, ChunkAny, verAny)
			if err != nil {
				return err
			}
			findPage = p
		}
		return d.pageEraseItem(findPage, ns, typ, &k, ChunkAny, verAny)
	}
	return nil
}

func (d *device) maxBlob() int {
	maxPages := min(len(d.pages)-1, (ChunkAny-1)/2)
	return max(maxPages, 0) * ChunkMaxSize
}

func (d *device) writeMultiPageBlob(ns uint8, key string, data []byte, ver int) error {
	if len(data) > d.maxBlob() {
		return ErrValueTooLong
	}
	chunkCount := 0
	var used []*dpage
	remaining := len(data)
	offset := 0
	var err error
	restarts := 0
	for {
		p := d.current()
		tail := d.tailroom(p)
		if chunkCount == 0 && tail < len(data) && tail < ChunkMaxSize/10 {
			// The library retries as long as each new page changes the tailroom; bound the
			// retries so that no image can make the model loop for ever.
			restarts++
			if restarts > 2*len(d.pages)+2 {
				return ErrNotEnoughSpace
			}
			if p.state != PageFull {
				if err := d.markFull(p); err != nil {
					return err
				}
			}
			if err := d.requestNewPage(); err != nil {
				return err
			}
			if d.tailroom(d.current()) == tail {
				return ErrNotEnoughSpace
			}
			continue
		} else if tail == 0 {
			err = ErrNotEnoughSpace
			break
		}
		size := min(remaining, tail)
		remaining -= size
		err = d.pageWriteItem(p, ns, TypeBlobData, key, data[offset:offset+size], uint8(ver+chunkCount))
		chunkCount++
		if err != nil {
			break
		}
		used = append(used, p)
		if remaining > 0 || tail-size < EntrySize {
			if p.state != PageFull {
				if err = d.markFull(p); err != nil {
					break
				}
			}
			if err = d.requestNewPage(); err != nil {
				break
			}
		}
		offset += size
		if remaining == 0 {
			var ib [8]byte
			binary.LittleEndian.PutUint32(ib[0:4], uint32(len(data)))
			ib[4], ib[5], ib[6], ib[7] = uint8(chunkCount), uint8(ver), 0xFF, 0xFF
			err = d.pageWriteItem(d.current(), ns, TypeBlobIndex, key, ib[:], ChunkAny)
			break
		}
	}
	if err != nil {
		// The library erases the chunks it wrote, numbering them from 0 whatever the version.
		k := keyOf(key)
		for ii, p := range used {
			_ = d.pageEraseItem(p, ns, TypeBlobData, &k, uint8(ii), verAny)
		}
	}
	return err
}

func (d *device) eraseMultiPageBlob(ns uint8, key *[KeySize]byte, ver int) error {
	p, _, e, err := d.find(ns, TypeBlobIndex, key, ChunkAny, ver)
	if err != nil {
		return err
	}
	if err := d.pageEraseItem(p, ns, TypeBlobIndex, key, ChunkAny, ver); err != nil {
		return err
	}
	_, count, start := e.BlobIndex()
	if ver == verAny {
		ver = int(start)
	}
	for c := 0; c < int(count); c++ {
		ch := uint8(ver + c)
		p, _, _, err := d.find(ns, TypeBlobData, key, ch, verAny)
		if err != nil {
			continue
		}
		if err := d.pageEraseItem(p, ns, TypeBlobData, key, ch, verAny); err != nil {
			return err
		}
	}
	return nil
}

func (d *device) cmpMultiPageBlob(ns uint8, key *[KeySize]byte, data []byte) error {
	_, _, e, err := d.find(ns, TypeBlobIndex, key, ChunkAny, verAny)
	if err != nil {
		return err
	}
	size, count, start := e.BlobIndex()
	if int(size) != len(data) {
		return errContentDiffs
	}
	off := 0
	for c := 0; c < int(count); c++ {
		ch := start + uint8(c)
		p, _, ce, err := d.find(ns, TypeBlobData, key, ch, verAny)
		if err != nil {
			break
		}
		n := ce.VarSize()
		if off+n > len(data) {
			return errContentDiffs
		}
		if err := d.pageCmpItem(p, ns, TypeBlobData, key, data[off:off+n], ch); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// eraseKey is nvs_erase_key: Storage::eraseItem with any type.
func (d *device) eraseKey(ns uint8, key string) error {
	k := keyOf(key)
	p, _, e, err := d.find(ns, TypeAny, &k, ChunkAny, verAny)
	if err != nil {
		return err
	}
	if e.Type == TypeBlobData || e.Type == TypeBlobIndex {
		return d.eraseMultiPageBlob(ns, &k, verAny)
	}
	return d.pageEraseItem(p, ns, TypeAny, &k, ChunkAny, verAny)
}

// eraseNamespace is nvs_erase_all.
func (d *device) eraseNamespace(ns uint8) {
	for _, p := range d.list {
		for d.pageEraseItem(p, ns, TypeAny, nil, ChunkAny, verAny) == nil {
		}
	}
}

var errDataCRC = errors.New("data CRC mismatch")

// newDevice puts the model on a plaintext image (it works on img itself; call mount next).
// With c non-nil, raw is the encrypted form and every write is encrypted with the slot's
// offset as tweak.
func newDevice(img, raw []byte, c *Cipher) *device {
	d := &device{img: img, raw: img, cipher: c}
	if c != nil {
		d.raw = raw
	}
	return d
}
