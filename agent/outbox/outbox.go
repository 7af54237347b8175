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
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/farmwatch/farmwatch/agent/spool"
	"github.com/farmwatch/farmwatch/agent/statefile"
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
	sent         map[string]*fwv1.Observation // the state last queued, by key; nil: queue a full state next
	lastDropped  uint64
	lastFindings []*fwv1.Finding
	queued       chan struct{} // a message was queued
}

// Recovery is what Open found damaged and cut from the spool: those
// messages count as dropped.
type Recovery = spool.Recovery

// Open opens the outbox of a state directory, with a spool of at most
// maxBytes.
func Open(dir string, maxBytes int64) (*Outbox, Recovery, error) {
	seq, err := readSeq(dir)
	if err != nil {
		return nil, Recovery{}, err
	}
	sp, err := spool.Open(filepath.Join(dir, "spool"), maxBytes)
	if err != nil {
		return nil, Recovery{}, err
	}
	if last := sp.LastSeq(); last > seq {
		seq = last // never reuse a number the spool holds
	}
	o := &Outbox{dir: dir, sp: sp, seq: seq, lastDropped: sp.Dropped(), queued: make(chan struct{}, 1)}
	return o, sp.Recovered(), nil
}

// Close releases the spool.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sp.Close()
}

// readSeq reads the last sequence number used; 0 when there is none yet.
func readSeq(dir string) (uint64, error) {
	p := filepath.Join(dir, "seq")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("state %s: %w", p, err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("state %s: %w", p, err)
	}
	return n, nil
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
// It returns once the message is on disk; an error means the agent can no
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
// committed them.
func (o *Outbox) Ack(seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.sp.Ack(seq); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

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

func (o *Outbox) remember(obs []*fwv1.Observation) {
	m := make(map[string]*fwv1.Observation, len(obs))
	for _, ob := range obs {
		m[ob.Key] = ob
	}
	o.sent = m
}

// delta is what changed since the state last queued.
func (o *Outbox) delta(rep *fwv1.Report) *fwv1.Delta {
	prev := o.sent
	d := &fwv1.Delta{Findings: rep.Findings, Sensors: rep.Sensors}
	now := make(map[string]bool, len(rep.Observations))
	for _, ob := range rep.Observations {
		now[ob.Key] = true
		if old, ok := prev[ob.Key]; !ok || !proto.Equal(old, ob) {
			d.Upserted = append(d.Upserted, ob)
		}
	}
	for k := range prev {
		if !now[k] {
			d.Removed = append(d.Removed, k)
		}
	}
	o.remember(rep.Observations)
	return d
}
