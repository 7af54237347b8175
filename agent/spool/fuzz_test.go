package spool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// openInput is what FuzzOpen writes into a spool directory: two segment
// files and the state file.
type openInput struct {
	seg1, seg2, state []byte
}

func (in openInput) write(t testing.TB, dir string) {
	t.Helper()
	for name, b := range map[string][]byte{"00000001.seg": in.seg1, stateName: in.state, "00000002.seg": in.seg2} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// fuzzMax is the size of the fuzzed spools: larger than any input it is
// given, so that nothing is dropped to make room.
const fuzzMax = 1 << 20

// openWant is what Open must make of an openInput, worked out from the
// package documentation by a decoder of its own, not the package's reader.
type openWant struct {
	pending      []Record // the good records above the acknowledged seq
	last         uint64   // the highest good seq, or the acknowledged one
	acked        uint64
	stateDropped uint64
	stateLost    bool
	cutBytes     int64 // bytes after the first bad record of each segment
	cutSegs      int   // segments with a bad record
}

func wantOpen(in openInput) openWant {
	var w openWant
	crcTable := crc32.MakeTable(crc32.Castagnoli)
	if len(in.state) == 20 && crc32.Checksum(in.state[:16], crcTable) == binary.LittleEndian.Uint32(in.state[16:]) {
		w.acked = binary.LittleEndian.Uint64(in.state[0:])
		w.stateDropped = binary.LittleEndian.Uint64(in.state[8:])
	} else {
		w.stateLost = true
	}
	var prev uint64
	for _, b := range [][]byte{in.seg1, in.seg2} {
		off := 0
		for len(b)-off >= 16 {
			n := binary.LittleEndian.Uint32(b[off:])
			if n > MaxPayload || int64(len(b)-off-16) < int64(n) {
				break
			}
			end := off + 16 + int(n)
			seq := binary.LittleEndian.Uint64(b[off+8:])
			if crc32.Checksum(b[off+8:end], crcTable) != binary.LittleEndian.Uint32(b[off+4:]) || seq <= prev {
				break
			}
			if seq > w.acked {
				w.pending = append(w.pending, Record{Seq: seq, Payload: slices.Clone(b[off+16 : end])})
			}
			prev = seq
			off = end
		}
		if off < len(b) {
			w.cutBytes += int64(len(b) - off)
			w.cutSegs++
		}
	}
	w.last = max(prev, w.acked)
	return w
}

// checkOpen returns how the spool s, just opened over in, breaks what the
// package documentation promises.
func checkOpen(in openInput, s *Spool) []string {
	var bad []string
	w := wantOpen(in)
	rs, err := s.Pending()
	if err != nil {
		return append(bad, fmt.Sprintf("pending: %v", err))
	}
	// Pending holds exactly the good records of the input, checksummed
	// payloads included, so never more than its bytes can hold.
	var size int
	for _, r := range rs {
		size += headerSize + len(r.Payload)
	}
	if size > len(in.seg1)+len(in.seg2) {
		bad = append(bad, fmt.Sprintf("pending records take %d bytes, the segments only %d", size, len(in.seg1)+len(in.seg2)))
	}
	if diff := cmp.Diff(w.pending, rs, cmp.Comparer(bytes.Equal)); diff != "" {
		bad = append(bad, "pending records are not the good records of the input (-want +got):\n"+diff)
	}
	// Every cut byte is reported, and counted as at least one dropped
	// record per damaged segment; each record counted past the first bad one
	// of a segment had a whole header.
	r := s.Recovered()
	if r.Bytes != w.cutBytes {
		bad = append(bad, fmt.Sprintf("recovered %d bytes, want %d cut", r.Bytes, w.cutBytes))
	}
	if lo, hi := w.cutSegs, w.cutSegs+int(w.cutBytes/headerSize); r.Records < lo || r.Records > hi {
		bad = append(bad, fmt.Sprintf("recovered %d records from %d cut bytes in %d segments, want %d to %d", r.Records, w.cutBytes, w.cutSegs, lo, hi))
	}
	if r.StateLost != w.stateLost {
		bad = append(bad, fmt.Sprintf("state lost %v, want %v", r.StateLost, w.stateLost))
	}
	if s.Dropped() != w.stateDropped+uint64(r.Records) || s.Dropped() < w.stateDropped {
		bad = append(bad, fmt.Sprintf("dropped %d, want the state's %d plus %d cut", s.Dropped(), w.stateDropped, r.Records))
	}
	if s.Acked() != w.acked || s.LastSeq() != w.last {
		bad = append(bad, fmt.Sprintf("acked %d, last %d; want %d, %d", s.Acked(), s.LastSeq(), w.acked, w.last))
	}
	if s.Size() > fuzzMax {
		bad = append(bad, fmt.Sprintf("size %d over the bound %d", s.Size(), fuzzMax))
	}
	return bad
}

// checkAppendReopen appends one record to the recovered spool s, closes it
// and reopens dir: the new spool must hold what s held plus that record,
// and recover nothing. It closes s.
func checkAppendReopen(dir string, s *Spool) []string {
	var bad []string
	before, err := s.Pending()
	if err != nil {
		s.Close()
		return append(bad, fmt.Sprintf("pending: %v", err))
	}
	want := slices.Clone(before)
	acked, dropped := s.Acked(), s.Dropped()
	if s.LastSeq() != ^uint64(0) {
		next := Record{Seq: s.LastSeq() + 1, Payload: []byte("next")}
		if err := s.Append(next.Seq, next.Payload); err != nil {
			bad = append(bad, fmt.Sprintf("append after recovery: %v", err))
		} else {
			want = append(want, next)
		}
	}
	s.Close()
	s2, err := open(dir, fuzzMax, 64<<10, true)
	if err != nil {
		return append(bad, fmt.Sprintf("reopen: %v", err))
	}
	defer s2.Close()
	if r := s2.Recovered(); r != (Recovery{}) {
		bad = append(bad, fmt.Sprintf("second open recovered %+v", r))
	}
	got, err := s2.Pending()
	if err != nil {
		return append(bad, fmt.Sprintf("pending after reopen: %v", err))
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(bytes.Equal)); diff != "" {
		bad = append(bad, "pending after append and reopen (-want +got):\n"+diff)
	}
	if s2.Acked() != acked || s2.Dropped() != dropped {
		bad = append(bad, fmt.Sprintf("reopened with acked %d, dropped %d; want %d, %d", s2.Acked(), s2.Dropped(), acked, dropped))
	}
	return bad
}

// fuzzSeeds returns good, torn and damaged segments and state files.
func fuzzSeeds(t testing.TB) [][3][]byte {
	good := func(recs ...Record) []byte {
		var b []byte
		for _, r := range recs {
			b = append(b, encodeRecord(r.Seq, r.Payload)...)
		}
		return b
	}
	seg := good(Record{1, []byte("one")}, Record{2, nil}, Record{7, []byte("seven")})
	seg2 := good(Record{8, []byte("eight")}, Record{9, bytes.Repeat([]byte{9}, 100)})
	state := make([]byte, stateSize)
	binary.LittleEndian.PutUint64(state, 1)
	binary.LittleEndian.PutUint64(state[8:], 3)
	binary.LittleEndian.PutUint32(state[16:], crc32.Checksum(state[:16], castagnoli))
	flipped := slices.Clone(seg)
	flipped[headerSize+1] ^= 0x40
	return [][3][]byte{
		{seg, state, seg2},
		{seg, state, seg},
		{seg[:len(seg)-3], []byte{}, []byte{}},
		{append(slices.Clone(seg), 0xff, 0xff, 0xff, 0x7f), state[:10], seg[:20]},
		{[]byte{}, []byte("junk"), seg},
		{make([]byte, 64), state, []byte("\x00\x00\x00\x01")},
		{flipped, state, seg2},
	}
}

// FuzzOpen writes the fuzzer's bytes as two segments and the state file.
// Open must not fail or panic; what it keeps, cuts and counts must be what
// the package documentation says (checkOpen); and the recovered spool must
// take a new record and reopen clean (checkAppendReopen).
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, seg1, state, seg2 []byte) {
		if len(seg1)+len(seg2)+headerSize+4 > fuzzMax {
			t.Skip("larger than the spool")
		}
		in := openInput{seg1: seg1, seg2: seg2, state: state}
		dir := t.TempDir()
		in.write(t, dir)
		s, err := open(dir, fuzzMax, 64<<10, true)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		bad := checkOpen(in, s)
		bad = append(bad, checkAppendReopen(dir, s)...)
		for _, b := range bad {
			t.Error(b)
		}
	})
}

