// Package outbox turns the agent's scans into the sequenced messages it owes
// its collector and keeps them, on the on-disk spool (agent/spool), until
// the collector acknowledges them. A scan becomes a full state when nothing
// was queued yet and after any loss (the spool dropped messages), a delta
// against the last state queued otherwise, and nothing when nothing
// changed. Sequence numbers are written to the state directory before they
// are used, so a restarted agent never reuses one.
//
// Files in the state directory: "seq" (the last sequence number used, in
// decimal) and "spool/" (the spool).
package outbox

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/farmwatch/farmwatch/agent/spool"
	"github.com/farmwatch/farmwatch/agent/statefile"
	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Outbox is the agent's queue of messages for its collector. It is safe
// for concurrent use: the scan loop puts, the stream drains and acks.
type Outbox struct {
	dir string

	mu           sync.Mutex // guards everything below
	sp           *spool.Spool
	seq          uint64
	sent         map[string]digest // the state last queued, by key; nil: queue a full state next
	buf          []byte            // for digests, reused
	lastDropped  uint64
	lastFindings []*fwv1.Finding
	queued       chan struct{} // a message was queued
	needFull     chan struct{} // the collector asked for a full state
}

// ErrImpossibleAck is an acknowledgement of a message the agent never
// queued: a broken or hostile collector. It changes nothing.
var ErrImpossibleAck = errors.New("acknowledgement of a message never sent")

// Recovery is what Open found damaged: the part of the spool it cut
// (those messages count as dropped), and a sequence file it set aside.
type Recovery struct {
	Spool spool.Recovery
	Seq   error // the damaged sequence file, set aside; nil when it was sound
}

// Open opens the outbox of a state directory, with a spool of at most
// maxBytes. A damaged sequence file is set aside and reported in the
// Recovery, never fatal: numbering goes on from the spool's last number,
// and if that is below what the collector applied, the collector asks for
// a resync.
func Open(dir string, maxBytes int64) (*Outbox, Recovery, error) {
	var rec Recovery
	seq, err := readSeq(dir)
	if err != nil {
		rec.Seq = err
	}
	sp, err := spool.Open(filepath.Join(dir, "spool"), maxBytes)
	if err != nil {
		return nil, rec, err
	}
	rec.Spool = sp.Recovered()
	if last := sp.LastSeq(); last > seq {
		seq = last // never reuse a number the spool holds
	}
	o := &Outbox{dir: dir, sp: sp, seq: seq, lastDropped: sp.Dropped(), queued: make(chan struct{}, 1), needFull: make(chan struct{}, 1)}
	return o, rec, nil
}

// Close releases the spool.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sp.Close()
}

// readSeq reads the last sequence number used; 0 when there is none yet,
// or when the file is damaged (then set aside, and the error says so).
func readSeq(dir string) (uint64, error) {
	var n uint64
	_, _, err := statefile.Read(filepath.Join(dir, "seq"), func(b []byte) error {
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return err
		}
		if v > limits.MaxSeq {
			return fmt.Errorf("%d is above the largest message number", v)
		}
		n = v
		return nil
	})
	return n, err
}

func (o *Outbox) nextSeqLocked() (uint64, error) {
	o.seq++
	if err := statefile.Write(filepath.Join(o.dir, "seq"), []byte(strconv.FormatUint(o.seq, 10)+"\n")); err != nil {
		return 0, err
	}
	return o.seq, nil
}

// Put queues a scan: a full state when nothing was queued yet or the spool
// dropped messages since, a delta otherwise, nothing when nothing changed.
// It returns once the message is on disk. An error wrapping
// spool.ErrTooLarge is a scan too large for the spool, which was not
// queued (the agent goes on); any other error means the agent can no
// longer keep its promise not to lose data.
func (o *Outbox) Put(rep *fwv1.Report) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	dropped := o.sp.Dropped()
	var m *fwv1.AgentMessage
	if o.sent == nil || dropped != o.lastDropped {
		m = &fwv1.AgentMessage{Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{
			Observations: rep.Observations, Findings: rep.Findings, Sensors: rep.Sensors, SpoolDropped: dropped}}}
		o.remember(rep.Observations)
	} else {
		d := o.delta(rep)
		if len(d.Upserted) == 0 && len(d.Removed) == 0 && sameFindings(d.Findings, o.lastFindings) {
			return nil
		}
		d.SpoolDropped = dropped
		m = &fwv1.AgentMessage{Body: &fwv1.AgentMessage_Delta{Delta: d}}
	}
	o.lastFindings = rep.Findings
	o.lastDropped = dropped
	seq, err := o.nextSeqLocked()
	if err != nil {
		return err
	}
	m.Seq, m.Sent = seq, timestamppb.Now()
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("spool: encode #%d: %w", seq, err)
	}
	if err := o.sp.Append(seq, b); err != nil {
		if errors.Is(err, spool.ErrTooLarge) {
			// Not queued: the next message is a full state again, and its
			// number follows this one's gap.
			o.sent, o.lastFindings = nil, nil
		}
		return fmt.Errorf("spool: %w", err)
	}
	// Messages a full state's append dropped to make room came before it,
	// and it supersedes them: only later drops call for the next full
	// state (otherwise a full spool would queue a full state at every scan
	// while the collector is away). A delta's drops may have taken its
	// base, so they do call for one.
	if m.GetFull() != nil {
		o.lastDropped = o.sp.Dropped()
	}
	select {
	case o.queued <- struct{}{}:
	default:
	}
	return nil
}

