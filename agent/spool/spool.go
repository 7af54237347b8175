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
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

const (
	// MaxPayload is the largest payload Append accepts.
	MaxPayload = 16 << 20
	// MinBytes is the smallest maxBytes Open accepts.
	MinBytes = 64 << 10

	headerSize    = 16
	minSegment    = 64 << 10
	stateName     = "state"
	stateTmpName  = "state.tmp"
	stateSize     = 20
	segmentSuffix = ".seg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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

type segment struct {
	num         uint64
	size        int64
	first, last uint64 // seq of the first and last record; 0 when empty
	n           int    // records
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

// Append adds a record and returns once it is on disk. seq must be greater
// than every seq appended or acknowledged before (so 0 is never accepted).
// When the spool would go over its size, the oldest segments are dropped
// and counted first.
func (s *Spool) Append(seq uint64, payload []byte) error {
	if s.closed {
		return fmt.Errorf("append %d to spool %s: closed", seq, s.dir)
	}
	if len(payload) > MaxPayload {
		return fmt.Errorf("append %d to spool %s: payload of %d bytes is over the limit of %d", seq, s.dir, len(payload), MaxPayload)
	}
	size := int64(headerSize + len(payload))
	if size > s.max {
		return fmt.Errorf("append %d to spool %s: record of %d bytes is larger than the whole spool (%d bytes)", seq, s.dir, size, s.max)
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
	buf := make([]byte, size)
	binary.LittleEndian.PutUint32(buf[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(buf[8:], seq)
	copy(buf[headerSize:], payload)
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(buf[8:], castagnoli))
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

func (s *Spool) readState() error {
	p := filepath.Join(s.dir, stateName)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read spool state %s: %w", p, err)
	}
	acked, dropped, ok := parseState(b)
	if !ok {
		s.rec.StateLost = true
		return nil
	}
	s.acked, s.dropped = acked, dropped
	return nil
}

func parseState(b []byte) (acked, dropped uint64, ok bool) {
	if len(b) != stateSize || crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:]), true
}

// writeState persists the acknowledged position and the dropped count
// atomically: temporary file, fsync, rename, directory fsync.
func (s *Spool) writeState() error {
	var b [stateSize]byte
	binary.LittleEndian.PutUint64(b[0:], s.acked)
	binary.LittleEndian.PutUint64(b[8:], s.dropped)
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	p, tmp := filepath.Join(s.dir, stateName), filepath.Join(s.dir, stateTmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write spool state %s: %w", p, err)
	}
	if _, err := f.Write(b[:]); err != nil {
		f.Close()
		return fmt.Errorf("write spool state %s: %w", p, err)
	}
	if err := s.sync(f); err != nil {
		f.Close()
		return fmt.Errorf("write spool state %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write spool state %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write spool state %s: %w", p, err)
	}
	return s.syncDir()
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

// readError is a bad record: torn, too long, failing its checksum or out
// of order.
type readError string

func (e readError) Error() string { return string(e) }

// reader walks the records of one segment.
type reader struct {
	r    *bufio.Reader
	size int64  // bytes in the file
	off  int64  // where the next header starts
	good int64  // end of the last good record
	prev uint64 // seq of the last good record
	hdr  [headerSize]byte
	buf  []byte
	// set after a bad record whose extent is known, so countRest can skip it
	skip int64
}

func newReader(r io.Reader, size int64, prev uint64) *reader {
	return &reader{r: bufio.NewReaderSize(r, 64<<10), size: size, prev: prev}
}

// next returns the next good record (its payload valid until the next
// call), io.EOF at a clean end, a readError at a bad record, or the error
// of the underlying read.
func (rd *reader) next() (uint64, []byte, error) {
	rd.skip = 0
	if rd.off == rd.size {
		return 0, nil, io.EOF
	}
	if rd.size-rd.off < headerSize {
		return 0, nil, readError("torn record header")
	}
	if _, err := io.ReadFull(rd.r, rd.hdr[:]); err != nil {
		return 0, nil, readFail(err)
	}
	n := binary.LittleEndian.Uint32(rd.hdr[0:])
	sum := binary.LittleEndian.Uint32(rd.hdr[4:])
	seq := binary.LittleEndian.Uint64(rd.hdr[8:])
	if n > MaxPayload {
		return 0, nil, readError("record length over the limit")
	}
	end := rd.off + headerSize + int64(n)
	if end > rd.size {
		return 0, nil, readError("torn record")
	}
	if cap(rd.buf) < int(n) {
		rd.buf = make([]byte, n)
	}
	payload := rd.buf[:n]
	if _, err := io.ReadFull(rd.r, payload); err != nil {
		return 0, nil, readFail(err)
	}
	rd.off = end
	crc := crc32.Update(crc32.Checksum(rd.hdr[8:], castagnoli), castagnoli, payload)
	if crc != sum {
		rd.skip = end
		return 0, nil, readError("record checksum mismatch")
	}
	if seq <= rd.prev {
		rd.skip = end
		return 0, nil, readError("record seq out of order")
	}
	rd.prev = seq
	rd.good = end
	return seq, payload, nil
}

// readFail turns a short read (the file shrank under us) into a bad record.
func readFail(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return readError("torn record")
	}
	return err
}

// countRest counts the good records that follow a bad one whose extent
// was known; they are lost with it.
func (rd *reader) countRest() int {
	if rd.skip == 0 {
		return 0
	}
	n := 0
	for {
		if _, _, err := rd.next(); err != nil && rd.skip == 0 {
			return n
		}
		n++ // a good record, or another bad one of known extent
	}
}
