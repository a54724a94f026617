//go:build unix

package mfg

import (
	"os"
	"syscall"
)

// writeNew creates path, which must not exist, with data. It uses the system calls directly:
// an *os.File would also register the file with the runtime's poller, one more system call per
// image for nothing. The mode is perm less the umask.
func writeNew(path string, data []byte, perm os.FileMode) error {
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			syscall.Close(fd)
			return &os.PathError{Op: "write", Path: path, Err: err}
		}
		data = data[n:]
	}
	if err := syscall.Close(fd); err != nil {
		return &os.PathError{Op: "close", Path: path, Err: err}
	}
	return nil
}

// syncDir makes the entries of dir (renames into and out of it) durable.
func syncDir(dir string) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_DIRECTORY, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd)
	if err := syscall.Fsync(fd); err != nil && err != syscall.EINVAL {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}

// syscallNonblock opens a FIFO without waiting for a writer.
const syscallNonblock = syscall.O_NONBLOCK
