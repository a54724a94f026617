//go:build !unix

package cli

import (
	"errors"
	"io"
	"os"

	"github.com/nvskit/nvskit/nvscsv"
)

// readSmallFile reads a regular file of at most max bytes; anything else is refused.
func readSmallFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New(fileKind(st.Mode()) + ", not a regular file; a file row names a regular file")
	}
	why := whyFile(max)
	if st.Size() > max {
		return nil, &nvscsv.LimitError{Size: st.Size(), Limit: max, Why: why}
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &nvscsv.LimitError{Size: -1, Limit: max, Why: why}
	}
	return b, nil
}

// releaseFIFO does nothing where FIFOs are not files.
func releaseFIFO(string) {}
