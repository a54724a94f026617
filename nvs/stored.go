package nvs

import (
	"fmt"
	"sort"
)

// StoredItems lists the items the image holds in the order they were written: pages by
// sequence number, entries by slot, with a namespace item (Key "") where a namespace entry is
// stored. Unlike Records it keeps every complete written item, so duplicates that the device
// would resolve when mounting stay in; it is what a generator needs to lay the image out
// again. Blobs are placed where their BLOB_IDX is; chunks without a complete index, items with
// a bad CRC or an undefined namespace are left out and reported in skipped.
func (im *Image) StoredItems() (items []Item, skipped []string) {
	type pg struct {
		idx int
		seq uint32
	}
	var order []pg
	for i := range im.Pages {
		p := &im.Pages[i]
		if p.HeaderCRCOK && (p.State == PageActive || p.State == PageFull || p.State == PageFreeing) {
			order = append(order, pg{i, p.Seq})
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return order[a].seq < order[b].seq })

	nsName := map[uint8]string{}
	type chunkKey struct {
		ns    uint8
		key   [KeySize]byte
		chunk uint8
	}
	chunks := map[chunkKey][]byte{}
	for _, o := range order {
		p := &im.Pages[o.idx]
		for i := 0; i < EntriesPerPage; i++ {
			e := &p.Entries[i]
			if e.State != EntryWritten || e.Payload || !e.CRCOK {
				continue
			}
			en := e.Entry
			span := max(int(en.Span), 1)
			var payload []byte
			if en.Type.IsVarLen() {
				complete := i+span <= EntriesPerPage
				for j := i + 1; complete && j < i+span; j++ {
					if p.Entries[j].State != EntryWritten {
						complete = false
					}
				}
				if !complete {
					skipped = append(skipped, fmt.Sprintf("page %d slot %d: incomplete item %s", p.Index, i, quoteKey(en)))
					continue
				}
				n := en.VarSize()
				for j := i + 1; j < i+span && len(payload) < n; j++ {
					payload = append(payload, p.Entries[j].Raw[:min(EntrySize, n-len(payload))]...)
				}
				if len(payload) != n || CRC32(payload) != en.VarCRC() {
					skipped = append(skipped, fmt.Sprintf("page %d slot %d: %s has a bad data CRC", p.Index, i, quoteKey(en)))
					i += span - 1
					continue
				}
				i += span - 1
			}
			key := en.KeyString()
			if en.NS == NamespaceIndex {
				if en.Type == TypeU8 {
					if _, ok := nsName[en.Data[0]]; !ok {
						nsName[en.Data[0]] = key
						items = append(items, Namespace(key))
					}
				} else {
					skipped = append(skipped, fmt.Sprintf("page %d slot %d: %s has namespace index 0", p.Index, i, quoteKey(en)))
				}
				continue
			}
			name, ok := nsName[en.NS]
			if !ok {
				skipped = append(skipped, fmt.Sprintf("page %d slot %d: %s uses undefined namespace index %d", p.Index, e.Slot, quoteKey(en), en.NS))
				continue
			}
			switch {
			case en.Type.IsInt():
				it := Item{Namespace: name, Key: key, Type: en.Type, Value: en.Uint()}
				if en.Type.Signed() {
					it.Value = uint64(en.Int())
				}
				items = append(items, it)
			case en.Type == TypeString:
				items = append(items, Item{Namespace: name, Key: key, Type: TypeString, Data: payload})
			case en.Type == TypeBlob:
				items = append(items, Item{Namespace: name, Key: key, Type: TypeBlob, Data: nonNil(payload)})
			case en.Type == TypeBlobData:
				chunks[chunkKey{en.NS, en.Key, en.Chunk}] = payload
			case en.Type == TypeBlobIndex:
				size, count, start := en.BlobIndex()
				var data []byte
				ok := true
				for c := 0; c < int(count); c++ {
					d, found := chunks[chunkKey{en.NS, en.Key, start + uint8(c)}]
					if !found {
						ok = false
						break
					}
					data = append(data, d...)
				}
				if !ok || len(data) != int(size) {
					skipped = append(skipped, fmt.Sprintf("page %d slot %d: blob %s has missing or inconsistent chunks", p.Index, i, quoteKey(en)))
					continue
				}
				items = append(items, Item{Namespace: name, Key: key, Type: TypeBlob, Data: nonNil(data)})
			default:
				skipped = append(skipped, fmt.Sprintf("page %d slot %d: %s has unknown type 0x%02x", p.Index, i, quoteKey(en), uint8(en.Type)))
			}
		}
	}
	return items, skipped
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// FormatVersion returns the format version of the image's pages: V1 when every used page
// says V1, otherwise V2.
func (im *Image) FormatVersion() Version {
	v1, used := 0, 0
	for i := range im.Pages {
		p := &im.Pages[i]
		if p.HeaderCRCOK {
			used++
			if p.Version == V1.Byte() {
				v1++
			}
		}
	}
	if used > 0 && v1 == used {
		return V1
	}
	return V2
}
