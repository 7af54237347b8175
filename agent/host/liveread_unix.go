//go:build unix

package host

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"syscall"
)

// liveRead reads a file of the live machine with plain system calls: open,
// read until end of file, close. os.Open would also try to register every
// descriptor with the runtime's poller and switch it to non-blocking mode,
// which for a /proc file fails and costs three more system calls each
// time; a scan reads four files of each of a thousand processes.
//
// The file is opened non-blocking, so a FIFO or a device someone put where
// a sensor looks cannot stall a scan: with nothing to read it is an error
// (or, for a FIFO without a writer, empty). buf is scratch space the
// caller may reuse, and liveRead returns the scratch space to reuse next.
// The result is a fresh copy of the exact size, except for a file too
// large for the caller to keep the scratch space of (over maxPooledBuf):
// then it is the grown buffer itself, saving a second allocation and copy
// of a large file at every scan (dpkg's status, 0.6 to 4 MB), and the
// scratch space returned is the caller's, untouched.
func liveRead(path string, buf []byte) ([]byte, []byte, error) {
	fd, err := openNonBlocking(path)
	if err != nil {
		return nil, buf, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	scratch := buf
	n, sized := 0, false
	for {
		if n == len(buf) {
			if n > MaxFileSize {
				break // over the limit: the caller refuses it
			}
			want := min(2*len(buf), MaxFileSize+1) // a device without end grows it no further
			var st syscall.Stat_t
			if !sized && syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG && int64(want) <= st.Size {
				want = int(min(st.Size, MaxFileSize) + 1) // one more, to see the end without growing again
			}
			sized = true
			buf = slices.Grow(buf[:n], want-n)[:want]
		}
		k, err := syscall.Read(fd, buf[n:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			return nil, buf, fmt.Errorf("read %s: nothing to read without waiting (not a regular file)", path)
		}
		if err != nil {
			return nil, buf, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if k <= 0 {
			break
		}
		n += k
	}
	if cap(buf) > maxPooledBuf && cap(scratch) <= maxPooledBuf {
		return buf[:n:n], scratch, nil
	}
	out := make([]byte, n)
	copy(out, buf[:n])
	return out, buf, nil
}

func openNonBlocking(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}
