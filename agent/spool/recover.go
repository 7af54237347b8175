package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Recovery: Open reads every segment, cuts each at its first bad record,
// counts what it cut, and removes what is acknowledged or empty.

// open is Open with the segment size chosen; noSync skips every fsync
// (for fuzzing the reader, never for use).
func open(dir string, maxBytes, segMax int64, noSync bool) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	s := &Spool{dir: dir, max: maxBytes, segMax: segMax, nextNum: 1, noSync: noSync}
	if err := s.readState(); err != nil {
		return nil, err
	}
	nums, err := s.listSegments()
	if err != nil {
		return nil, err
	}
	var cut uint64 // records cut, to add to the dropped count
	prev := uint64(0)
	for _, num := range nums {
		seg, lost, err := s.recoverSegment(num, prev)
		if err != nil {
			return nil, err
		}
		cut += uint64(lost)
		if seg.n > 0 {
			prev = seg.last
		}
		s.segs = append(s.segs, seg)
		s.total += seg.size
		s.nextNum = num + 1
	}
	s.last = max(prev, s.acked)
	if cut > 0 || s.rec.StateLost {
		s.dropped += cut
		if err := s.writeState(); err != nil {
			return nil, err
		}
	}
	// Remove segments that are empty or fully acknowledged; an empty
	// newest one stays, to take the next appends.
	kept := s.segs[:0]
	for i, seg := range s.segs {
		newest := i == len(s.segs)-1
		if seg.n == 0 && newest {
			kept = append(kept, seg)
			continue
		}
		if seg.n == 0 || seg.last <= s.acked {
			if err := s.removeSegment(seg); err != nil {
				return nil, err
			}
			s.total -= seg.size
			continue
		}
		kept = append(kept, seg)
	}
	s.segs = kept
	// A spool reopened with a smaller size is brought under it now.
	if err := s.makeRoom(0); err != nil {
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	return s, nil
}

// recoverSegment verifies one segment and truncates it at its first bad
// record. prev is the seq of the last good record before it.
func (s *Spool) recoverSegment(num, prev uint64) (segment, int, error) {
	p := s.segPath(num)
	seg := segment{num: num}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return seg, 0, fmt.Errorf("open spool segment %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return seg, 0, fmt.Errorf("open spool segment %s: %w", p, err)
	}
	size := fi.Size()
	rd := newReader(f, size, prev)
	for {
		seq, _, err := rd.next()
		if err == io.EOF {
			seg.size = size
			return seg, 0, nil
		}
		if err != nil {
			var rerr readError
			if !errors.As(err, &rerr) {
				return seg, 0, fmt.Errorf("read spool segment %s: %w", p, err)
			}
			break
		}
		if seg.n == 0 {
			seg.first = seq
		}
		seg.last = seq
		seg.n++
		seg.size = rd.good
	}
	// Cut from the bad record on. Count it, and what can be read past it.
	lost := 1 + rd.countRest()
	if err := f.Truncate(seg.size); err != nil {
		return seg, 0, fmt.Errorf("cut spool segment %s at %d: %w", p, seg.size, err)
	}
	if err := s.sync(f); err != nil {
		return seg, 0, fmt.Errorf("cut spool segment %s at %d: %w", p, seg.size, err)
	}
	s.rec.Records += lost
	s.rec.Bytes += size - seg.size
	return seg, lost, nil
}
