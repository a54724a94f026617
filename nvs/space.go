package nvs

import "sort"

// Space reports how full an image is, as the device sees it after mounting.
type Space struct {
	Size  int `json:"size"`  // partition size in bytes
	Pages int `json:"pages"` // pages in the partition
	// PagesUsed counts pages holding entries (with a sequence number); PagesFree the others.
	PagesUsed int `json:"pages_used"`
	PagesFree int `json:"pages_free"`
	// ReservePage is the physical index of the free page the device keeps for garbage
	// collection, or -1 when there is none (the device then refuses to mount).
	ReservePage int `json:"reserve_page"`
	// Entry counts, as nvs_get_stats gives them: EntriesFree counts empty and erased slots,
	// the free pages included.
	EntriesTotal  int `json:"entries_total"`
	EntriesUsed   int `json:"entries_used"`
	EntriesErased int `json:"entries_erased"`
	EntriesFree   int `json:"entries_free"`
	// LargestString is the longest string (bytes, NUL included) that a new key could still
	// store, placed as the device would place it (garbage collection included).
	LargestString int `json:"largest_string"`
	// LargestBlob is the largest blob a new key could still store.
	LargestBlob int `json:"largest_blob"`
	// MinSize is the smallest partition size that holds the live data, laid out as the
	// generator does (one page kept free).
	MinSize int `json:"min_size"`
	// MinReadOnlySize is the smallest read-only partition size (no page kept free) that holds
	// the live data, or 0 when the data needs more pages than a read-only partition (below
	// MinSize) has.
	MinReadOnlySize int `json:"min_read_only_size"`
}

// Space computes the space report. It simulates writes on a copy of the image, so it costs a
// few mounts; the image is not changed.
func (im *Image) Space() Space {
	s := Space{Size: im.Size, Pages: im.Size / PageSize, ReservePage: -1}
	d := newDevice(im.plain, nil, nil)
	d.shared = true
	if err := d.mount(); err != nil && !d.mounted {
		_ = d.loadNamespaces()
	}
	for _, p := range d.pages {
		s.EntriesTotal += EntriesPerPage
		inList := false
		for _, q := range d.list {
			if q == p {
				inList = true
			}
		}
		if !inList || p.state == pageUninit {
			s.EntriesFree += EntriesPerPage
			continue
		}
		if p.state != pageUninit {
			s.PagesUsed++
		}
		bm := d.bitmap(p)
		for i := range EntriesPerPage {
			switch BitmapState(bm, i) {
			case EntryWritten:
				s.EntriesUsed++
			case EntryErased:
				s.EntriesErased++
				s.EntriesFree++
			default:
				s.EntriesFree++
			}
		}
	}
	s.PagesFree = s.Pages - s.PagesUsed
	if len(d.free) > 0 {
		s.ReservePage = d.free[len(d.free)-1].idx
	}
	if d.mounted {
		s.LargestString = largest(1, MaxString, func(n int) bool {
			return probe(d, func(c *device, ns uint8) error {
				return c.writeItem(ns, TypeString, probeKey, make([]byte, n))
			})
		})
		s.LargestBlob = largest(0, d.maxBlob(), func(n int) bool {
			return probe(d, func(c *device, ns uint8) error {
				return c.writeItem(ns, TypeBlob, probeKey, make([]byte, n))
			})
		})
	}
	s.MinSize, s.MinReadOnlySize = im.minSizes()
	return s
}

const probeKey = "\x7fnvskit-probe"

// largest returns the largest n in [lo, hi] for which fits is true (fits is assumed to be
// monotonic), or 0 when none fits.
func largest(lo, hi int, fits func(int) bool) int {
	if !fits(lo) {
		return 0
	}
	n := sort.Search(hi-lo+1, func(i int) bool { return !fits(lo + i) })
	return lo + n - 1
}

// probe runs write on a copy of the mounted device, in the namespace of the first record (or
// a new one), and reports whether it succeeded.
func probe(d *device, write func(c *device, ns uint8) error) bool {
	c := d.clone()
	var ns uint8
	if len(c.ns) > 0 {
		ns = c.ns[0].index
	} else {
		var err error
		if ns, err = c.openNamespace("\x7fnvskit", true); err != nil {
			return false
		}
	}
	return write(c, ns) == nil
}

// clone copies the mounted device with its in-memory state.
func (d *device) clone() *device {
	c := &device{img: append([]byte(nil), d.img...), nextSeq: d.nextSeq, mounted: d.mounted,
		ns: append([]nsDef(nil), d.ns...), nsUsed: d.nsUsed}
	c.raw = c.img
	m := map[*dpage]*dpage{}
	c.pages = make([]*dpage, len(d.pages))
	for i, p := range d.pages {
		q := *p
		c.pages[i] = &q
		m[p] = &q
	}
	for _, p := range d.list {
		c.list = append(c.list, m[p])
	}
	for _, p := range d.free {
		c.free = append(c.free, m[p])
	}
	return c
}

// minSizes lays the live records out as the generator would and returns the read/write and
// the read-only partition size they need (the latter 0 when no read-only size holds them).
func (im *Image) minSizes() (rw, ro int) {
	b, err := NewBuilder(Options{Size: (im.Size/PageSize*2 + 16) * PageSize})
	if err != nil {
		return 0, 0
	}
	for _, r := range im.Records {
		if r.Namespace == "" {
			continue
		}
		_ = b.Add(r.Item)
	}
	used := b.Stats().PagesUsed
	if used*PageSize < MinSize {
		ro = used * PageSize
	}
	return max((used+1)*PageSize, MinSize), ro
}
