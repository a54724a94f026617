package cli

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/nvs"
)

// InspectSchema names the version of inspect's --json document (docs/inspect-json.md).
const InspectSchema = "nvskit-inspect/1"

type inspectJSON struct {
	Schema     string             `json:"schema"`
	Image      imageJSON          `json:"image"`
	Space      nvs.Space          `json:"space"`
	Namespaces []nvs.NamespaceDef `json:"namespaces"`
	Items      []itemJSON         `json:"items"`
	Pages      []pageJSON         `json:"pages"`
	Findings   []nvs.Finding      `json:"findings"`
}

type imageJSON struct {
	Path       string `json:"path"`
	Size       int    `json:"size"`
	Encrypted  bool   `json:"encrypted"`
	Mountable  bool   `json:"mountable"`
	MountError string `json:"mount_error,omitempty"`
}

type itemJSON struct {
	Namespace  string          `json:"namespace"`
	NSIndex    uint8           `json:"ns_index"`
	Key        string          `json:"key"`
	Type       string          `json:"type"`
	Size       int             `json:"size"`
	Value      json.RawMessage `json:"value"`
	Hex        string          `json:"hex,omitempty"`
	Redacted   bool            `json:"redacted,omitempty"`
	Page       int             `json:"page"`
	Slot       int             `json:"slot"`
	Chunks     int             `json:"chunks,omitempty"`
	ChunkStart *int            `json:"chunk_start,omitempty"`
	V1         bool            `json:"v1_blob,omitempty"`
}

type pageJSON struct {
	Index       int         `json:"index"`
	State       string      `json:"state"`
	Seq         *uint32     `json:"seq"`
	Version     int         `json:"version"`
	HeaderCRCOK bool        `json:"header_crc_ok"`
	Written     int         `json:"written"`
	Erased      int         `json:"erased"`
	Empty       int         `json:"empty"`
	Entries     []entryJSON `json:"entries,omitempty"`
}

type entryJSON struct {
	Slot    int    `json:"slot"`
	State   string `json:"state"`
	Payload bool   `json:"payload,omitempty"`
	NS      *int   `json:"ns,omitempty"`
	Type    string `json:"type,omitempty"`
	Span    int    `json:"span,omitempty"`
	Chunk   *int   `json:"chunk,omitempty"`
	Key     string `json:"key,omitempty"`
	Data    string `json:"data,omitempty"`
	CRCOK   *bool  `json:"crc_ok,omitempty"`
	Raw     string `json:"raw"`
	// Redacted: the slot belongs to an item whose value is hidden without --show-secrets;
	// raw and data are then left out.
	Redacted bool `json:"redacted,omitempty"`
}

func newInspectCmd(env *Env) *cobra.Command {
	var keys, view string
	var asJSON, secrets bool
	c := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show the keys, values, pages and free space of an NVS image",
		Long: `Show what an NVS partition image holds, as the device reads it: namespaces, keys,
types, sizes and values, how full it is, and any integrity problems. It reads
images the device wrote (with erased entries, power-cut leftovers, garbage
collection) as well as generated ones.

Views (--view): the default table; minimal (one "namespace:key = value" line per
key); all (every page and entry); namespaces; blobs; storage (pages and free
space). Values of keys whose names look secret (cert, key, pass, pwd, psk,
secret, token, private, ...) or that hold PEM data are hidden unless
--show-secrets, in every view: --view all hides their entries' bytes too.

--json prints one JSON document (schema in docs/inspect-json.md); --view all adds
every entry to its pages.`,
		Example: `  nvskit inspect nvs.bin
  nvskit inspect --keys nvs_keys.bin --view blobs enc.bin
  nvskit inspect --json nvs.bin | jq '.items[] | select(.namespace=="wifi")'`,
		Args: exactArgs(1, "IMAGE"),
		RunE: func(c *cobra.Command, args []string) error {
			switch view {
			case "", "default", "minimal", "all", "namespaces", "blobs", "storage":
			default:
				return usagef("--view %q: use minimal, all, namespaces, blobs or storage", view)
			}
			in, err := loadImage(env, args[0], keys)
			if err != nil {
				return err
			}
			if asJSON {
				return writeInspectJSON(env.Stdout, in, view == "all", secrets)
			}
			w := env.Stdout
			switch view {
			case "minimal":
				viewMinimal(w, in.im, secrets)
			case "all":
				viewAll(w, in.im, secrets)
			case "namespaces":
				viewNamespaces(w, in.im)
			case "blobs":
				viewBlobs(w, in.im)
			case "storage":
				viewStorage(w, in.im)
			default:
				viewDefault(w, in, secrets)
			}
			return nil
		},
	}
	c.Flags().StringVar(&keys, "keys", "", "nvs_keys partition image to decrypt an encrypted IMAGE")
	c.Flags().StringVar(&view, "view", "", "minimal, all, namespaces, blobs or storage")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (see docs/inspect-json.md)")
	c.Flags().BoolVar(&secrets, "show-secrets", false, "show the values of keys whose names look secret")
	return c
}

