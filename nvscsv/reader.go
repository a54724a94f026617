package nvscsv

import (
	"bytes"
	"errors"
	"io"
)

// record is one CSV record with the physical line it starts on.
type record struct {
	line   int
	fields []string
}

// splitRecords splits CSV text the way nvs_partition_gen reads it: a UTF-8 BOM is dropped, line
// endings are universal (CRLF, CR, LF), physical lines starting with '#' are removed before
// parsing (even inside a quoted value), and the rest is parsed as Python's csv "excel"
// dialect: comma separated, '"' quoting with "" as an escaped quote, no trimming. Empty lines
// and lines of only white space give no record.
func splitRecords(data []byte) ([]record, error) {
	cr := NewRecordReader(bytes.NewReader(data))
	cr.generate = true
	var recs []record
	for {
		fields, line, err := cr.Next()
		switch {
		case err == io.EOF:
			return recs, nil
		case errors.Is(err, ErrUnclosedQuote):
			return nil, &Error{Line: line, Msg: err.Error()}
		case err != nil:
			return nil, err
		}
		recs = append(recs, record{line: line, fields: fields})
	}
}
