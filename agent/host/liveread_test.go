//go:build unix

package host

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestLiveRead reads live files of every shape a sensor may meet through
// the plain-syscall path: small and /proc files, files larger than the
// scratch buffer, the size limit, and things that are not files at all.
func TestLiveRead(t *testing.T) {
	h, err := Live()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640 KB: grows the 16 KB buffer
	huge := filepath.Join(dir, "huge")
	if err := os.WriteFile(huge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, MaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       []byte
		err        string // a part of the error; "" for none
		notExist   bool
	}{
		{name: "empty", path: write("empty", nil), want: []byte{}},
		{name: "small", path: write("small", []byte("hello\n")), want: []byte("hello\n")},
		{name: "exactly the buffer", path: write("16k", bytes.Repeat([]byte{'x'}, 16<<10)), want: bytes.Repeat([]byte{'x'}, 16<<10)},
		{name: "larger than the buffer", path: write("big", big), want: big},
		{name: "at the limit", path: write("limit", bytes.Repeat([]byte{'y'}, MaxFileSize)), want: bytes.Repeat([]byte{'y'}, MaxFileSize)},
		{name: "over the limit", path: huge, err: "larger than"},
		{name: "missing", path: filepath.Join(dir, "nothing"), notExist: true},
		{name: "a directory", path: dir, err: "is a directory"},
		{name: "a FIFO without a writer does not block", path: fifo, want: []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := h.ReadFile(tc.path)
			switch {
			case tc.notExist:
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("err = %v, want one of fs.ErrNotExist", err)
				}
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.path) {
					t.Fatalf("err = %v, want one naming %s and saying %q", err, tc.path, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case !bytes.Equal(b, tc.want):
				t.Fatalf("read %d bytes, want %d", len(b), len(tc.want))
			}
		})
	}
	t.Run("a FIFO with a silent writer is an error, not a wait", func(t *testing.T) {
		w, err := os.OpenFile(fifo, os.O_RDWR, 0) // holds the FIFO open, writes nothing
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		_, err = h.ReadFile(fifo)
		if err == nil || !strings.Contains(err.Error(), fifo) {
			t.Fatalf("err = %v, want one naming the FIFO", err)
		}
	})
	t.Run("proc", func(t *testing.T) {
		if _, err := os.Stat("/proc/self/stat"); err != nil {
			t.Skip("no /proc on this OS")
		}
		b, err := h.ReadFile("/proc/self/status")
		if err != nil || !bytes.Contains(b, []byte("\nUid:")) {
			t.Fatalf("status: %v\n%s", err, b)
		}
	})
	t.Run("concurrent reads each get their own bytes", func(t *testing.T) {
		paths := []string{write("a", bytes.Repeat([]byte{'a'}, 20000)), write("b", bytes.Repeat([]byte{'b'}, 300))}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 200 {
					p := paths[i%2]
					b, err := h.ReadFile(p)
					if err != nil {
						t.Error(err)
						return
					}
					if c := b[0]; bytes.Count(b, []byte{c}) != len(b) || len(b) != map[byte]int{'a': 20000, 'b': 300}[c] || c != "ab"[i%2] {
						t.Errorf("%s: read %d bytes of a mixed buffer", p, len(b))
						return
					}
				}
			}()
		}
		wg.Wait()
	})
	t.Run("a large read's bytes stay its own", func(t *testing.T) {
		// Past maxPooledBuf the result is the grown buffer itself: no later
		// read, large or small, may write into it.
		a, b := write("large-a", bytes.Repeat([]byte{'a'}, 3*maxPooledBuf)), write("large-b", bytes.Repeat([]byte{'b'}, 3*maxPooledBuf))
		first, err := h.ReadFile(a)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{b, write("small-c", []byte("ccc")), b} {
			if _, err := h.ReadFile(p); err != nil {
				t.Fatal(err)
			}
		}
		if len(first) != 3*maxPooledBuf || bytes.Count(first, []byte{'a'}) != len(first) {
			t.Fatalf("the first read changed: %d bytes, %d of them 'a'", len(first), bytes.Count(first, []byte{'a'}))
		}
	})
}

// BenchmarkReadLarge reads a file of dpkg's status size (0.6 MB; 2 to 4 MB
// on a desktop), as the locale sensor does at every scan, beside
// os.ReadFile in the same run.
//
//	go test -run '^$' -bench ReadLarge -benchmem -count 6 ./agent/host
func BenchmarkReadLarge(b *testing.B) {
	p := filepath.Join(b.TempDir(), "status")
	if err := os.WriteFile(p, bytes.Repeat([]byte("Package: x\nStatus: install ok installed\n\n"), 15000), 0o644); err != nil {
		b.Fatal(err)
	}
	h, err := Live()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("host", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.ReadFile(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("os.ReadFile", func(b *testing.B) {
		for b.Loop() {
			if _, err := os.ReadFile(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestLiveReadEndless: a device that never ends is refused at the size
// limit, its buffer grown no further than the limit.
func TestLiveReadEndless(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	b, buf, err := liveRead("/dev/zero", make([]byte, 16<<10))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != MaxFileSize+1 || cap(buf) > MaxFileSize+1+MaxFileSize/8 {
		t.Fatalf("read %d bytes into a buffer of %d: want the limit plus one, the buffer about the limit", len(b), cap(buf))
	}
	h, err := Live()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.ReadFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("ReadFile(/dev/zero): %v, want refused as too large", err)
	}
}
