package cli

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"github.com/nvskit/nvskit/nvscsv"
)

// VALUES.csv may be a stream (a FIFO, a pipe): every wait on it (a FIFO with no writer yet,
// a pipe that never sends) ends when the command's context does. The file rows' files are
// read through the limit of their encoding (readSmallFile). The other inputs of mfg go through
// readInput (fsutil.ReadFile): regular files only, each through its format's limit.

// fileKind names what a non-regular file is, for messages (in fsutil's words).
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// openStream opens an input that may be a regular file, a FIFO or a pipe (process
// substitution, /dev/stdin). Devices, directories and sockets are refused. Opening a FIFO
// waits for its writer; ctx ends that wait.
func openStream(ctx context.Context, path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	m := st.Mode()
	if m.IsRegular() {
		return os.Open(path)
	}
	if m&fs.ModeNamedPipe == 0 {
		return nil, fmt.Errorf("%s is %s, not a file", path, fileKind(m))
	}
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		ch <- opened{f, err}
	}()
	select {
	case o := <-ch:
		return o.f, o.err
	case <-ctx.Done():
		releaseFIFO(path)
		go func() {
			if o := <-ch; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// whyFile says what the limit of a file row is.
func whyFile(max int64) string {
	for _, enc := range []string{"u8", "binary", "hex2bin"} {
		if m, why := nvscsv.MaxValueSize(enc); m == max {
			return why
		}
	}
	return fmt.Sprintf("the largest value this row's encoding can use is %d bytes", max)
}
