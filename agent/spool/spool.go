// Package spool is the agent's bounded on-disk queue of messages the
// collector has not acknowledged yet. It survives a collector outage and an
// agent restart: every Append is fsynced before it returns, and the
// acknowledged position is persisted, so a reopened spool replays exactly
// the unacknowledged records.
//
// # On-disk format
//
// A spool is a directory (created 0700) of segment files named by a
// decimal number, 00000001.seg, 00000002.seg, …, read in numeric order,
// plus one state file.
//
// A segment is a plain sequence of records, without a file header. Each
// record is a 16-byte header followed by the payload:
//
//	offset  size  field
//	0       4     payload length, uint32 little-endian (at most MaxPayload)
//	4       4     CRC-32C (Castagnoli) of the 8 seq bytes followed by the payload
//	8       8     seq, uint64 little-endian
//	16      n     payload
//
// The checksum covers seq as well as the payload, so a flipped bit in a
// sequence number is caught too; a damaged length makes the checksum fail
// (or the record overrun its file). Sequence numbers are strictly
// increasing across all records of all segments.
//
// The state file "state" is 20 bytes: the acknowledged seq (uint64 LE),
// the dropped count (uint64 LE) and the CRC-32C of those 16 bytes. It is
// written to "state.tmp", fsynced, and renamed over "state", and the
// directory is fsynced, so it is always either the old or the new state.
//
// # Recovery
//
// Open reads every segment and verifies every record. A record is good when
// its header is complete, its length is at most MaxPayload and fits in the
// file, its checksum matches, and its seq is greater than the one before
// it. At the first bad record the rest of that segment is cut (the file is
// truncated there): a torn write at the tail of the newest segment after a
// crash, or damage in the middle of an older one. What was cut is reported
// by Recovered and added to the dropped count, so no loss is silent. A
// damaged state file is reported too and read as "nothing acknowledged,
// nothing dropped": acknowledged records are then sent again, which the
// collector ignores. Open never fails because of what is in the files, only
// when the directory cannot be read or written.
//
// # Bound
//
// The records on disk never take more than the maxBytes given to Open.
// Records are written to the newest segment until it reaches its size
// (maxBytes/8, at least 64 KiB); then a new segment is started. When an
// Append would go over maxBytes, whole oldest segments are deleted first
// and their unacknowledged records are added to the dropped count, which
// is persisted with the acknowledged position and survives restarts.
// Segments whose records are all acknowledged are deleted by Ack.
//
// A Spool is for one goroutine at a time: callers that share one must
// serialise their calls, and must not call Append or Ack while ranging
// over Records. Two Spools must not use one directory at once
// (nothing locks it).
package spool

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
)

const (
	// MaxPayload is the largest payload Append accepts.
	MaxPayload = 16 << 20
	// MinBytes is the smallest maxBytes Open accepts.
	MinBytes = 64 << 10

	minSegment = 64 << 10
)

// ErrTooLarge is a record that can never be appended: it is larger than
// the whole spool or than a payload may be. Nothing changed.
var ErrTooLarge = errors.New("record too large for the spool")

// Record is one spooled message.
type Record struct {
	Seq     uint64
	Payload []byte
}

// Recovery is what Open found damaged and cut.
type Recovery struct {
	// Records is how many records were cut: the damaged or torn record
	// itself plus every record after it in its segment that could still be
	// read past it.
	Records int
	// Bytes is how many bytes were cut from segment files.
	Bytes int64
	// StateLost is set when the state file was damaged and reset.
	StateLost bool
}

// Spool is a bounded on-disk queue of unacknowledged records. See the
// package documentation for its format and guarantees.
type Spool struct {
	dir    string
	max    int64
	segMax int64

	segs    []segment // oldest first; the last one takes appends
	f       *os.File  // the last segment, open for appending; nil until needed
	total   int64     // bytes in all segments
	nextNum uint64    // number for the next new segment

	acked   uint64
	dropped uint64
	last    uint64 // highest seq appended (or acknowledged)
	rec     Recovery
	closed  bool
	noSync  bool
}

