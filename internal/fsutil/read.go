package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrTooLarge is returned (through a *LimitError) when an input is larger than its format
// allows.
var ErrTooLarge = errors.New("larger than its format allows")

// ErrNotRegular is returned when an input is not a regular file: a directory, a FIFO, a
// device such as /dev/zero, a socket.
var ErrNotRegular = errors.New("not a regular file")

// LimitError says which input is too large and what limit its format implies.
type LimitError struct {
	Path  string
	Limit int64
	// What names the input kind, e.g. "an NVS partition image"; the message says the limit is
	// the one for it.
	What string
}

// Error names the file, the limit and what the limit is for.
func (e *LimitError) Error() string {
	return fmt.Sprintf("%s is larger than %s, the limit for %s", e.Path, Size(e.Limit), e.What)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *LimitError) Is(target error) bool { return target == ErrTooLarge }

// NotRegularError says which input is not a regular file.
type NotRegularError struct {
	Path string
	Kind string // "a directory", "a named pipe (FIFO)", "a device", ...
}

// Error names the file and what it is instead of a regular file.
func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, e.Kind)
}

// Is makes errors.Is(err, ErrNotRegular) true.
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

// Limits of nvskit's inputs, each the most its format can hold.
const (
	// MaxImage is the largest NVS partition, keys partition dump or flash image: the largest
	// ESP flash chip, 128 MiB.
	MaxImage = 128 << 20
	// MaxFileRow is the most a CSV file row (or set --file) can name: a blob holds at most
	// 508000 bytes, which hex2bin spells in twice as many characters; the rest is room for
	// line breaks and spaces.
	MaxFileRow = 4 << 20
	// MaxCSV is the most a CSV input (an NVS CSV, an mfg config or values table) can be: room
	// for 32 MiB of data written as hex, far more than any NVS partition holds in practice.
	MaxCSV = 64 << 20
	// MaxKeyFile is the most a key file can be: a keys partition is one 4096-byte sector (64
	// bytes of keys, their CRC, the rest erased); an HMAC key is 32 bytes.
	MaxKeyFile = 4096
	// MaxPartitionTable is the most a partition table can be, as CSV or binary; a flash dump
	// holding one is limited by MaxImage instead.
	MaxPartitionTable = 1 << 20
)

// Size formats a byte count the way limits are named in messages: "128 MiB", "4096 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0 && n != 4096:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ReadFile reads the regular file at path whole, refusing anything else (a FIFO, a device, a
// directory) without opening it, and a file larger than limit with a *LimitError that says
// what (the input's kind) allows no more. It never blocks on a FIFO and never reads more than
// limit+1 bytes, however large the file or however it grows meanwhile.
func ReadFile(path string, limit int64, what string) ([]byte, error) {
	f, err := Open(path, limit, what)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadAll()
}

// LimitedFile is an open regular file read through a limit; see Open.
type LimitedFile struct {
	f     *os.File
	r     io.Reader
	path  string
	limit int64
	what  string
	n     int64
}

// Open opens the regular file at path for reading through a limit: Read returns a *LimitError
// once more than limit bytes were read. Anything but a regular file is refused without being
// opened, and a file whose size is already over the limit is refused at once.
func Open(path string, limit int64, what string) (*LimitedFile, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(path, st); err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, &LimitError{Path: path, Limit: limit, What: what}
	}
	f, err := openNoBlock(path)
	if err != nil {
		return nil, err
	}
	// The file may have been swapped for a FIFO between the stat and the open.
	if st, err = f.Stat(); err != nil || checkRegular(path, st) != nil {
		f.Close()
		if err == nil {
			err = checkRegular(path, st)
		}
		return nil, err
	}
	return &LimitedFile{f: f, r: io.LimitReader(f, limit+1), path: path, limit: limit, what: what}, nil
}

// Read reads from the file, failing with a *LimitError past the limit.
func (l *LimitedFile) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return 0, &LimitError{Path: l.path, Limit: l.limit, What: l.what}
	}
	return n, err
}

// Close closes the file.
func (l *LimitedFile) Close() error { return l.f.Close() }

// ReadAll reads the rest of the file.
func (l *LimitedFile) ReadAll() ([]byte, error) {
	size := 512
	if st, err := l.f.Stat(); err == nil && st.Size() > 0 && st.Size() <= l.limit {
		size = int(st.Size()) + 1
	}
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := l.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func checkRegular(path string, st fs.FileInfo) error {
	m := st.Mode()
	if m.IsRegular() {
		return nil
	}
	kind := "not a regular file"
	switch {
	case m.IsDir():
		kind = "a directory"
	case m&fs.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	case m&fs.ModeDevice != 0:
		kind = "a device"
	}
	return &NotRegularError{Path: path, Kind: kind}
}
