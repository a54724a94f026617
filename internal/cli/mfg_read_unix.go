//go:build unix

package cli

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"github.com/nvskit/nvskit/nvscsv"
)

// readSmallFile reads a regular file of at most max bytes (the largest value a file row's
// encoding can use) with plain system calls: open, fstat, read until end of file, close.
// os.ReadFile also registers the file with the runtime's poller, which doubles the cost for
// the small per-device files (certificates, keys) of a mass manufacturing run. The file is
// opened non-blocking, so that a FIFO is refused at once instead of waiting for a writer;
// devices (/dev/zero), FIFOs and directories are refused, and a larger file is an
// *nvscsv.LimitError.
func readSmallFile(path string, max int64) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, notRegular(path)
	}
	if st.Size > max {
		return nil, &nvscsv.LimitError{Size: st.Size, Limit: max, Why: whyFile(max)}
	}
	if st.Size > 0 {
		// Read the size fstat gave, without a last read to see the end of the file: one
		// system call less per file. (A file that grows meanwhile is read as it was.)
		buf := make([]byte, st.Size)
		n := 0
		for n < len(buf) {
			m, err := syscall.Read(fd, buf[n:])
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return nil, &fs.PathError{Op: "read", Path: path, Err: err}
			}
			if m == 0 {
				break
			}
			n += m
		}
		return buf[:n], nil
	}
	// Size 0: empty, or a file whose size is unknown (/proc): read to the end, up to max.
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > max {
				return nil, &nvscsv.LimitError{Size: -1, Limit: max, Why: whyFile(max)}
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			if int64(len(buf)) > max {
				return nil, &nvscsv.LimitError{Size: -1, Limit: max, Why: whyFile(max)}
			}
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// notRegular is the error for a file row naming something that is not a regular file.
func notRegular(path string) error {
	kind := "not a regular file"
	if st, err := os.Stat(path); err == nil {
		kind = fileKind(st.Mode())
	}
	return errors.New(kind + ", not a regular file; a file row names a regular file")
}

// releaseFIFO lets an open of the FIFO at path for reading, blocked because no writer has
// opened it yet, return: it opens the FIFO for writing without blocking, and closes it at once
// (the reader then sees end of file).
func releaseFIFO(path string) {
	if fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0); err == nil {
		syscall.Close(fd)
	}
}
