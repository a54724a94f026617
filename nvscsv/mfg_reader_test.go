package nvscsv

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/nvs"
)

// The first RecordReader, byte by byte, straight from the rules; FuzzRecordReader checks that
// the faster one reads every input the same way.

// refReader reads CSV records one at a time, as Python's csv module reads a file opened as
// text: universal line endings, comma separated, '"' quoting with "" as an escaped quote, no
// trimming. Lines of only white space are skipped (mfg_gen.py strips them first). Unlike the
// generate CSV, lines starting with '#' are data.
type refReader struct {
	r    *bufio.Reader
	line int // physical lines consumed
	buf  []byte
}

// newRefReader returns a refReader reading from r. A UTF-8 byte order mark at the start
// is dropped, as spreadsheet programs write one (mfg_gen.py would take it as part of the first
// key).
func newRefReader(r io.Reader) *refReader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\xEF\xBB\xBF" {
		br.Discard(3)
	}
	return &refReader{r: br}
}

// readLine returns the next physical line without its line ending, and whether one was found.
func (cr *refReader) readLine() (string, bool, error) {
	cr.buf = cr.buf[:0]
	for {
		c, err := cr.r.ReadByte()
		if err == io.EOF {
			if len(cr.buf) == 0 {
				return "", false, io.EOF
			}
			cr.line++
			return string(cr.buf), true, nil
		}
		if err != nil {
			return "", false, err
		}
		switch c {
		case '\n':
			cr.line++
			return string(cr.buf), true, nil
		case '\r':
			if n, err := cr.r.Peek(1); err == nil && n[0] == '\n' {
				cr.r.ReadByte()
			}
			cr.line++
			return string(cr.buf), true, nil
		}
		cr.buf = append(cr.buf, c)
	}
}

// Next returns the fields of the next record and the physical line it starts on, or io.EOF.
func (cr *refReader) Next() (fields []string, line int, err error) {
	var text string
	for {
		t, _, err := cr.readLine()
		if err != nil {
			return nil, cr.line, err
		}
		if strings.TrimSpace(t) != "" {
			text = t
			break
		}
	}
	line = cr.line
	var field strings.Builder
	const (
		startField = iota
		inField
		inQuoted
		quoteInQuoted
	)
	state := startField
	for {
		for i := 0; i < len(text); i++ {
			c := text[i]
			switch state {
			case startField, inField:
				switch {
				case c == ',':
					fields = append(fields, field.String())
					field.Reset()
					state = startField
				case c == '"' && state == startField:
					state = inQuoted
				default:
					field.WriteByte(c)
					state = inField
				}
			case inQuoted:
				if c == '"' {
					state = quoteInQuoted
				} else {
					field.WriteByte(c)
				}
			case quoteInQuoted:
				switch c {
				case '"':
					field.WriteByte('"')
					state = inQuoted
				case ',':
					fields = append(fields, field.String())
					field.Reset()
					state = startField
				default:
					field.WriteByte(c)
					state = inField
				}
			}
		}
		if state != inQuoted {
			fields = append(fields, field.String())
			return fields, line, nil
		}
		// A line break inside a quoted value: it is part of the value.
		field.WriteByte('\n')
		for {
			t, _, err := cr.readLine()
			if err == io.EOF {
				return nil, line, ErrUnclosedQuote
			}
			if err != nil {
				return nil, line, err
			}
			if strings.TrimSpace(t) == "" {
				// mfg_gen.py drops blank lines even inside quoted values.
				continue
			}
			text = t
			break
		}
	}
}

func readAll(next func() ([]string, int, error)) (recs [][]string, lines []int, err error) {
	for {
		f, l, err := next()
		if err == io.EOF {
			return recs, lines, nil
		}
		if err != nil {
			return recs, lines, err
		}
		recs = append(recs, f)
		lines = append(lines, l)
	}
}