// Open opens the spool in dir, creating it 0700 when needed, and recovers
// from damaged records as the package documentation describes. The records
// on disk are kept to at most maxBytes, which must be at least MinBytes.
func Open(dir string, maxBytes int64) (*Spool, error) {
	if maxBytes < MinBytes {
		return nil, fmt.Errorf("open spool %s: size %d is below the minimum of %d bytes", dir, maxBytes, MinBytes)
	}
	segMax := max(maxBytes/8, minSegment)
	return open(dir, maxBytes, segMax, false)
}

// Append adds a record and returns once it is on disk. seq must be greater
// than every seq appended or acknowledged before (so 0 is never accepted).
// When the spool would go over its size, the oldest segments are dropped
// and counted first.
func (s *Spool) Append(seq uint64, payload []byte) error {
	if s.closed {
		return fmt.Errorf("append %d to spool %s: closed", seq, s.dir)
	}
	if len(payload) > MaxPayload {
		return fmt.Errorf("append %d to spool %s: payload of %d bytes is over the limit of %d: %w", seq, s.dir, len(payload), MaxPayload, ErrTooLarge)
	}
	size := int64(headerSize + len(payload))
	if size > s.max {
		return fmt.Errorf("append %d to spool %s: record of %d bytes is larger than the whole spool (%d bytes): %w", seq, s.dir, size, s.max, ErrTooLarge)
	}
	if seq <= s.last {
		return fmt.Errorf("append %d to spool %s: seq must be greater than %d", seq, s.dir, s.last)
	}
	if err := s.makeRoom(size); err != nil {
		return fmt.Errorf("append %d to spool %s: %w", seq, s.dir, err)
	}
	if n := len(s.segs); n == 0 || (s.segs[n-1].size > 0 && s.segs[n-1].size+size > s.segMax) {
		if err := s.newSegment(); err != nil {
			return fmt.Errorf("append %d to spool %s: %w", seq, s.dir, err)
		}
	}
	if err := s.openActive(); err != nil {
		return fmt.Errorf("append %d to spool %s: %w", seq, s.dir, err)
	}
	buf := encodeRecord(seq, payload)
	seg := &s.segs[len(s.segs)-1]
	if _, err := s.f.Write(buf); err != nil {
		// Take back a partial write so the next record starts clean.
		_ = s.f.Truncate(seg.size)
		_, _ = s.f.Seek(seg.size, io.SeekStart)
		return fmt.Errorf("append %d to spool %s: %w", seq, s.dir, err)
	}
	if err := s.sync(s.f); err != nil {
		// After a failed fsync the state of the file is unknown: reopen.
		s.f.Close()
		s.f = nil
		return fmt.Errorf("append %d to spool %s: sync: %w", seq, s.dir, err)
	}
	seg.size += size
	if seg.n == 0 {
		seg.first = seq
	}
	seg.last = seq
	seg.n++
	s.total += size
	s.last = seq
	return nil
}

// makeRoom drops whole oldest segments until size more bytes fit.
func (s *Spool) makeRoom(size int64) error {
	for s.total+size > s.max && len(s.segs) > 0 {
		seg := s.segs[0]
		n, err := s.unacked(seg)
		if err != nil {
			return err
		}
		if n > 0 {
			// Count before deleting: a crash in between over-counts, never hides.
			s.dropped += uint64(n)
			if err := s.writeState(); err != nil {
				return err
			}
		}
		if len(s.segs) == 1 && s.f != nil {
			s.f.Close()
			s.f = nil
		}
		if err := s.removeSegment(seg); err != nil {
			return err
		}
		s.segs = s.segs[1:]
		s.total -= seg.size
	}
	return nil
}

// unacked counts the records of seg that are not acknowledged.
func (s *Spool) unacked(seg segment) (int, error) {
	switch {
	case seg.n == 0 || seg.last <= s.acked:
		return 0, nil
	case seg.first > s.acked:
		return seg.n, nil
	}
	n := 0
	for r, err := range s.segmentRecords(seg) {
		if err != nil {
			return 0, err
		}
		if r.Seq > s.acked {
			n++
		}
	}
	return n, nil
}

