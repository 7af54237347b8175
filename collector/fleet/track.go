package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Tracker keeps the identity of clusters across recomputations: a cluster
// that grows, shrinks or changes its signals keeps its id and its first
// seen while it shares a host with the one before; each signal keeps its
// first seen while it lasts.
type Tracker struct {
	open []*fwv1.Cluster
}

// NewTracker starts from the open clusters a store kept.
func NewTracker(open []*fwv1.Cluster) *Tracker { return &Tracker{open: open} }

// Open are the clusters open now.
func (t *Tracker) Open() []*fwv1.Cluster { return t.open }

// Assign gives the clusters found at now their ids and times: those of the
// open cluster they share most hosts with (each open cluster goes to one
// found cluster at most), or new ones.
func (t *Tracker) Assign(now time.Time, found []*fwv1.Cluster) {
	used := map[string]bool{}
	for _, c := range found {
		var best *fwv1.Cluster
		bestN := 0
		hosts := memberIDs(c)
		for _, o := range t.open {
			if used[o.GetId()] {
				continue
			}
			n := 0
			for _, m := range o.GetMembers() {
				if slices.Contains(hosts, m.GetHostId()) {
					n++
				}
			}
			if n > bestN || (n == bestN && n > 0 && o.GetFirstSeen().AsTime().Before(best.GetFirstSeen().AsTime())) {
				best, bestN = o, n
			}
		}
		c.LastSeen = timestamppb.New(now)
		if best == nil {
			c.Id, c.FirstSeen = newID(hosts, now), timestamppb.New(now)
		} else {
			used[best.GetId()] = true
			c.Id, c.FirstSeen = best.GetId(), best.GetFirstSeen()
		}
		c.SharedSeconds = int64(now.Sub(c.GetFirstSeen().AsTime()) / time.Second)
		for _, s := range c.GetSignals() {
			s.FirstSeen, s.LastSeen = timestamppb.New(now), timestamppb.New(now)
			if best != nil {
				for _, p := range best.GetSignals() {
					if p.GetKind() == s.GetKind() && p.GetValue() == s.GetValue() {
						s.FirstSeen = p.GetFirstSeen()
					}
				}
			}
			s.SharedSeconds = int64(now.Sub(s.GetFirstSeen().AsTime()) / time.Second)
		}
	}
}

// Settle makes the judged clusters the open ones, and returns the open
// clusters before that are no longer among them: they are resolved.
func (t *Tracker) Settle(judged []*fwv1.Cluster) (resolved []*fwv1.Cluster) {
	now := map[string]bool{}
	for _, c := range judged {
		now[c.GetId()] = true
	}
	for _, o := range t.open {
		if !now[o.GetId()] {
			o.State = "resolved"
			resolved = append(resolved, o)
		}
	}
	t.open = judged
	return resolved
}

func memberIDs(c *fwv1.Cluster) []string {
	var ids []string
	for _, m := range c.GetMembers() {
		ids = append(ids, m.GetHostId())
	}
	return ids
}

// newID names a new cluster: "c-" and 10 hex digits of a hash of its
// hosts and the time.
func newID(hosts []string, now time.Time) string {
	h := sha256.Sum256([]byte(strings.Join(hosts, ",") + fmt.Sprint(now.UnixNano())))
	return "c-" + hex.EncodeToString(h[:5])
}
