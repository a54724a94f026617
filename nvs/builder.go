package nvs

import (
	"fmt"
)

// Options configure a Builder.
type Options struct {
	// Size is the partition size in bytes: a multiple of PageSize, at least MinReadOnlySize.
	// Sizes below MinSize make a read-only partition, which has no reserved page.
	Size int
	// Version is the format version; zero means V2.
	Version Version
}

// SizeError reports that the items need more pages than the partition has.
type SizeError struct {
	Size        int // the partition size asked for
	PagesNeeded int // data pages the items need
	PagesUsable int // data pages the partition offers (all but the reserved one)
}

// MinSize returns the smallest read/write partition size that holds the data.
func (e *SizeError) MinSize() int {
	n := (e.PagesNeeded + 1) * PageSize
	if n < MinSize {
		n = MinSize
	}
	return n
}

// MinReadOnlySize returns the smallest read-only partition size that holds the data (a
// read-only partition has no reserved page), or 0 when the data needs more pages than a
// read-only partition may have (it is below MinSize).
func (e *SizeError) MinReadOnlySize() int {
	if n := e.PagesNeeded * PageSize; n < MinSize {
		return n
	}
	return 0
}

// Error says how many pages the data needs and which sizes would hold it: the read/write
// minimum and, when there is one, the read-only minimum.
func (e *SizeError) Error() string {
	more := e.PagesNeeded - e.PagesUsable
	plural := "s"
	if more == 1 {
		plural = ""
	}
	fits := fmt.Sprintf("the smallest size that fits is 0x%x", e.MinSize())
	if ro := e.MinReadOnlySize(); ro > 0 {
		fits = fmt.Sprintf("the smallest size that fits is 0x%x read-only, 0x%x read/write", ro, e.MinSize())
	}
	return fmt.Sprintf("the data needs %d data pages but a 0x%x partition has %d (%d more page%s, %d bytes); %s",
		e.PagesNeeded, e.Size, e.PagesUsable, more, plural, more*PageSize, fits)
}

// Unwrap lets errors.Is(err, ErrPartitionFull) match.
func (e *SizeError) Unwrap() error { return ErrPartitionFull }

// CheckSize validates a partition size: a multiple of PageSize, at least MinReadOnlySize and
// at most MaxSize.
func CheckSize(size int) error {
	if size > MaxSize {
		return fmt.Errorf("%w 0x%x: larger than %d MiB, the largest flash of any ESP chip", ErrBadSize, size, MaxSize>>20)
	}
	if size < MinReadOnlySize {
		return fmt.Errorf("%w 0x%x: read/write NVS needs at least 0x%x and read-only NVS 0x%x",
			ErrBadSize, size, MinSize, MinReadOnlySize)
	}
	if size%PageSize != 0 {
		return fmt.Errorf("%w 0x%x: not a multiple of 4096 (try 0x%x)",
			ErrBadSize, size, (size+PageSize-1)/PageSize*PageSize)
	}
	return nil
}

// Builder lays out items into an NVS image exactly as Espressif's nvs_partition_gen does:
// in order, never back-filling an earlier page, one page kept free for the device.
//
// Two departures from the reference, both deliberate: an item always goes into the namespace it
// names (the reference puts items after a re-selected namespace into the last created one), and a
// string of up to MaxString bytes is accepted (it takes one whole page, as on the device).
type Builder struct {
	size     int
	version  Version
	maxPages int // pages that may hold data
	buf      []byte
	page     int // current page
	used     int // slots used in the current page
	ns       map[string]uint8
	entries  int // slots written
	done     bool
}

// NewBuilder returns a Builder for a partition of opts.Size bytes.
func NewBuilder(opts Options) (*Builder, error) {
	if err := CheckSize(opts.Size); err != nil {
		return nil, err
	}
	v := opts.Version
	if v == 0 {
		v = V2
	}
	if v != V1 && v != V2 {
		return nil, fmt.Errorf("format version %d: must be 1 or 2", v)
	}
	b := &Builder{size: opts.Size, version: v, ns: make(map[string]uint8)}
	b.maxPages = opts.Size / PageSize
	if !b.ReadOnly() {
		b.maxPages--
	}
	b.buf = make([]byte, opts.Size)
	fillFF(b.buf)
	b.openPage(0)
	return b, nil
}