// Queued is signalled after a message was queued.
func (o *Outbox) Queued() <-chan struct{} { return o.queued }

// After returns the queued messages with a sequence number above seq, in
// order.
func (o *Outbox) After(seq uint64) ([]*fwv1.AgentMessage, error) {
	o.mu.Lock()
	recs, err := o.sp.Pending()
	o.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []*fwv1.AgentMessage
	for _, r := range recs {
		if r.Seq <= seq {
			continue
		}
		m := &fwv1.AgentMessage{}
		if err := proto.Unmarshal(r.Payload, m); err != nil {
			return nil, fmt.Errorf("spool: record #%d: %w", r.Seq, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Ack removes every message up to and including seq: the collector has
// committed them. An ack of a number the agent has not used is refused
// with ErrImpossibleAck and changes nothing (the spool would otherwise
// refuse every later number, for good).
func (o *Outbox) Ack(seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if seq > o.seq {
		return fmt.Errorf("ack #%d, the last message queued is #%d: %w", seq, o.seq, ErrImpossibleAck)
	}
	if err := o.sp.Ack(seq); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Resync does what the collector asks when it can apply nothing of what
// is queued: every queued message is dropped (and counted as dropped), the
// numbering goes on at next, and the next Put is a full state; NeedFull is
// signalled so the agent scans soon. next must be at least 1.
func (o *Outbox) Resync(next uint64) error {
	if next == 0 {
		return fmt.Errorf("resync to message #0")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.sp.Reset(next - 1); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	o.seq = next - 1
	if err := statefile.Write(filepath.Join(o.dir, "seq"), []byte(strconv.FormatUint(o.seq, 10)+"\n")); err != nil {
		return err
	}
	o.sent = nil // the next message is a full state
	o.lastFindings = nil
	select {
	case o.needFull <- struct{}{}:
	default:
	}
	return nil
}

// NeedFull is signalled when the collector asked for a full state.
func (o *Outbox) NeedFull() <-chan struct{} { return o.needFull }

// Dropped is how many messages the spool ever had to drop.
func (o *Outbox) Dropped() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sp.Dropped()
}

// LastSeq is the last sequence number used.
func (o *Outbox) LastSeq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seq
}

func sameFindings(a, b []*fwv1.Finding) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// digest stands for an observation as it was queued: the SHA-256 of its
// deterministic encoding. Keeping digests rather than the observations
// themselves (a thousand processes' worth on a busy host) keeps an idle
// agent's heap small; equal encodings are equal observations.
type digest [sha256.Size]byte

// unknown is the digest of an observation that did not encode; it equals
// none, so the observation is sent again (and its encoding error reported
// by the message's).
var unknown digest

func (o *Outbox) digest(ob *fwv1.Observation) (digest, bool) {
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(o.buf[:0], ob)
	if err != nil {
		return unknown, false
	}
	o.buf = b
	return sha256.Sum256(b), true
}

func (o *Outbox) remember(obs []*fwv1.Observation) {
	m := make(map[string]digest, len(obs))
	for _, ob := range obs {
		m[ob.Key], _ = o.digest(ob)
	}
	o.sent = m
	o.trimBuf()
}

// trimBuf lets go of a digest buffer one large observation grew.
func (o *Outbox) trimBuf() {
	if cap(o.buf) > 64<<10 {
		o.buf = nil
	}
}

// delta is what changed since the state last queued.
func (o *Outbox) delta(rep *fwv1.Report) *fwv1.Delta {
	prev := o.sent
	d := &fwv1.Delta{Findings: rep.Findings, Sensors: rep.Sensors}
	next := make(map[string]digest, len(rep.Observations))
	for _, ob := range rep.Observations {
		sum, ok := o.digest(ob)
		next[ob.Key] = sum
		if old, seen := prev[ob.Key]; !ok || !seen || old != sum {
			d.Upserted = append(d.Upserted, ob)
		}
	}
	for k := range prev {
		if _, ok := next[k]; !ok {
			d.Removed = append(d.Removed, k)
		}
	}
	o.sent = next
	o.trimBuf()
	return d
}
