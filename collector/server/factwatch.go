package server

import (
	"slices"
	"strings"

	"github.com/farmwatch/farmwatch/collector/fleet"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// factWatch tells, for one session, whether an applied message can have
// changed what the clusters read of its host (fleet.FactsOf): its
// observations of fleet.FactKinds and its own device findings. Most
// messages are a few processes started and ended: they change neither,
// and the clusters need not read the host again (at 6000 agents those
// reads were a quarter of the collector's CPU). It belongs to the
// session's apply worker.
type factWatch struct {
	known   bool            // keys holds the host's fact observations (else: unknown, every message counts)
	keys    map[string]bool // the keys of the host's observations of FactKinds
	devices string          // the device findings FactsOf reads, as one string
}

// seed records the host's observations as the store holds them.
func (w *factWatch) seed(obs []*fwv1.Observation) {
	w.known, w.keys = true, map[string]bool{}
	for _, o := range obs {
		if factKind(o) {
			w.keys[o.GetKey()] = true
		}
	}
}

// applied records a committed message and says whether the host's facts
// may have changed. Until the watch is seeded or a full state comes, it
// does not know which removed keys were facts, so every message counts.
func (w *factWatch) applied(a *store.Apply) bool {
	changed := a.Full || !w.known
	if a.Full {
		w.known, w.keys = true, map[string]bool{}
	}
	for _, o := range a.Upserted {
		if factKind(o) {
			if w.keys != nil {
				w.keys[o.GetKey()] = true
			}
			changed = true
		}
	}
	for _, k := range a.Removed {
		if w.keys[k] {
			delete(w.keys, k)
			changed = true
		}
	}
	if d := deviceFindings(a.Findings); d != w.devices {
		w.devices, changed = d, true
	}
	return changed
}

func factKind(o *fwv1.Observation) bool {
	return slices.Contains(fleet.FactKinds, observation.KindOf(o))
}

// deviceFindings is what FactsOf reads of a host's findings (those that
// can name a device), in a stable order.
func deviceFindings(fs []*fwv1.Finding) string {
	var out []string
	for _, f := range fs {
		if f.GetSeverity() < fwv1.Severity_SEVERITY_MEDIUM || f.GetSuppressedBy() != "" || len(f.GetEvidence()) == 0 {
			continue
		}
		out = append(out, store.FindingID(f)+"|"+strings.Join(f.GetTags(), ","))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}