// Reset empties the builder for a new image with the same options, reusing its buffer: the
// image returned by an earlier Image call is overwritten. Mass manufacturing builds one image
// per device this way without allocating.
func (b *Builder) Reset() {
	b.buf = b.buf[:b.size]
	fillFF(b.buf)
	clear(b.ns)
	b.entries, b.done = 0, false
	b.openPage(0)
}

// ReadOnly reports whether the partition is below MinSize, the read-only layout without a
// reserved page.
func (b *Builder) ReadOnly() bool { return b.size < MinSize }

// Version returns the format version of the image being built.
func (b *Builder) Version() Version { return b.version }

func fillFF(p []byte) {
	if len(p) == 0 {
		return
	}
	p[0] = 0xFF
	for n := 1; n < len(p); n *= 2 {
		copy(p[n:], p[:n])
	}
}

func (b *Builder) openPage(p int) {
	if end := (p + 1) * PageSize; end > len(b.buf) {
		// Past the partition: keep building so the error can say how much is needed.
		grow := make([]byte, end-len(b.buf))
		fillFF(grow)
		b.buf = append(b.buf, grow...)
	}
	PutPageHeader(b.buf[p*PageSize:], PageActive, uint32(p), b.version.Byte())
	b.page, b.used = p, 0
}

func (b *Builder) nextPage() {
	hdr := b.buf[b.page*PageSize:]
	hdr[0], hdr[1], hdr[2], hdr[3] = 0xFC, 0xFF, 0xFF, 0xFF // FULL; the CRC does not cover the state
	b.openPage(b.page + 1)
}

// slot returns the bytes of slot i of the current page and marks it written.
func (b *Builder) slot(i int) []byte {
	base := b.page * PageSize
	SetBitmapState(b.buf[base+HeaderSize:base+FirstEntryOff], i, EntryWritten)
	off := base + FirstEntryOff + i*EntrySize
	return b.buf[off : off+EntrySize]
}

// writeEntry writes e (with its CRC) and payload into the current page from the current slot.
func (b *Builder) writeEntry(e *Entry, payload []byte) {
	e.CRC = e.ComputeCRC()
	e.Put(b.slot(b.used))
	b.used++
	for len(payload) > 0 {
		s := b.slot(b.used)
		n := copy(s, payload)
		payload = payload[n:]
		b.used++
	}
	b.entries += int(e.Span)
}

// Add appends one item. Items are laid out in the order they are added.
func (b *Builder) Add(it Item) error {
	if b.done {
		return ErrBuilderAlreadyDone
	}
	if err := it.Check(b.version); err != nil {
		return err
	}
	idx, err := b.namespace(it.Namespace)
	if err != nil {
		return err
	}
	if it.Key == "" {
		return nil
	}
	e := Entry{NS: idx, Type: it.Type, Span: 1, Chunk: ChunkAny}
	e.SetKey(it.Key)
	switch {
	case it.Type.IsInt():
		if b.used == EntriesPerPage {
			b.nextPage()
		}
		e.SetUint(it.Value)
		b.writeEntry(&e, nil)
	case it.Type == TypeString || (it.Type == TypeBlob && b.version == V1):
		b.addSingle(&e, it.Data)
	default:
		b.addMultiPageBlob(&e, it.Data)
	}
	return nil
}

// namespace returns the index of name, writing its definition entry the first time.
func (b *Builder) namespace(name string) (uint8, error) {
	if idx, ok := b.ns[name]; ok {
		return idx, nil
	}
	if len(b.ns) >= MaxNamespaces {
		return 0, fmt.Errorf("namespace %q would be number %d; NVS allows %d: %w",
			name, len(b.ns)+1, MaxNamespaces, ErrTooManyNamespaces)
	}
	idx := uint8(len(b.ns) + 1)
	b.ns[name] = idx
	if b.used == EntriesPerPage {
		b.nextPage()
	}
	e := Entry{NS: NamespaceIndex, Type: TypeU8, Span: 1, Chunk: ChunkAny}
	e.SetKey(name)
	e.SetUint(uint64(idx))
	b.writeEntry(&e, nil)
	return idx, nil
}

// addSingle writes a string or V1 blob: header and payload on one page. Like the reference, a
// var-length item never takes the last slot of a page that already holds something; unlike it,
// an item that needs all 126 slots goes onto an empty page.
func (b *Builder) addSingle(e *Entry, data []byte) {
	need := SlotsFor(len(data))
	if b.used+need > EntriesPerPage || (b.used+need == EntriesPerPage && b.used > 0) {
		b.nextPage()
	}
	e.Span = uint8(need)
	e.SetVar(data)
	b.writeEntry(e, data)
}

