package workingset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Trimmer trims the executable's read-only mappings (code, read-only
// data, the function tables) out of the process's resident set. Only the
// executable's mappings are trimmed: the heap stays as it is (the Go
// runtime returns what it frees), and writable data is left alone.
type Trimmer struct {
	ranges []span // the executable's read-only mappings, fixed at exec
}

// New reads which mappings are the executable's (/proc/self/maps).
func New() (*Trimmer, error) {
	st, err := os.Stat("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("working set: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("working set: /proc/self/exe: no inode")
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, fmt.Errorf("working set: %w", err)
	}
	ranges, err := exeRanges(maps, unix.Major(sys.Dev), unix.Minor(sys.Dev), sys.Ino)
	if err != nil {
		return nil, fmt.Errorf("working set: /proc/self/maps: %w", err)
	}
	if len(ranges) == 0 {
		return nil, fmt.Errorf("working set: /proc/self/maps has no read-only mapping of the executable (inode %d)", sys.Ino)
	}
	return &Trimmer{ranges: ranges}, nil
}

// Trim trims the executable's mappings.
//
// Without evict the pages are unmapped (MADV_DONTNEED): they stay in the
// page cache, and what the agent uses again comes back by minor fault,
// with the 64 KiB the kernel maps around it. The Result's sizes stay zero:
// reading them costs more than the unmapping.
//
// With evict the kernel is also told that the mappings are read at random,
// so a later fault reads the one page it needs, not a read-ahead window,
// and the pages are paged out (MADV_PAGEOUT, Linux 5.4): what is not used
// again leaves the page cache, and no later fault-around maps it back.
func (t *Trimmer) Trim(evict bool) (Result, error) {
	var res Result
	if !evict {
		for _, r := range t.ranges {
			if err := madvise(r, unix.MADV_DONTNEED); err != nil {
				return res, fmt.Errorf("working set: madvise dontneed %#x-%#x: %w", r.start, r.end, err)
			}
			res.Mappings++
		}
		return res, nil
	}
	res.FileBefore = fileRSS()
	for _, r := range t.ranges {
		if err := madvise(r, unix.MADV_RANDOM); err != nil {
			return res, fmt.Errorf("working set: madvise random %#x-%#x: %w", r.start, r.end, err)
		}
		if err := madvise(r, unix.MADV_PAGEOUT); errors.Is(err, unix.EINVAL) {
			return res, fmt.Errorf("%w: the kernel has no MADV_PAGEOUT (Linux 5.4)", ErrUnsupported)
		} else if err != nil {
			return res, fmt.Errorf("working set: madvise pageout %#x-%#x: %w", r.start, r.end, err)
		}
		res.Mappings++
	}
	res.FileAfter = fileRSS()
	return res, nil
}

// span is one mapping: [start, end).
type span struct{ start, end uintptr }

func madvise(r span, advice int) error {
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, uintptr(advice)); e != 0 {
		return e
	}
	return nil
}

// exeRanges returns the mappings of /proc/self/maps that map the file
// (major:minor, inode) without write permission. A line is
//
//	00400000-00d43000 r-xp 00000000 fe:00 11078855    /usr/bin/farmwatch-agent
//
// and is matched on its device and inode, not its path, which the kernel
// marks " (deleted)" once an upgrade has replaced the binary.
func exeRanges(maps []byte, major, minor uint32, ino uint64) ([]span, error) {
	var out []span
	sc := bufio.NewScanner(bytes.NewReader(maps))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 5: %q", n, len(f), sc.Text())
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("line %d: bad address range %q", n, f[0])
		}
		maj, mnr, ok := strings.Cut(f[3], ":")
		dmaj, err1 := strconv.ParseUint(maj, 16, 32)
		dmin, err2 := strconv.ParseUint(mnr, 16, 32)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("line %d: bad device %q", n, f[3])
		}
		inode, err := strconv.ParseUint(f[4], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad inode %q", n, f[4])
		}
		if inode != ino || uint32(dmaj) != major || uint32(dmin) != minor || strings.Contains(f[1], "w") {
			continue
		}
		out = append(out, span{uintptr(start), uintptr(end)})
	}
	return out, sc.Err()
}

// fileRSS is RssFile of /proc/self/status in bytes; 0 when unknown.
func fileRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
