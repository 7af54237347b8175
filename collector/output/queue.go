package output

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Queue is a bounded on-disk FIFO of messages for one output.
//
// Format: a directory of files named by a 20-digit sequence number and
// ".msg", each holding one message's bytes, written to a ".tmp" file,
// synced and renamed, so a crash leaves either the whole message or none.
// A ".tmp" file left by a crash is removed at Open. The oldest message is
// the lowest number. When a Put would pass Max messages, the oldest are
// dropped first and counted (Dropped): a receiver that is down for long
// loses its oldest events, never silently.
type Queue struct {
	dir string
	max int

	mu      sync.Mutex
	seqs    []uint64 // the messages on disk, oldest first
	next    uint64
	dropped uint64
	ready   chan struct{} // signalled on Put
}

// MaxMessageBytes bounds one queued message.
const MaxMessageBytes = 1 << 20

// OpenQueue opens (making it if needed) the queue in dir, keeping at most
// limit messages.
func OpenQueue(dir string, limit int) (*Queue, error) {
	if limit < 1 {
		return nil, fmt.Errorf("queue %s: limit %d: want at least 1", dir, limit)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", dir, err)
	}
	q := &Queue{dir: dir, max: limit, next: 1, ready: make(chan struct{}, 1)}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			os.Remove(filepath.Join(dir, name)) // a crash mid-write: the message was never queued
		case strings.HasSuffix(name, ".msg"):
			n, err := strconv.ParseUint(strings.TrimSuffix(name, ".msg"), 10, 64)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("queue %s: %s is not a queued message: move it away", dir, name)
			}
			q.seqs = append(q.seqs, n)
			q.next = max(q.next, n+1)
		}
	}
	slices.Sort(q.seqs)
	return q, nil
}

func (q *Queue) path(seq uint64) string { return filepath.Join(q.dir, fmt.Sprintf("%020d.msg", seq)) }

// Put queues b, dropping the oldest messages past the bound; it returns
// how many it dropped.
func (q *Queue) Put(b []byte) (int, error) {
	if len(b) > MaxMessageBytes {
		return 0, fmt.Errorf("queue %s: a message of %d bytes, over %d", q.dir, len(b), MaxMessageBytes)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	seq := q.next
	tmp := q.path(seq) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("queue %s: %w", q.dir, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, q.path(seq))
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("queue %s: %w", q.dir, err)
	}
	q.next++
	q.seqs = append(q.seqs, seq)
	dropped := 0
	for len(q.seqs) > q.max {
		if err := os.Remove(q.path(q.seqs[0])); err != nil && !errors.Is(err, os.ErrNotExist) {
			return dropped, fmt.Errorf("queue %s: drop: %w", q.dir, err)
		}
		q.seqs = q.seqs[1:]
		q.dropped++
		dropped++
	}
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return dropped, nil
}

// Peek returns the oldest message and its number; ok is false when the
// queue is empty.
func (q *Queue) Peek() (seq uint64, b []byte, ok bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.seqs) > 0 {
		seq = q.seqs[0]
		b, err = os.ReadFile(q.path(seq))
		if errors.Is(err, os.ErrNotExist) { // removed by hand: gone
			q.seqs = q.seqs[1:]
			continue
		}
		if err != nil {
			return 0, nil, false, fmt.Errorf("queue %s: %w", q.dir, err)
		}
		return seq, b, true, nil
	}
	return 0, nil, false, nil
}

// Done removes message seq once it is delivered. A message dropped in
// the meantime is no error.
func (q *Queue) Done(seq uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := slices.Index(q.seqs, seq)
	if i < 0 {
		return nil
	}
	if err := os.Remove(q.path(seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("queue %s: %w", q.dir, err)
	}
	q.seqs = slices.Delete(q.seqs, i, i+1)
	return nil
}

// Len is how many messages wait.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.seqs)
}

// Dropped is how many messages the bound has dropped since Open.
func (q *Queue) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// Ready is signalled after a Put.
func (q *Queue) Ready() <-chan struct{} { return q.ready }
