package spool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func payload(seq uint64, n int) []byte {
	b := bytes.Repeat([]byte{byte(seq)}, n)
	copy(b, fmt.Sprintf("msg-%d:", seq))
	return b
}

func mustOpen(t testing.TB, dir string, maxBytes, segMax int64) *Spool {
	t.Helper()
	s, err := open(dir, maxBytes, segMax, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendRange(t testing.TB, s *Spool, from, to uint64, n int) {
	t.Helper()
	for seq := from; seq <= to; seq++ {
		if err := s.Append(seq, payload(seq, n)); err != nil {
			t.Fatalf("append %d: %v", seq, err)
		}
	}
}

// seqs returns the seqs Pending holds, checking every payload.
func seqs(t testing.TB, s *Spool, n int) []uint64 {
	t.Helper()
	rs, err := s.Pending()
	if err != nil {
		t.Fatalf("pending: %v", err)
	}
	out := []uint64{}
	for _, r := range rs {
		if !bytes.Equal(r.Payload, payload(r.Seq, n)) {
			t.Fatalf("record %d: payload %q", r.Seq, r.Payload)
		}
		out = append(out, r.Seq)
	}
	return out
}

func span(from, to uint64) []uint64 {
	out := []uint64{}
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func TestAppendPendingAckRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := mustOpen(t, dir, 1<<20, 64<<10)
	if fi, err := os.Stat(dir); err != nil || (fi.Mode().Perm()&0o077 != 0 && os.PathSeparator == '/') {
		t.Fatalf("spool dir: %v, want mode 0700", err)
	}
	if got := seqs(t, s, 100); len(got) != 0 {
		t.Fatalf("new spool pending %v", got)
	}
	appendRange(t, s, 1, 10, 100)
	if diff := cmp.Diff(span(1, 10), seqs(t, s, 100)); diff != "" {
		t.Fatalf("pending (-want +got):\n%s", diff)
	}
	if err := s.Ack(4); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(2); err != nil { // an old ack changes nothing
		t.Fatal(err)
	}
	if diff := cmp.Diff(span(5, 10), seqs(t, s, 100)); diff != "" {
		t.Fatalf("after ack (-want +got):\n%s", diff)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(11, nil); err == nil {
		t.Fatal("append after close succeeded")
	}

	s = mustOpen(t, dir, 1<<20, 64<<10)
	if diff := cmp.Diff(span(5, 10), seqs(t, s, 100)); diff != "" {
		t.Fatalf("after reopen (-want +got):\n%s", diff)
	}
	if r := s.Recovered(); r != (Recovery{}) {
		t.Fatalf("clean reopen recovered %+v", r)
	}
	if s.LastSeq() != 10 || s.Acked() != 4 {
		t.Fatalf("last %d acked %d", s.LastSeq(), s.Acked())
	}
	appendRange(t, s, 11, 12, 100)
	if err := s.Ack(12); err != nil {
		t.Fatal(err)
	}
	if got := seqs(t, s, 100); len(got) != 0 {
		t.Fatalf("all acked, pending %v", got)
	}
	if got := segFiles(t, dir); len(got) != 0 {
		t.Fatalf("all acked, segments left: %v", got)
	}
	s.Close()

	// After everything is acked and deleted, the acked position still
	// refuses an old seq.
	s = mustOpen(t, dir, 1<<20, 64<<10)
	if err := s.Append(12, nil); err == nil {
		t.Fatal("append of an acked seq after reopen succeeded")
	}
	appendRange(t, s, 13, 13, 100)
	if diff := cmp.Diff([]uint64{13}, seqs(t, s, 100)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestRefused(t *testing.T) {
	s := mustOpen(t, t.TempDir(), 1<<20, 64<<10)
	appendRange(t, s, 5, 5, 10)
	for _, tc := range []struct {
		name    string
		seq     uint64
		payload []byte
		want    string
	}{
		{"same seq", 5, nil, "greater than 5"},
		{"lower seq", 4, nil, "greater than 5"},
		{"zero seq", 0, nil, "greater than 5"},
		{"oversized", 6, make([]byte, MaxPayload+1), "over the limit"},
		{"larger than spool", 6, make([]byte, 1<<20), "larger than the whole spool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Append(tc.seq, tc.payload)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	if diff := cmp.Diff([]uint64{5}, seqs(t, s, 10)); diff != "" {
		t.Fatalf("refusals changed the spool (-want +got):\n%s", diff)
	}
	if _, err := Open(t.TempDir(), MinBytes-1); err == nil {
		t.Fatal("open below the minimum size succeeded")
	}
}

func TestRolloverAndDelete(t *testing.T) {
	dir := t.TempDir()
	const n = 1000 // 1016 bytes a record: 4 records a 4 KiB segment
	s := mustOpen(t, dir, 1<<20, 4<<10)
	appendRange(t, s, 1, 10, n)
	if diff := cmp.Diff([]string{"00000001.seg", "00000002.seg", "00000003.seg"}, segFiles(t, dir)); diff != "" {
		t.Fatalf("segments (-want +got):\n%s", diff)
	}
	if s.Size() != 10*(n+headerSize) {
		t.Fatalf("size %d", s.Size())
	}
	if err := s.Ack(5); err != nil { // segment 1 (1-4) goes; 2 (5-8) is half acked
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"00000002.seg", "00000003.seg"}, segFiles(t, dir)); diff != "" {
		t.Fatalf("segments after ack 5 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(span(6, 10), seqs(t, s, n)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	s.Close()
	s = mustOpen(t, dir, 1<<20, 4<<10)
	if diff := cmp.Diff(span(6, 10), seqs(t, s, n)); diff != "" {
		t.Fatalf("after reopen (-want +got):\n%s", diff)
	}
	appendRange(t, s, 11, 13, n) // fills segment 3, then starts 4
	if diff := cmp.Diff([]string{"00000002.seg", "00000003.seg", "00000004.seg"}, segFiles(t, dir)); diff != "" {
		t.Fatalf("segments (-want +got):\n%s", diff)
	}
	if err := s.Ack(13); err != nil { // everything goes, the open one too
		t.Fatal(err)
	}
	if got := segFiles(t, dir); len(got) != 0 {
		t.Fatalf("segments left: %v", got)
	}
	appendRange(t, s, 14, 14, n)
	if diff := cmp.Diff([]string{"00000005.seg"}, segFiles(t, dir)); diff != "" {
		t.Fatalf("segments (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{14}, seqs(t, s, n)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestFullDropsOldest(t *testing.T) {
	dir := t.TempDir()
	const n = 1000 - headerSize // 1000 bytes a record
	// 64 KiB spool of 8 KiB segments: 8 records a segment, 65 records fit.
	s := mustOpen(t, dir, 64<<10, 8000)
	appendRange(t, s, 1, 65, n)
	if s.Dropped() != 0 {
		t.Fatalf("dropped %d before full", s.Dropped())
	}
	appendRange(t, s, 66, 66, n) // segment 1 (1-8) is dropped
	if s.Dropped() != 8 {
		t.Fatalf("dropped %d, want 8", s.Dropped())
	}
	if diff := cmp.Diff(span(9, 66), seqs(t, s, n)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if err := s.Ack(10); err != nil { // 9 and 10 of segment 2 acked: only 6 count
		t.Fatal(err)
	}
	appendRange(t, s, 67, 74, n) // 65-72 fill segment 9; 74 needs room
	if s.Dropped() != 8+6 {
		t.Fatalf("dropped %d, want 14", s.Dropped())
	}
	if s.Size() != 58*1000 {
		t.Fatalf("size %d over the bound", s.Size())
	}
	s.Close()

	s = mustOpen(t, dir, 64<<10, 8000)
	if s.Dropped() != 14 {
		t.Fatalf("dropped %d after reopen, want 14", s.Dropped())
	}
	if diff := cmp.Diff(span(17, 74), seqs(t, s, n)); diff != "" {
		t.Fatalf("after reopen (-want +got):\n%s", diff)
	}
	var total int64
	for _, f := range segFiles(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	if total > 64<<10 || total != s.Size() {
		t.Fatalf("segments take %d bytes, spool says %d, bound %d", total, s.Size(), 64<<10)
	}
	s.Close()

	// Reopened smaller, the spool drops its oldest segments at once:
	// 17-24, 25-32, 33-40 and 41-48 go, 26 000 bytes are left.
	s = mustOpen(t, dir, 30000, 8000)
	if s.Dropped() != 14+32 || s.Size() != 26000 {
		t.Fatalf("reopened smaller: dropped %d, size %d; want 46, 26000", s.Dropped(), s.Size())
	}
	if diff := cmp.Diff(span(49, 74), seqs(t, s, n)); diff != "" {
		t.Fatalf("after reopen smaller (-want +got):\n%s", diff)
	}
}

func TestDamage(t *testing.T) {
	const n = 100
	const rec = n + headerSize
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   []uint64 // pending after reopen
		lost   int      // records reported cut
		bytes  int64    // bytes reported cut
	}{
		{
			name:   "torn tail mid-record",
			damage: func(t *testing.T, dir string) { truncate(t, dir, "00000003.seg", rec+rec/2) },
			want:   span(1, 11),
			lost:   1,
			bytes:  rec / 2,
		},
		{
			name:   "torn tail mid-header",
			damage: func(t *testing.T, dir string) { truncate(t, dir, "00000003.seg", rec+5) },
			want:   span(1, 11),
			lost:   1,
			bytes:  5,
		},
		{
			name: "garbage appended",
			damage: func(t *testing.T, dir string) {
				appendBytes(t, dir, "00000003.seg", []byte("\x05\x00\x00\x00garbage-garbage-garbage"))
			},
			want:  span(1, 12),
			lost:  1,
			bytes: 27,
		},
		{
			name:   "zeros appended (preallocated tail)",
			damage: func(t *testing.T, dir string) { appendBytes(t, dir, "00000003.seg", make([]byte, 4096)) },
			want:   span(1, 12),
			lost:   1 + 4096/headerSize - 1, // zero-length records of seq 0: extent known
			bytes:  4096,
		},
		{
			name:   "byte flipped in the newest segment",
			damage: func(t *testing.T, dir string) { flip(t, dir, "00000003.seg", headerSize+10) },
			want:   span(1, 10),
			lost:   2, // 11 is damaged, 12 is cut with it
			bytes:  2 * rec,
		},
		{
			name:   "byte flipped in an older segment",
			damage: func(t *testing.T, dir string) { flip(t, dir, "00000001.seg", 2*rec+headerSize+1) },
			want:   append(span(1, 2), span(6, 12)...),
			lost:   3, // 3 is damaged, 4 and 5 are cut with it
			bytes:  3 * rec,
		},
		{
			name:   "seq flipped",
			damage: func(t *testing.T, dir string) { flip(t, dir, "00000002.seg", 8) },
			want:   append(span(1, 5), 11, 12),
			lost:   5, // 6 is damaged, 7 to 10 are cut with it
			bytes:  5 * rec,
		},
		{
			name:   "length flipped",
			damage: func(t *testing.T, dir string) { flip(t, dir, "00000002.seg", rec+3) },
			want:   append(span(1, 6), 11, 12),
			lost:   1, // the length is over the limit: nothing past it can be read
			bytes:  4 * rec,
		},
		{
			name:   "segment emptied",
			damage: func(t *testing.T, dir string) { truncate(t, dir, "00000002.seg", 0) },
			want:   append(span(1, 5), span(11, 12)...),
		},
		{
			name: "out of order segment",
			damage: func(t *testing.T, dir string) {
				b, err := os.ReadFile(filepath.Join(dir, "00000001.seg"))
				if err != nil {
					t.Fatal(err)
				}
				appendBytes(t, dir, "00000003.seg", b[:rec]) // seq 1 again
			},
			want:  span(1, 12),
			lost:  1,
			bytes: rec,
		},
		{
			name:   "state damaged",
			damage: func(t *testing.T, dir string) { flip(t, dir, stateName, 3) },
			want:   span(1, 12), // the ack of 2 is lost: sent again
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, 1<<20, 5*rec) // 5 records a segment
			appendRange(t, s, 1, 12, n)
			if err := s.Ack(2); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if tc.name != "state damaged" {
				// keep 1 and 2 visible: rewrite the state as "nothing acked"
				s.acked = 0
				if err := s.writeState(); err != nil {
					t.Fatal(err)
				}
			}
			tc.damage(t, dir)

			s = mustOpen(t, dir, 1<<20, 5*rec)
			if diff := cmp.Diff(tc.want, seqs(t, s, n)); diff != "" {
				t.Fatalf("pending (-want +got):\n%s", diff)
			}
			r := s.Recovered()
			if r.Records != tc.lost || r.Bytes != tc.bytes || r.StateLost != (tc.name == "state damaged") {
				t.Fatalf("recovered %+v, want %d records, %d bytes", r, tc.lost, tc.bytes)
			}
			if s.Dropped() != uint64(tc.lost) {
				t.Fatalf("dropped %d, want %d", s.Dropped(), tc.lost)
			}
			// The cut spool takes new records, and reopens clean.
			appendRange(t, s, 13, 14, n)
			s.Close()
			s = mustOpen(t, dir, 1<<20, 5*rec)
			if diff := cmp.Diff(append(slices.Clone(tc.want), 13, 14), seqs(t, s, n)); diff != "" {
				t.Fatalf("pending after second reopen (-want +got):\n%s", diff)
			}
			if r := s.Recovered(); r != (Recovery{}) {
				t.Fatalf("second reopen recovered %+v", r)
			}
			if s.Dropped() != uint64(tc.lost) {
				t.Fatalf("dropped %d after second reopen, want %d", s.Dropped(), tc.lost)
			}
		})
	}
}

func truncate(t *testing.T, dir, name string, size int64) {
	t.Helper()
	if err := os.Truncate(filepath.Join(dir, name), size); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, dir, name string, off int) {
	t.Helper()
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFormat pins the on-disk record layout the package doc describes.
func TestFormat(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, 64<<10)
	if err := s.Append(0x0102030405060708, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got, err := os.ReadFile(filepath.Join(dir, "00000001.seg"))
	if err != nil {
		t.Fatal(err)
	}
	want := binary.LittleEndian.AppendUint32(nil, 5)
	seq := binary.LittleEndian.AppendUint64(nil, 0x0102030405060708)
	want = binary.LittleEndian.AppendUint32(want, crc32.Checksum(append(slices.Clone(seq), "hello"...), crc32.MakeTable(crc32.Castagnoli)))
	want = append(append(want, seq...), "hello"...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("segment bytes (-want +got):\n%s", diff)
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, n := range []int{256, 4 << 10, 64 << 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, err := Open(b.TempDir(), 64<<20)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			p := make([]byte, n)
			b.SetBytes(int64(n))
			seq := uint64(0)
			for b.Loop() {
				seq++
				if err := s.Append(seq, p); err != nil {
					b.Fatal(err)
				}
				if seq%64 == 0 {
					if err := s.Ack(seq); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// Reset drops and counts what was pending, and numbering starts again
// below what was used, across a reopen.
func TestReset(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, MinBytes)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		if err := s.Append(seq, []byte("payload")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Ack(2); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(1); err != nil {
		t.Fatal(err)
	}
	if s.Dropped() != 3 || s.Size() != 0 {
		t.Fatalf("after reset: dropped %d, size %d; want 3 and 0", s.Dropped(), s.Size())
	}
	if err := s.Append(2, []byte("again")); err != nil {
		t.Fatalf("append after reset: %v", err)
	}
	s.Close()
	s, err = Open(dir, MinBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := s.Pending()
	if err != nil || len(recs) != 1 || recs[0].Seq != 2 || string(recs[0].Payload) != "again" || s.Dropped() != 3 {
		t.Fatalf("reopened: %v %v dropped %d", recs, err, s.Dropped())
	}
}
