package golden

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DeviceCase is one entry of device/cases.json: an image written by ESP-IDF's nvs_flash
// library after a recorded history of operations (see testdata/golden/device/README.md).
type DeviceCase struct {
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	Size             int               `json:"size"`
	Start            string            `json:"start"` // "blank" or "start.bin"
	Encrypted        bool              `json:"encrypted"`
	Files            map[string]string `json:"files"`
	Tags             []string          `json:"tags"`
	Replayable       bool              `json:"replayable"`
	ExpectedFailures []ExpectedFailure `json:"expected_failures"`
	Powercut         *Powercut         `json:"powercut"`
	// Dir is the case's folder (filled in by LoadDevice).
	Dir string `json:"-"`
}

// ExpectedFailure is an operation the library rejected.
type ExpectedFailure struct {
	Op   int    `json:"op"`   // 1-based index among op lines
	Line int    `json:"line"` // line number in ops.txt
	RC   string `json:"rc"`
}

// Powercut describes the power cut of a powercut_* case.
type Powercut struct {
	Kind                    string `json:"kind"` // "raw" or "recovered"
	ResumeAfterLine         int    `json:"resume_after_line"`
	InterruptedLine         int    `json:"interrupted_line"`
	InterruptedOpVisible    bool   `json:"interrupted_op_visible_after_mount"`
	MountModifiesImage      bool   `json:"mount_modifies_image"`
	InterruptedOpReturnCode string `json:"interrupted_op_rc"`
}

// LoadDevice reads device/cases.json.
func LoadDevice() ([]DeviceCase, error) {
	dir := filepath.Join(Root(), "device")
	data, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		return nil, err
	}
	var doc struct {
		Cases []DeviceCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("device/cases.json: %w", err)
	}
	for i := range doc.Cases {
		doc.Cases[i].Dir = filepath.Join(dir, doc.Cases[i].Name)
	}
	return doc.Cases, nil
}

// File returns the path of the case's file with role (ops, start, keys, expected,
// expected_view, expected_plain, expected_plain_view, cut, after_mount), or "" if absent.
func (c *DeviceCase) File(role string) string {
	if f, ok := c.Files[role]; ok {
		return filepath.Join(c.Dir, f)
	}
	return ""
}

// Read returns the content of the file with role.
func (c *DeviceCase) Read(role string) ([]byte, error) {
	p := c.File(role)
	if p == "" {
		return nil, fmt.Errorf("%s: no %s file", c.Name, role)
	}
	return os.ReadFile(p)
}

// StartImage returns the image the history starts from: start.bin, or all 0xFF.
func (c *DeviceCase) StartImage() ([]byte, error) {
	if c.File("start") != "" {
		return c.Read("start")
	}
	return bytes.Repeat([]byte{0xFF}, c.Size), nil
}

// Op is one line of ops.txt.
type Op struct {
	Line int
	// Kind is set, erase, erase_all, reboot or powercut.
	Kind string
	NS   string
	Key  string
	// Type is u8 … i64, string or blob (set only).
	Type string
	// Int is the value of an integer set, as its two's complement bits.
	Int uint64
	// Data is the value of a string (without NUL) or blob set.
	Data []byte
	// N is the count of a powercut.
	N int
}

// Ops reads and decodes the case's ops.txt.
func (c *DeviceCase) Ops() ([]Op, error) {
	b, err := c.Read("ops")
	if err != nil {
		return nil, err
	}
	return ParseOps(b)
}

// ParseOps decodes an ops.txt history.
func ParseOps(b []byte) ([]Op, error) {
	var ops []Op
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		op, err := parseOp(t)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		op.Line = line
		ops = append(ops, op)
	}
	return ops, sc.Err()
}

func parseOp(t string) (Op, error) {
	kind, rest, _ := strings.Cut(t, " ")
	op := Op{Kind: kind}
	switch kind {
	case "reboot":
		return op, nil
	case "powercut":
		n, err := strconv.Atoi(rest)
		op.N = n
		return op, err
	case "erase_all":
		op.NS = rest
		return op, nil
	case "erase":
		op.NS, op.Key, _ = strings.Cut(rest, " ")
		return op, nil
	case "set":
	default:
		return op, fmt.Errorf("unknown op %q", kind)
	}
	f := strings.SplitN(rest, " ", 4)
	if len(f) < 3 {
		return op, fmt.Errorf("set needs NS KEY TYPE VALUE")
	}
	op.NS, op.Key, op.Type = f[0], f[1], f[2]
	val := ""
	if len(f) == 4 {
		val = f[3]
	}
	switch op.Type {
	case "string":
		d, err := unescape(val)
		op.Data = d
		return op, err
	case "blob":
		h, ok := strings.CutPrefix(val, "hex:")
		if !ok {
			return op, fmt.Errorf("blob value must start with hex:")
		}
		d, err := hex.DecodeString(h)
		op.Data = d
		if d == nil {
			op.Data = []byte{}
		}
		return op, err
	case "u8", "u16", "u32", "u64":
		v, err := strconv.ParseUint(val, 10, 64)
		op.Int = v
		return op, err
	case "i8", "i16", "i32", "i64":
		v, err := strconv.ParseInt(val, 10, 64)
		op.Int = uint64(v)
		return op, err
	}
	return op, fmt.Errorf("unknown type %q", op.Type)
}

func unescape(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, fmt.Errorf("dangling backslash")
		}
		switch s[i] {
		case '\\':
			out = append(out, '\\')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 's':
			out = append(out, ' ')
		case 'x':
			if i+3 > len(s) {
				return nil, fmt.Errorf("short \\x escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, err
			}
			out = append(out, byte(v))
			i += 2
		default:
			return nil, fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return out, nil
}

// ViewLine is one key line of expected.jsonl.
type ViewLine struct {
	NS    string          `json:"ns"`
	Key   string          `json:"key"`
	Type  string          `json:"type"` // u8 … i64, str, blob
	Value json.RawMessage `json:"value"`
	Len   int             `json:"len"`
	Hex   string          `json:"hex"`
}

// View is the library's dump of an image (expected.jsonl).
type View struct {
	Mount   string
	Keys    []ViewLine
	Summary map[string]any
}

// Lines renders the view as sorted lines "ns/key type value": integers in decimal, strings
// ("str") and blobs as the hex of their bytes, so two views compare as text.
func (v *View) Lines() ([]string, error) {
	out := make([]string, 0, len(v.Keys))
	for _, k := range v.Keys {
		val := string(k.Value)
		switch k.Type {
		case "str":
			val = k.Hex
		case "blob":
			s, err := strconv.Unquote(val)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: blob value %s: %w", k.NS, k.Key, val, err)
			}
			val = s
		}
		out = append(out, fmt.Sprintf("%s/%s %s %s", k.NS, k.Key, k.Type, val))
	}
	sort.Strings(out)
	return out, nil
}

// ReadView parses an expected.jsonl file of role (expected_view or expected_plain_view).
func (c *DeviceCase) ReadView(role string) (*View, error) {
	b, err := c.Read(role)
	if err != nil {
		return nil, err
	}
	v := &View{}
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(l, &m); err != nil {
			return nil, err
		}
		switch {
		case m["mount"] != nil:
			_ = json.Unmarshal(m["mount"], &v.Mount)
		case m["key"] != nil:
			var kl ViewLine
			if err := json.Unmarshal(l, &kl); err != nil {
				return nil, err
			}
			v.Keys = append(v.Keys, kl)
		default:
			_ = json.Unmarshal(l, &v.Summary)
		}
	}
	return v, nil
}
