package cli

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/nvskit/nvskit/nvscsv"
)

// The inputs of mfg are read through limits their formats imply, and every wait on them (a
// FIFO with no writer yet, a pipe that never sends) ends when the command's context does.

// Limits of the whole-file inputs of mfg.
const (
	maxConfigFile = 16 << 20 // CONFIG.csv
	maxKeyFile    = 4096     // --inputkey, --kp_hmac_inputkey: at most an nvs_keys partition
	maxPEMFile    = 1 << 20  // --ca-cert, --ca-key
)

// fileKind names what a non-regular file is, for messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
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

// interruptOnDone makes a read of f that blocks (a pipe) return when ctx is done. The
// returned function undoes it.
func interruptOnDone(ctx context.Context, f *os.File) func() bool {
	return context.AfterFunc(ctx, func() { f.SetReadDeadline(unixEpoch) })
}

// readMfgInput reads a whole input of at most max bytes (why says what the limit is): a regular
// file, a FIFO or a pipe. A larger input is an *nvscsv.LimitError.
func readMfgInput(ctx context.Context, path string, max int64, why string) ([]byte, error) {
	f, err := openStream(ctx, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > max {
		return nil, fmt.Errorf("%s %w", path, &nvscsv.LimitError{Size: st.Size(), Limit: max, Why: why})
	}
	defer interruptOnDone(ctx, f)()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s %w", path, &nvscsv.LimitError{Size: -1, Limit: max, Why: why})
	}
	return b, nil
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