// exactArgs is cobra.ExactArgs with a usage message naming the arguments.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return argCountError(c, len(args), "")
		}
		return nil
	}
}

func recordJSON(r *nvs.Record, secrets bool) itemJSON {
	it := itemJSON{Namespace: r.Namespace, NSIndex: r.NSIndex, Key: r.Key, Type: typeName(r.Type),
		Size: recordSize(r), Page: r.Page, Slot: r.Slot}
	if r.Type == nvs.TypeBlob {
		if r.V1 {
			it.V1 = true
		} else {
			cs := int(r.ChunkStart)
			it.Chunks, it.ChunkStart = r.Chunks, &cs
		}
	}
	if !secrets && isSecret(r) {
		it.Value, it.Redacted = json.RawMessage("null"), true
		return it
	}
	switch {
	case r.Type.IsInt():
		it.Value = json.RawMessage(intString(r))
	case r.Type == nvs.TypeString:
		t := stringText(r)
		if !utf8.Valid(t) {
			t = []byte(strings.ToValidUTF8(string(t), "\uFFFD"))
		}
		b, _ := json.Marshal(string(t))
		it.Value, it.Hex = b, hex.EncodeToString(r.Data)
	default:
		b, _ := json.Marshal(hex.EncodeToString(r.Data))
		it.Value = b
	}
	return it
}

func pageCounts(p *nvs.Page) (written, erased, empty int) { return p.Counts() }

