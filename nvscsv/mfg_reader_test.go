package nvscsv

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
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
	})
}