func FuzzRecordReader(f *testing.F) {
	for _, s := range []string{
		"a,b,c\n1,2,3\n",
		"\xEF\xBB\xBFk,v\r\nx,\"y\"\"z\"\r\n",
		"a,\"multi\nline\n\n  \nend\",c\rnext,row\r\n",
		"\"unclosed,1\n2\n",
		"x,\"q\"tail,\"\",\"\"\"\"\n,,\n",
		"lone\rcr\rlines\r",
		"#not,a,comment\n   \n\t\nlast",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2048 {
			return // larger inputs find nothing new and make the minimiser crawl
		}
		r1, l1, e1 := readAll(NewRecordReader(strings.NewReader(s)).Next)
		r2, l2, e2 := readAll(newRefReader(strings.NewReader(s)).Next)
		if !reflect.DeepEqual(r1, r2) || !reflect.DeepEqual(l1, l2) || (e1 == nil) != (e2 == nil) {
			t.Fatalf("input %q:\nfast %q %v %v\nref  %q %v %v", s, r1, l1, e1, r2, l2, e2)
		}
		if e1 != nil && !errors.Is(e1, ErrUnclosedQuote) {
			t.Fatalf("error %v", e1)
		}
		// With a limit, the reader reads the same records until a record exceeds it.
		lr := NewRecordReader(strings.NewReader(s))
		lr.SetLimit(12)
		r3, l3, e3 := readAll(lr.Next)
		if len(r3) > len(r1) || len(r3) > 0 && (!reflect.DeepEqual(r3, r1[:len(r3)]) || !reflect.DeepEqual(l3, l1[:len(l3)])) {
			t.Fatalf("input %q: limited %q %v, unlimited %q %v", s, r3, l3, r1, l1)
		}
		if e3 == nil && (len(r3) != len(r1) || e1 != nil) || e3 != nil && !errors.Is(e3, ErrTooLarge) && (e1 == nil || e3.Error() != e1.Error()) {
			t.Fatalf("input %q: limited error %v, unlimited %v", s, e3, e1)
		}
	})
}

// endless repeats its pattern for ever, like a FIFO or /dev/zero that never ends a line.
type endless struct {
	pattern string
	n       int64
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.pattern[e.n%int64(len(e.pattern))]
		e.n++
	}
	return len(p), nil
}

func TestMfgValuesNeverEnding(t *testing.T) {
	cfg, err := ParseMfgConfig("config.csv", strings.NewReader("ns,namespace,\nserial,data,string\nn,data,u8\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		header string
		body   string
		line   int
	}{
		{"zeros in the header", "", "\x00", 1},
		{"a row that never ends", "serial,n\nSN-1,1\n", "a", 3},
		{"an unclosed quote", "serial,n\n\"SN-1,1\n", "x\n", 2},
		{"endless blanks in a line", "serial,n\n", " ", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &endless{pattern: tc.body}
			r := io.MultiReader(strings.NewReader(tc.header), src)
			v, err := NewMfgValues(cfg, "values.csv", r, "")
			for err == nil {
				_, err = v.Next()
			}
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err %v, want ErrTooLarge", err)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line != tc.line || !strings.Contains(err.Error(), "over the limit of") {
				t.Errorf("error %q (line %d), want line %d and the limit", err, ce.Line, tc.line)
			}
			if src.n > 64<<20 {
				t.Errorf("read %d bytes before giving up", src.n)
			}
		})
	}
	// Many blank lines are no record: they are skipped without limit.
	r := io.MultiReader(strings.NewReader("serial,n\n"), io.LimitReader(&endless{pattern: "\n"}, 8<<20), strings.NewReader("SN-1,1\n"))
	v, err := NewMfgValues(cfg, "values.csv", r, "")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := v.Next(); err != nil || d.Values[1] != "SN-1" {
		t.Errorf("after blank lines: %v %v", d, err)
	}
}

func TestMaxValueSize(t *testing.T) {
	for _, tc := range []struct {
		enc  string
		want int64
	}{{"u8", 4096}, {"string", nvs.MaxBlob}, {"binary", nvs.MaxBlob}, {"hex2bin", 2*nvs.MaxBlob + 64<<10}, {"base64", 2*nvs.MaxBlob + 64<<10}} {
		if got, why := MaxValueSize(tc.enc); got != tc.want || why == "" {
			t.Errorf("%s: %d %q, want %d", tc.enc, got, why, tc.want)
		}
	}
}
