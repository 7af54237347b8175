package spool

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Segment files: naming, listing, creating, opening for appends, reading
// and removing them, and the fsyncs that make those durable.

const segmentSuffix = ".seg"

type segment struct {
	num         uint64
	size        int64
	first, last uint64 // seq of the first and last record; 0 when empty
	n           int    // records
}

// listSegments returns the numbers of the segment files, in order, and
// removes a leftover temporary state file.
func (s *Spool) listSegments() ([]uint64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", s.dir, err)
	}
	var nums []uint64
	for _, e := range ents {
		name := e.Name()
		if name == stateTmpName {
			_ = os.Remove(filepath.Join(s.dir, name)) // best effort: it is rewritten before use
			continue
		}
		num, ok := parseSegmentName(name)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		nums = append(nums, num)
	}
	slices.Sort(nums)
	return nums, nil
}

func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || digits == "" || len(digits) > 20 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == 0 || n == ^uint64(0) {
		return 0, false
	}
	return n, true
}

func (s *Spool) segPath(num uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%08d%s", num, segmentSuffix))
}

func (s *Spool) newSegment() error {
	if s.f != nil {
		if err := s.f.Close(); err != nil {
			return fmt.Errorf("close segment: %w", err)
		}
		s.f = nil
	}
	num := s.nextNum
	p := s.segPath(num)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	if err := s.syncDir(); err != nil {
		f.Close()
		return err
	}
	s.f = f
	s.nextNum++
	s.segs = append(s.segs, segment{num: num})
	return nil
}

// openActive opens the newest segment for appending at its good end.
func (s *Spool) openActive() error {
	if s.f != nil {
		return nil
	}
	seg := s.segs[len(s.segs)-1]
	p := s.segPath(seg.num)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open segment: %w", err)
	}
	if _, err := f.Seek(seg.size, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("open segment %s: %w", p, err)
	}
	s.f = f
	return nil
}

func (s *Spool) removeSegment(seg segment) error {
	p := s.segPath(seg.num)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove spool segment %s: %w", p, err)
	}
	return s.syncDir()
}

// segmentRecords yields the good part of one segment; the payloads are
// fresh slices.
func (s *Spool) segmentRecords(seg segment) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		p := s.segPath(seg.num)
		f, err := os.Open(p)
		if err != nil {
			yield(Record{}, fmt.Errorf("read spool segment %s: %w", p, err))
			return
		}
		defer f.Close()
		rd := newReader(f, seg.size, 0)
		for i := 0; i < seg.n; i++ {
			seq, payload, err := rd.next()
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				yield(Record{}, fmt.Errorf("read spool segment %s at %d: %w", p, rd.good, err))
				return
			}
			if !yield(Record{Seq: seq, Payload: slices.Clone(payload)}, nil) {
				return
			}
		}
	}
}

func (s *Spool) sync(f *os.File) error {
	if s.noSync {
		return nil
	}
	return f.Sync()
}

// syncDir makes a created, renamed or removed name durable. Windows cannot
// open a directory for syncing, and NTFS journals names itself.
func (s *Spool) syncDir() error {
	if s.noSync || runtime.GOOS == "windows" {
		return nil
	}
	dir := s.dir
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync spool directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync spool directory %s: %w", dir, err)
	}
	return nil
}
