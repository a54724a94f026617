package nvscsv

import (
	"bytes"
	"strings"
)

// record is one CSV record with the physical line it starts on.
type record struct {
	line   int
	fields []string
}

// splitRecords splits CSV text the way the reference reads it: a UTF-8 BOM is dropped, line
// endings are universal (CRLF, CR, LF), physical lines starting with '#' are removed before
// parsing (even inside a quoted value), and the rest is parsed as Python's csv "excel"
// dialect: comma separated, '"' quoting with "" as an escaped quote, no trimming. Empty
// lines and lines of only white space give no record.
func splitRecords(data []byte) ([]record, error) {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")

	var recs []record
	var cur *record
	var field strings.Builder
	const (
		startField = iota
		inField
		inQuoted
		quoteInQuoted
	)
	state := startField
	quoteLine := 0
	endField := func() {
		cur.fields = append(cur.fields, field.String())
		field.Reset()
	}
	lineNo := 0
	for len(text) > 0 {
		lineNo++
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i+1], text[i+1:]
		} else {
			text = ""
		}
		if line[0] == '#' {
			continue
		}
		if cur == nil {
			if strings.TrimSpace(line) == "" {
				continue
			}
			recs = append(recs, record{line: lineNo})
			cur = &recs[len(recs)-1]
			state = startField
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch state {
			case startField, inField:
				switch {
				case c == '\n':
					endField()
					cur = nil
				case c == ',':
					endField()
					state = startField
				case c == '"' && state == startField:
					state = inQuoted
					quoteLine = lineNo
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
					endField()
					state = startField
				case '\n':
					endField()
					cur = nil
				default:
					field.WriteByte(c)
					state = inField
				}
			}
			if cur == nil {
				break
			}
		}
	}
	if cur != nil {
		if state == inQuoted {
			return nil, &Error{Line: quoteLine, Msg: "quoted value is never closed: add the closing '\"'"}
		}
		endField()
	}
	return recs, nil
}
