package output

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/rs/zerolog"
)

// Outputs finds the store's finding events and hands them to every
// webhook's queue and every syslog receiver.
type Outputs struct {
	Store    store.Store
	Webhooks []*Webhook
	Syslogs  []*Syslog
	Log      zerolog.Logger
	Metrics  *Metrics
	Version  string // the collector's, in the OCSF metadata
	// StateFile keeps what was last sent, so events that happen while
	// the collector is down are sent after it restarts; Ledger, when set,
	// keeps it instead (shared by the replicas of a fleet).
	StateFile string
	Ledger    Ledger
	// Lead, when set, runs the comparison only while this collector is
	// the one of its fleet that sends (replica.RunLocked): it calls its
	// function whenever it becomes so, until ctx ends. The senders of the
	// events already queued here run always.
	Lead  func(ctx context.Context, f func(context.Context))
	Every time.Duration // how often the store is compared; 2 s when zero
	Now   func() time.Time
}

// seen is what was last sent of one finding or cluster.
type seen struct {
	State     string        `json:"s"`
	Severity  fwv1.Severity `json:"v"`
	Triage    string        `json:"t,omitempty"`
	Suppress  string        `json:"x,omitempty"`
	FirstSeen int64         `json:"f"`
}

// Run compares and sends until ctx ends; every goroutine it starts ends
// before it returns.
func (o *Outputs) Run(ctx context.Context) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	every := o.Every
	if every <= 0 {
		every = 2 * time.Second
	}
	for _, s := range o.Syslogs {
		s.q = make(chan []byte, syslogQueue)
	}
	ledger := o.Ledger
	if ledger == nil {
		ledger = &fileLedger{path: o.StateFile}
	}
	done := make(chan struct{})
	n := 0
	for _, w := range o.Webhooks {
		n++
		go func() { w.Run(ctx); done <- struct{}{} }()
	}
	for _, s := range o.Syslogs {
		n++
		go func() { s.Run(ctx); done <- struct{}{} }()
	}
	defer func() {
		for range n {
			<-done
		}
	}()
	if o.Lead != nil {
		o.Lead(ctx, func(ctx context.Context) { o.compareEvery(ctx, ledger, every) })
		return nil
	}
	o.compareEvery(ctx, ledger, every)
	return nil
}

// compareEvery compares the store with the ledger's state and sends the
// events, every period until ctx ends.
func (o *Outputs) compareEvery(ctx context.Context, ledger Ledger, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		err := ledger.Turn(ctx, func(prev []byte) ([]byte, error) {
			evs, next, err := o.compare(ctx, o.decode(prev))
			if err != nil {
				return nil, err
			}
			for _, e := range evs {
				o.emit(e)
			}
			return json.Marshal(next)
		})
		switch {
		case errors.Is(err, errNotSaved):
			o.Log.Error().Err(err).Msg("outputs: state not saved: events may be sent again after a restart")
		case err != nil && ctx.Err() == nil:
			o.Log.Warn().Err(err).Msg("outputs: store not read")
		}
		for _, w := range o.Webhooks {
			o.Metrics.setQueued("webhook "+redact(w.URL), w.Queue.Len())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// compare reads the store and returns the events since state, and the
// new state. A nil state (no state file yet) is a first start: what is
// open now is taken as known, and nothing is sent for it.
func (o *Outputs) compare(ctx context.Context, state map[string]seen) ([]Event, map[string]seen, error) {
	hosts, err := o.Store.Hosts(ctx)
	if err != nil {
		return nil, nil, err
	}
	byID := map[string]store.Host{}
	for _, h := range hosts {
		byID[h.ID] = h
	}
	rows, err := o.Store.Findings(ctx, store.FindingFilter{All: true})
	if err != nil {
		return nil, nil, err
	}
	clusters, err := o.Store.Clusters(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	first := state == nil
	now := o.Now()
	next := map[string]seen{}
	var evs []Event
	judge := func(key string, cur seen, ev Event) {
		next[key] = cur
		if first {
			return
		}
		prev, known := state[key]
		switch {
		case !known && cur.State == string(store.Open):
			ev.Kind = Opened
		case !known:
			return // opened and resolved between two looks
		case prev.State != cur.State && cur.State == string(store.Open), cur.State == string(store.Open) && prev.FirstSeen != cur.FirstSeen:
			ev.Kind = Opened // again
		case prev.State != cur.State:
			ev.Kind = Resolved
		case cur.State == string(store.Open) && (prev.Severity != cur.Severity || prev.Triage != cur.Triage || prev.Suppress != cur.Suppress):
			ev.Kind = Changed
		default:
			return
		}
		ev.At = now
		evs = append(evs, ev)
	}
	for _, r := range rows {
		h := byID[r.HostID]
		cur := seen{State: string(r.State), Severity: r.Finding.GetSeverity(), Triage: string(r.TriageState()), Suppress: r.Finding.GetSuppressedBy(), FirstSeen: r.FirstSeen.UnixMilli()}
		judge("f|"+r.HostID+"|"+r.ID, cur, Event{HostID: r.HostID, Hostname: r.Hostname, OS: h.OS, EgressIP: h.EgressIP, FindingID: r.ID,
			Finding: r.Finding, Triage: string(r.TriageState()), FirstSeen: r.FirstSeen, LastSeen: r.LastSeen})
	}
	for _, cl := range clusters {
		cur := seen{State: cl.GetState(), Severity: cl.GetSeverity(), FirstSeen: cl.GetFirstSeen().AsTime().UnixMilli()}
		judge("c|"+cl.GetId(), cur, Event{FindingID: cl.GetId(), Cluster: cl, Finding: clusterFinding(cl),
			FirstSeen: cl.GetFirstSeen().AsTime(), LastSeen: cl.GetLastSeen().AsTime()})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].FirstSeen.Before(evs[j].FirstSeen) })
	if first {
		o.Log.Info().Int("known", len(next)).Msg("outputs: first start: findings open now are taken as sent")
	}
	return evs, next, nil
}

func (o *Outputs) emit(e Event) {
	body, err := json.Marshal(ToOCSF(e, o.Version))
	if err != nil {
		o.Log.Error().Err(err).Msg("outputs: event not encoded")
		return
	}
	for _, w := range o.Webhooks {
		n, err := w.Queue.Put(body)
		if err != nil {
			o.Metrics.drop("webhook "+redact(w.URL), 1)
			o.Log.Error().Err(err).Str("output", redact(w.URL)).Msg("event not queued: dropped")
		}
		if n > 0 {
			o.Metrics.drop("webhook "+redact(w.URL), n)
			o.Log.Error().Int("dropped", n).Str("output", redact(w.URL)).Msg("webhook queue full: oldest events dropped")
		}
	}
	for _, s := range o.Syslogs {
		s.Send(e, e.At)
	}
}

// decode reads a saved state; none (nil) is a first start, and so is a
// damaged one, loudly.
func (o *Outputs) decode(b []byte) map[string]seen {
	if b == nil {
		return nil
	}
	var st map[string]seen
	if err := json.Unmarshal(b, &st); err != nil {
		o.Log.Error().Err(err).Str("file", o.StateFile).Msg("outputs: state file damaged: starting over (events open now are not sent)")
		return nil
	}
	if st == nil {
		st = map[string]seen{}
	}
	return st
}