// TestOpenPropertiesCatchFaults shows that each property FuzzOpen checks
// fails on a spool that breaks it, so that the fuzzer cannot pass by
// checking nothing.
func TestOpenPropertiesCatchFaults(t *testing.T) {
	seeds := fuzzSeeds(t)
	in := openInput{seg1: seeds[0][0], state: seeds[0][1], seg2: seeds[0][2]}
	torn := openInput{seg1: seeds[2][0], state: seeds[2][1], seg2: seeds[2][2]}
	opened := func(t *testing.T, in openInput) (string, *Spool) {
		dir := t.TempDir()
		in.write(t, dir)
		s, err := open(dir, fuzzMax, 64<<10, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return dir, s
	}
	for _, good := range []openInput{in, torn} {
		_, s := opened(t, good)
		if bad := checkOpen(good, s); len(bad) > 0 {
			t.Fatalf("a sound spool breaks the properties: %v", bad)
		}
	}
	// Record 7 rewritten with a good checksum: its payload is right only
	// if it is what was appended.
	forged := slices.Clone(in.seg1)
	copy(forged[2*headerSize+len("one"):], encodeRecord(7, []byte("neves")))
	for _, c := range []struct {
		name   string
		in     openInput
		tamper func(s *Spool)
	}{
		{"a cut record not counted as dropped", torn, func(s *Spool) { s.dropped-- }},
		{"the state's dropped count lost", in, func(s *Spool) { s.dropped = 0 }},
		{"cut bytes not reported", torn, func(s *Spool) { s.rec.Bytes-- }},
		{"cut records not reported", torn, func(s *Spool) { s.rec.Records, s.dropped = 0, 0 }},
		{"a lost state not reported", torn, func(s *Spool) { s.rec.StateLost = false }},
		{"a record hidden", in, func(s *Spool) { s.acked++ }},
		{"last seq wrong", in, func(s *Spool) { s.last-- }},
		{"a record forged", in, func(s *Spool) {
			if err := os.WriteFile(s.segPath(1), forged, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"a record that is not in the input", in, func(s *Spool) {
			extra := encodeRecord(100, make([]byte, len(in.seg1)+len(in.seg2)))
			appendTo(t, s.segPath(2), extra)
			s.segs[1].n++
			s.segs[1].size += int64(len(extra))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, s := opened(t, c.in)
			c.tamper(s)
			if bad := checkOpen(c.in, s); len(bad) == 0 {
				t.Error("checkOpen found nothing wrong")
			}
		})
	}
	t.Run("append and reopen sound", func(t *testing.T) {
		dir, s := opened(t, torn)
		if bad := checkAppendReopen(dir, s); len(bad) > 0 {
			t.Fatalf("a sound spool breaks the properties: %v", bad)
		}
	})
	t.Run("records lost on reopen", func(t *testing.T) {
		dir, s := opened(t, in)
		if err := os.Remove(s.segPath(1)); err != nil {
			t.Fatal(err)
		}
		if bad := checkAppendReopen(dir, s); len(bad) == 0 {
			t.Error("checkAppendReopen found nothing wrong")
		}
	})
	t.Run("damage on reopen", func(t *testing.T) {
		dir, s := opened(t, in)
		appendTo(t, s.segPath(1), []byte("torn"))
		if bad := checkAppendReopen(dir, s); len(bad) == 0 {
			t.Error("checkAppendReopen found nothing wrong")
		}
	})
}

func appendTo(t *testing.T, p string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}