func writeInspectJSON(w io.Writer, in *imageInput, entries, secrets bool) error {
	im := in.im
	doc := inspectJSON{Schema: InspectSchema,
		Image: imageJSON{Path: in.path, Size: im.Size, Encrypted: im.Encrypted, Mountable: im.Mountable, MountError: im.MountError},
		Space: im.Space(), Namespaces: im.Namespaces, Items: []itemJSON{}, Findings: im.Findings}
	if doc.Namespaces == nil {
		doc.Namespaces = []nvs.NamespaceDef{}
	}
	if doc.Findings == nil {
		doc.Findings = []nvs.Finding{}
	}
	for i := range im.Records {
		doc.Items = append(doc.Items, recordJSON(&im.Records[i], secrets))
	}
	for i := range im.Pages {
		p := &im.Pages[i]
		pj := pageJSON{Index: p.Index, State: p.State.String(), HeaderCRCOK: p.HeaderCRCOK}
		if p.HeaderCRCOK {
			s := p.Seq
			pj.Seq = &s
			if v, ok := nvs.VersionFromByte(p.Version); ok {
				pj.Version = int(v)
			}
		}
		pj.Written, pj.Erased, pj.Empty = pageCounts(p)
		if entries {
			es := p.Entries()
			hide := secretSlots(im, es, secrets)
			for i := range es {
				ej := entryToJSON(&es[i])
				if hide[i] {
					ej.Raw, ej.Data, ej.Redacted = "", "", true
				}
				pj.Entries = append(pj.Entries, ej)
			}
		}
		doc.Pages = append(doc.Pages, pj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func entryToJSON(e *nvs.EntryInfo) entryJSON {
	j := entryJSON{Slot: e.Slot, State: strings.ToLower(e.State.String()), Payload: e.Payload, Raw: hex.EncodeToString(e.Raw)}
	if e.Payload || (e.State == nvs.EntryEmpty && e.Entry.Type == 0 && e.Entry.Span == 0) {
		return j
	}
	en := e.Entry
	ns, ch, ok := int(en.NS), int(en.Chunk), e.CRCOK
	j.NS, j.Type, j.Span, j.Chunk, j.Key, j.CRCOK = &ns, en.Type.String(), int(en.Span), &ch, en.KeyString(), &ok
	j.Data = hex.EncodeToString(en.Data[:])
	return j
}

// ---- text views -----------------------------------------------------------------------------

func viewDefault(w io.Writer, in *imageInput, secrets bool) {
	im := in.im
	nsW, keyW := len("NAMESPACE"), len("KEY")
	for _, r := range im.Records {
		nsW = max(nsW, min(len(r.Namespace), 15))
		keyW = max(keyW, min(len(r.Key), 15))
	}
	valW := 80 - nsW - keyW - 6 - 6 - 4
	if len(im.Records) == 0 {
		fmt.Fprintln(w, "No keys.")
	} else {
		fmt.Fprintf(w, "%-*s %-*s %-6s %6s %s\n", nsW, "NAMESPACE", keyW, "KEY", "TYPE", "SIZE", "VALUE")
		for i := range im.Records {
			r := &im.Records[i]
			val := preview(r, valW)
			if !secrets && isSecret(r) {
				val = truncate("(hidden; --show-secrets)", valW)
			}
			fmt.Fprintf(w, "%-*s %-*s %-6s %6d %s\n", nsW, truncate(r.Namespace, nsW), keyW, truncate(r.Key, keyW),
				typeName(r.Type), recordSize(r), val)
		}
	}
	fmt.Fprintln(w)
	s := im.Space()
	fmt.Fprintf(w, "%s in %s. %s partition, %d pages: %d used, %d free.\n",
		plural(len(im.Records), "key"), plural(len(im.Namespaces), "namespace"), sizeHex(s.Size), s.Pages, s.PagesUsed, s.PagesFree)
	fmt.Fprintf(w, "Entries: %d used, %d erased, %d free of %d.\n", s.EntriesUsed, s.EntriesErased, s.EntriesFree, s.EntriesTotal)
	free := s.EntriesFree
	if s.ReservePage >= 0 {
		free -= nvs.EntriesPerPage // the page the device keeps free for garbage collection
	}
	fmt.Fprintf(w, "Free space: %s (largest new string %d characters, blob %d bytes).\n",
		humanBytes(max(free, 0)*nvs.EntrySize), max(s.LargestString-1, 0), s.LargestBlob)
	if s.MinReadOnlySize > 0 {
		fmt.Fprintf(w, "The data would fit a partition of %s (read-only: %s).\n", sizeHex(s.MinSize), sizeHex(s.MinReadOnlySize))
	} else {
		fmt.Fprintf(w, "The data would fit a partition of %s.\n", sizeHex(s.MinSize))
	}
	if im.Encrypted {
		fmt.Fprintln(w, "Decrypted with the given keys.")
	}
	switch n := len(im.Findings); {
	case n == 0:
		fmt.Fprintln(w, "No integrity problems.")
	default:
		fmt.Fprintf(w, "%s (nvskit check lists them with their codes):\n", plural(n, "finding"))
		for _, f := range im.Findings {
			writeWrapped(w, "- "+f.String(), 80, "  ")
		}
	}
}

func sizeHex(n int) string { return "0x" + strconv.FormatInt(int64(n), 16) }

func viewMinimal(w io.Writer, im *nvs.Image, secrets bool) {
	for i := range im.Records {
		r := &im.Records[i]
		head := fmt.Sprintf("%s:%s = ", r.Namespace, r.Key)
		width := max(80-len(head), 8)
		v := preview(r, width)
		if r.Type == nvs.TypeBlob && len(r.Data) > 0 {
			v = truncate(hex.EncodeToString(r.Data), width)
		}
		if !secrets && isSecret(r) {
			v = "(hidden)"
		}
		fmt.Fprintf(w, "%s%s\n", head, v)
	}
}

// secretSlots marks the slots of a page that belong to an item whose value is hidden without
// --show-secrets (see isSecret): the item header (its data field holds an integer's value, or
// a string's or blob's length and CRC) and its payload. An item counts as secret when its
// key's name looks secret, when the record the device reads under its name is secret, or when
// its own payload holds PEM data (old, erased copies included).
func secretSlots(im *nvs.Image, es []nvs.EntryInfo, secrets bool) []bool {
	hide := make([]bool, len(es))
	if secrets {
		return hide
	}
	nsName := map[uint8]string{}
	for _, n := range im.Namespaces {
		if _, ok := nsName[n.Index]; !ok {
			nsName[n.Index] = n.Name
		}
	}
	cur := false
	for i := range es {
		e := &es[i]
		if e.Payload {
			hide[i] = cur
			continue
		}
		cur = false
		if e.State == nvs.EntryEmpty && e.Entry.Type == 0 && e.Entry.Span == 0 {
			continue
		}
		en := &e.Entry
		if en.NS == nvs.NamespaceIndex {
			continue // a namespace definition: its name and index
		}
		key := en.KeyString()
		cur = isSecretName(key)
		if r := im.Get(nsName[en.NS], key); !cur && r != nil && nsName[en.NS] != "" {
			cur = isSecret(r)
		}
		if !cur {
			var payload []byte
			for j := i + 1; j < len(es) && es[j].Payload; j++ {
				payload = append(payload, es[j].Raw...)
			}
			cur = bytes.Contains(payload, []byte("-----BEGIN ")) || bytes.Contains(payload, []byte("PRIVATE KEY"))
		}
		hide[i] = cur
	}
	return hide
}

func viewAll(w io.Writer, im *nvs.Image, secrets bool) {
	for i := range im.Pages {
		p := &im.Pages[i]
		if p.State == nvs.PageEmpty && !p.HeaderCRCOK {
			wr, _, _ := pageCounts(p)
			if wr == 0 {
				fmt.Fprintf(w, "Page %d: EMPTY\n\n", p.Index)
				continue
			}
		}
		crc := "ok"
		if !p.HeaderCRCOK {
			crc = "BAD"
		}
		fmt.Fprintf(w, "Page %d: %s, seq %d, version 0x%02x, header CRC %s\n", p.Index, p.State, p.Seq, p.Version, crc)
		es := p.Entries()
		hide := secretSlots(im, es, secrets)
		for i, e := range es {
			if e.State == nvs.EntryEmpty && !e.Payload && e.Entry.Span == 0 && e.Entry.Type == 0 {
				continue
			}
			st := e.State.String()
			if e.Payload {
				data := truncate(fmt.Sprintf("% x", e.Raw), 56)
				if hide[i] {
					data = "(hidden; --show-secrets)"
				}
				fmt.Fprintf(w, "  %03d %-7s   data %s\n", e.Slot, st, data)
				continue
			}
			en := e.Entry
			bad := ""
			if !e.CRCOK {
				bad = " CRC!"
			}
			fmt.Fprintf(w, "  %03d %-7s ns %3d %-10s span %3d chunk %02x %-16q%s\n",
				e.Slot, st, en.NS, en.Type, en.Span, en.Chunk, truncate(en.KeyString(), 15), bad)
		}
		fmt.Fprintln(w)
	}
}

func viewNamespaces(w io.Writer, im *nvs.Image) {
	fmt.Fprintf(w, "%-15s %5s %5s\n", "NAMESPACE", "INDEX", "KEYS")
	for _, n := range im.Namespaces {
		fmt.Fprintf(w, "%-15s %5d %5d\n", n.Name, n.Index, len(im.Keys(n.Name)))
	}
}

func viewBlobs(w io.Writer, im *nvs.Image) {
	fmt.Fprintf(w, "%-15s %-15s %8s %-7s %6s  %s\n", "NAMESPACE", "KEY", "SIZE", "VERSION", "CHUNKS", "AT")
	for i := range im.Records {
		r := &im.Records[i]
		if r.Type != nvs.TypeBlob {
			continue
		}
		ver, chunks := "v1", "-"
		if !r.V1 {
			ver = fmt.Sprintf("0x%02x", r.ChunkStart)
			chunks = strconv.Itoa(r.Chunks)
		}
		fmt.Fprintf(w, "%-15s %-15s %8d %-7s %6s  page %d slot %d\n", truncate(r.Namespace, 15), truncate(r.Key, 15),
			len(r.Data), ver, chunks, r.Page, r.Slot)
	}
}

func viewStorage(w io.Writer, im *nvs.Image) {
	s := im.Space()
	fmt.Fprintf(w, "%-5s %-8s %10s %7s %6s %5s\n", "PAGE", "STATE", "SEQ", "WRITTEN", "ERASED", "EMPTY")
	for i := range im.Pages {
		p := &im.Pages[i]
		wr, er, em := pageCounts(p)
		seq := "-"
		if p.HeaderCRCOK {
			seq = strconv.FormatUint(uint64(p.Seq), 10)
		}
		mark := ""
		if p.Index == s.ReservePage {
			mark = "  reserve"
		}
		fmt.Fprintf(w, "%-5d %-8s %10s %7d %6d %5d%s\n", p.Index, p.State, seq, wr, er, em, mark)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Size:            %s (%d pages; %d used, %d free)\n", sizeHex(s.Size), s.Pages, s.PagesUsed, s.PagesFree)
	fmt.Fprintf(w, "Entries:         %d used, %d erased, %d free of %d\n", s.EntriesUsed, s.EntriesErased, s.EntriesFree, s.EntriesTotal)
	if s.ReservePage >= 0 {
		fmt.Fprintf(w, "Reserve page:    %d (kept free for garbage collection)\n", s.ReservePage)
	} else {
		fmt.Fprintf(w, "Reserve page:    none\n")
	}
	fmt.Fprintf(w, "Largest string:  %d bytes (NUL included) still fit\n", s.LargestString)
	fmt.Fprintf(w, "Largest blob:    %d bytes still fit\n", s.LargestBlob)
	fmt.Fprintf(w, "Smallest size:   %s holds the data\n", sizeHex(s.MinSize))
}