// Ack marks every record up to and including seq as acknowledged,
// persists that, and deletes the segments that hold nothing else. An ack
// at or below the current position changes nothing; an ack beyond the
// last appended seq is kept, and later appends must be above it.
func (s *Spool) Ack(seq uint64) error {
	if s.closed {
		return fmt.Errorf("ack %d in spool %s: closed", seq, s.dir)
	}
	if seq <= s.acked {
		return nil
	}
	s.acked = seq
	s.last = max(s.last, seq)
	if err := s.writeState(); err != nil {
		return fmt.Errorf("ack %d: %w", seq, err)
	}
	for len(s.segs) > 0 && s.segs[0].n > 0 && s.segs[0].last <= s.acked {
		seg := s.segs[0]
		if len(s.segs) == 1 && s.f != nil {
			if err := s.f.Close(); err != nil {
				return fmt.Errorf("ack %d: close segment: %w", seq, err)
			}
			s.f = nil
		}
		if err := s.removeSegment(seg); err != nil {
			return fmt.Errorf("ack %d: %w", seq, err)
		}
		s.segs = s.segs[1:]
		s.total -= seg.size
	}
	return nil
}

// Records yields the unacknowledged records in seq order, reading them
// from disk. A record damaged since Open ends the sequence with an error.
func (s *Spool) Records() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		if s.closed {
			yield(Record{}, fmt.Errorf("read spool %s: closed", s.dir))
			return
		}
		for _, seg := range s.segs {
			if seg.n == 0 || seg.last <= s.acked {
				continue
			}
			for r, err := range s.segmentRecords(seg) {
				if err != nil {
					yield(Record{}, err)
					return
				}
				if r.Seq <= s.acked {
					continue
				}
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}

// Pending returns every unacknowledged record, in seq order; it holds
// them all in memory at once (at most the spool's size).
func (s *Spool) Pending() ([]Record, error) {
	var out []Record
	for r, err := range s.Records() {
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Dropped is how many unacknowledged records were ever dropped, to make
// room or because they were damaged; it survives restarts.
func (s *Spool) Dropped() uint64 { return s.dropped }

// Acked is the acknowledged position: every seq up to it is acknowledged.
func (s *Spool) Acked() uint64 { return s.acked }

// LastSeq is the highest seq appended or acknowledged; the next Append
// needs a greater one.
func (s *Spool) LastSeq() uint64 { return s.last }

// Size is how many bytes the segment files take.
func (s *Spool) Size() int64 { return s.total }

// Recovered is what Open cut from damaged segments and whether it had to
// reset a damaged state file.
func (s *Spool) Recovered() Recovery { return s.rec }

// Close closes the spool; later calls fail.
func (s *Spool) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.f != nil {
		if err := s.f.Close(); err != nil {
			return fmt.Errorf("close spool %s: %w", s.dir, err)
		}
		s.f = nil
	}
	return nil
}

// Reset drops every record, counting the unacknowledged ones as dropped,
// and starts the numbering again: the next Append must be above after
// (which may be below numbers used before). The collector asks for this
// when it can apply nothing of what is queued.
func (s *Spool) Reset(after uint64) error {
	if s.closed {
		return fmt.Errorf("reset spool %s: closed", s.dir)
	}
	for _, seg := range s.segs {
		n, err := s.unacked(seg)
		if err != nil {
			return fmt.Errorf("reset spool %s: %w", s.dir, err)
		}
		s.dropped += uint64(n)
	}
	// Count first: a crash before the segments go over-counts, never
	// hides a loss.
	s.acked, s.last = after, after
	if err := s.writeState(); err != nil {
		return fmt.Errorf("reset spool %s: %w", s.dir, err)
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	for _, seg := range s.segs {
		if err := s.removeSegment(seg); err != nil {
			return fmt.Errorf("reset spool %s: %w", s.dir, err)
		}
	}
	s.segs, s.total = nil, 0
	return nil
}
