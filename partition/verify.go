package partition

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// Verify applies gen_esp32part.py's checks: per partition, offset alignment (64 KiB for app,
// 4 KiB for the rest), app size alignment (4 KiB, 64 KiB with SecureV1), no readonly on
// otadata or coredump, readonly on NVS under 0x3000; for the table, unique names, nothing
// below the table's sector, no overlaps, at most one otadata and one TEE otadata, each of
// 0x2000 bytes. It also refuses two names that become the same 16-byte label (gen_esp32part.py
// accepts those and then cannot read its own binary). Warnings (a name that is a type or
// subtype keyword of another type) go to opts.Warn. The first problem is returned as an
// *Error wrapping a sentinel error.
func (t *Table) Verify(opts Options) error {
	subtypes, err := opts.subtypes()
	if err != nil {
		return err
	}
	tableEnd := uint64(opts.offset()) + SectorSize
	for i := range t.Partitions {
		if err := t.verifyOne(&t.Partitions[i], &opts, &subtypes); err != nil {
			return err
		}
	}
	if err := t.verifyNames(); err != nil {
		return err
	}
	sorted := t.sortedByOffset()
	var last *Partition
	for _, p := range sorted {
		if uint64(p.Offset) < tableEnd && !isPrimary(p) {
			return partErr(p, ErrOverlap, "offset 0x%x is below 0x%x: the partition table at 0x%x owns the sector up to there; use 0x%x or higher",
				p.Offset, tableEnd, opts.offset(), tableEnd)
		}
		if last != nil && uint64(p.Offset) < last.End() {
			return partErr(p, ErrOverlap, "partitions overlap: it starts at 0x%x, inside %q (0x%x-0x%x); move it to 0x%x or higher",
				p.Offset, last.Name, last.Offset, last.End()-1, last.End())
		}
		last = p
	}
	for _, c := range []struct {
		sub  uint8
		what string
	}{{SubtypeOTAData, "otadata (data/ota)"}, {SubtypeTEEOTA, "TEE otadata (data/tee_ota)"}} {
		ps := t.All(TypeData, c.sub)
		if len(ps) > 1 {
			return partErr(ps[1], ErrInvalid, "found multiple %s partitions (also %q); only one is allowed", c.what, ps[0].Name)
		}
		if len(ps) == 1 && ps[0].Size != 0x2000 {
			return partErr(ps[0], ErrInvalid, "%s partition must have size = 0x2000, not 0x%x", c.what, ps[0].Size)
		}
	}
	return nil
}

func isPrimary(p *Partition) bool {
	return (p.Type == TypeBootloader || p.Type == TypePartitionTable) && p.SubType == SubtypePrimary
}

func (t *Table) sortedByOffset() []*Partition {
	ps := make([]*Partition, len(t.Partitions))
	for i := range t.Partitions {
		ps[i] = &t.Partitions[i]
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Offset < ps[j].Offset })
	return ps
}

func (t *Table) verifyOne(p *Partition, opts *Options, subtypes *[4]keywords) error {
	align := alignment(p.Type)
	if p.Offset%align != 0 {
		return partErr(p, ErrMisaligned, "offset 0x%x is not aligned to 0x%x; %s", p.Offset, align, t.nearestOffset(p, align, opts))
	}
	if p.Type == TypeApp {
		sa := uint32(0x1000)
		if opts.Secure == SecureV1 {
			sa = 0x10000
		}
		if p.Size%sa != 0 {
			up := (uint64(p.Size) + uint64(sa) - 1) / uint64(sa) * uint64(sa)
			extra := ""
			if opts.Secure == SecureV1 {
				extra = " (secure boot v1 needs app sizes in multiples of 64 KiB)"
			}
			return partErr(p, ErrMisaligned, "size 0x%x is not aligned to 0x%x%s; use 0x%x", p.Size, sa, extra, up)
		}
	}
	if v, ok := typeKeywords.lookup(p.Name); ok && v != p.Type {
		opts.warn("%s: the name is a partition type, but the partition's type is 0x%x; a mistake in the table?", p.where(), p.Type)
	}
	isSub := false
	for _, kw := range subtypes {
		if _, ok := kw.lookup(p.Name); ok {
			isSub = true
		}
	}
	if isSub {
		v, ok := subtypesOf(subtypes, int64(p.Type)).lookup(p.Name)
		if !ok || v != p.SubType {
			opts.warn("%s: the name is a partition subtype, but the partition has type 0x%x and subtype 0x%x; a mistake in the table?", p.where(), p.Type, p.SubType)
		}
	}
	if p.Type == TypeData && (p.SubType == SubtypeOTAData || p.SubType == SubtypeCoredump) && p.Readonly() {
		return partErr(p, ErrInvalid, "a partition of type %d and subtype %d is always read-write and cannot be read-only; remove the readonly flag", p.Type, p.SubType)
	}
	if p.Type == TypeData && p.SubType == SubtypeNVS && p.Size < MinNVSReadWrite && !p.Readonly() {
		return partErr(p, ErrInvalid, "an NVS partition of this size (0x%x) must be flagged as 'readonly' (read/write NVS needs at least 0x%x); add the readonly flag or make it 0x%x",
			p.Size, MinNVSReadWrite, MinNVSReadWrite)
	}
	return nil
}