// addMultiPageBlob writes a V2 blob as BLOB_DATA chunks followed by a BLOB_IDX.
func (b *Builder) addMultiPageBlob(e *Entry, data []byte) {
	if b.used == EntriesPerPage {
		b.nextPage()
	}
	key := e.Key
	total := len(data)
	chunks := 0
	for {
		room := (EntriesPerPage - b.used - 1) * EntrySize
		n := min(room, len(data))
		c := Entry{NS: e.NS, Type: TypeBlobData, Span: uint8(SlotsFor(n)), Chunk: uint8(chunks), Key: key}
		c.SetVar(data[:n])
		b.writeEntry(&c, data[:n])
		data = data[n:]
		chunks++
		if len(data) > 0 || room-n < EntrySize {
			b.nextPage()
		}
		if len(data) == 0 {
			break
		}
	}
	idx := Entry{NS: e.NS, Type: TypeBlobIndex, Span: 1, Chunk: ChunkAny, Key: key}
	idx.SetBlobIndex(uint32(total), uint8(chunks), 0)
	b.writeEntry(&idx, nil)
}

// Stats describes how full an image is.
type Stats struct {
	Size          int // partition size in bytes
	Pages         int // pages in the partition
	UsablePages   int // pages that may hold data (all but the reserved page of a read/write partition)
	PagesUsed     int // pages holding entries
	EntriesUsed   int // entry slots written
	EntriesFree   int // entry slots still free in usable pages
	LargestString int // largest string, NUL included, that could still be added
	LargestBlob   int // largest blob that could still be added
}

// Stats reports how full the image is so far. Data pages beyond the partition count as used.
func (b *Builder) Stats() Stats {
	s := Stats{Size: b.size, Pages: b.size / PageSize, UsablePages: b.maxPages,
		PagesUsed: b.page + 1, EntriesUsed: b.entries}
	freePages := max(b.maxPages-b.page-1, 0)
	if b.page < b.maxPages {
		s.EntriesFree = freePages*EntriesPerPage + EntriesPerPage - b.used
	}
	if s.EntriesFree == 0 {
		return s
	}
	// The largest string: on the current page after the reference's last-slot rule, or on an
	// empty page.
	cur := 0
	if b.used == 0 {
		cur = EntriesPerPage - 1
	} else if b.used < EntriesPerPage-2 {
		cur = EntriesPerPage - b.used - 2
	}
	if freePages > 0 {
		cur = max(cur, EntriesPerPage-1)
	}
	limit := MaxString
	if b.version == V1 {
		limit = MaxStringV1
	}
	s.LargestString = min(cur*EntrySize, limit)
	if b.version == V1 {
		s.LargestBlob = s.LargestString
		return s
	}
	// A V2 blob fills what is left of this page and every free page, keeping one slot for
	// BLOB_IDX.
	blob := 0
	if b.used < EntriesPerPage-1 {
		blob = (EntriesPerPage - b.used - 1) * EntrySize
	}
	blob += freePages * ChunkMaxSize
	if blob > 0 {
		blob -= EntrySize
	}
	s.LargestBlob = min(max(blob, 0), MaxBlob)
	return s
}

// Image finishes the image and returns it: the full partition size, unused pages 0xFF. It fails
// with a *SizeError (wrapping ErrPartitionFull) when the data needs more pages than the partition
// has. After Image the builder accepts no more items.
func (b *Builder) Image() ([]byte, error) {
	b.done = true
	if b.page >= b.maxPages {
		return nil, &SizeError{Size: b.size, PagesNeeded: b.page + 1, PagesUsable: b.maxPages}
	}
	return b.buf[:b.size], nil
}

// Build lays out items into an image of opts.Size bytes. It is NewBuilder, Add for each item,
// then Image.
func Build(items []Item, opts Options) ([]byte, error) {
	b, err := NewBuilder(opts)
	if err != nil {
		return nil, err
	}
	for i := range items {
		if err := b.Add(items[i]); err != nil {
			return nil, fmt.Errorf("item %d (%s/%s): %w", i+1, items[i].Namespace, items[i].Key, err)
		}
	}
	return b.Image()
}