// nearestOffset suggests the aligned offsets around p's that collide with no other partition.
func (t *Table) nearestOffset(p *Partition, align uint32, opts *Options) string {
	down := uint64(p.Offset) / uint64(align) * uint64(align)
	up := down + uint64(align)
	var ok []string
	for _, o := range []uint64{down, up} {
		if t.fits(p, o, opts) {
			ok = append(ok, fmt.Sprintf("0x%x", o))
		}
	}
	switch len(ok) {
	case 0:
		return fmt.Sprintf("the nearest aligned offsets 0x%x and 0x%x collide with other partitions; leave the offset empty to place it automatically", down, up)
	case 1:
		return "the nearest valid offset is " + ok[0]
	}
	return "the nearest valid offsets are " + strings.Join(ok, " and ")
}

// fits reports whether p placed at off would stay clear of the table and the other partitions.
func (t *Table) fits(p *Partition, off uint64, opts *Options) bool {
	if off < uint64(opts.offset())+SectorSize && !isPrimary(p) {
		return false
	}
	end := off + uint64(p.Size)
	for i := range t.Partitions {
		q := &t.Partitions[i]
		if q == p || q.Size == 0 {
			continue
		}
		if off < q.End() && uint64(q.Offset) < end {
			return false
		}
	}
	return true
}

// verifyNames refuses duplicate names, and names that become the same label when cut.
func (t *Table) verifyNames() error {
	seen := map[string]*Partition{}
	for i := range t.Partitions {
		p := &t.Partitions[i]
		if q, ok := seen[p.Name]; ok {
			return partErr(p, ErrDuplicateName, "the name is already used by the partition at %s; partition names must be unique", q.place())
		}
		seen[p.Name] = p
	}
	labels := map[string]*Partition{}
	for i := range t.Partitions {
		p := &t.Partitions[i]
		l := string(p.Label())
		if q, ok := labels[l]; ok && !bytes.Equal([]byte(q.Name), []byte(p.Name)) {
			return partErr(p, ErrDuplicateName, "the name collides with %q (%s) when cut to 16 bytes: both become %q in the binary, which could not be read back; partition names must be unique in their first 16 bytes",
				q.Name, q.place(), l)
		}
		labels[l] = p
	}
	return nil
}

func (p *Partition) place() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d", p.Line)
	}
	return fmt.Sprintf("entry %d", p.Index)
}

// FlashNeeded returns the end of the partition with the highest offset (the first such in
// table order), the amount of flash gen_esp32part.py says the table occupies.
func (t *Table) FlashNeeded() uint64 {
	var last *Partition
	for i := range t.Partitions {
		if p := &t.Partitions[i]; last == nil || p.Offset > last.Offset {
			last = p
		}
	}
	if last == nil {
		return 0
	}
	return last.End()
}

// CheckFlashSize returns an error wrapping ErrFlashSize when the table does not fit in
// flashSize bytes (the rule of --flash-size: the partition with the highest offset must end
// within the flash).
func (t *Table) CheckFlashSize(flashSize uint64) error {
	need := t.FlashNeeded()
	if need <= flashSize {
		return nil
	}
	var beyond []string
	for i := range t.Partitions {
		if p := &t.Partitions[i]; p.End() > flashSize {
			beyond = append(beyond, p.Name)
		}
	}
	return tableErr(ErrFlashSize, "the partitions occupy %.1fMB of flash (%d bytes, up to 0x%x), which does not fit in a flash of %s (0x%x); beyond it: %s. Shrink or move them, or set the right flash size",
		float64(need)/(1<<20), need, need, sizeName(flashSize), flashSize, strings.Join(beyond, ", "))
}

// sizeName prints a flash size as "4MB" when it is whole MiB.
func sizeName(n uint64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%dMB", n>>20)
	}
	return fmt.Sprintf("0x%x bytes", n)
}

// FlashSizes are the values --flash-size accepts.
var FlashSizes = []string{"1MB", "2MB", "4MB", "8MB", "16MB", "32MB", "64MB", "128MB"}

// ParseFlashSize parses a --flash-size value ("4MB") into bytes.
func ParseFlashSize(s string) (uint64, error) {
	for _, v := range FlashSizes {
		if s == v {
			var n uint64
			fmt.Sscanf(strings.TrimSuffix(v, "MB"), "%d", &n)
			return n << 20, nil
		}
	}
	return 0, fmt.Errorf("%w: flash size %q: choose one of %s", ErrOptions, s, strings.Join(FlashSizes, ", "))
}
