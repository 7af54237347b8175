package server

import (
	"context"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Relay joins the replicas of one fleet (collector/replica, on
// PostgreSQL): each replica holds the streams of the agents connected to
// it, and what is asked of a host held by another replica goes through the
// relay. A collector alone has none.
type Relay interface {
	// Attached and Detached say that this replica now holds, or no
	// longer holds, a host's stream. They do not wait.
	Attached(hostID string)
	Detached(hostID string)
	// Online says which of hostIDs (every host when nil) have a stream
	// held by some replica.
	Online(ctx context.Context, hostIDs []string) (map[string]bool, error)
	// Scan asks the replica that holds the host's stream for a scan, and
	// returns its report or its refusal (an *Error).
	Scan(ctx context.Context, hostID string, timeout time.Duration) (*fwv1.Report, error)
	// Reset tells the replica that holds the host's stream, if any, that
	// the host was reset.
	Reset(ctx context.Context, hostID string)
	// ClaimHunt records that this replica puts hunt id to hosts (host id
	// -> hostname), and returns those no replica asked yet.
	ClaimHunt(ctx context.Context, id string, hosts map[string]string) (map[string]string, error)
	// Hunt puts h to the agents other replicas hold, and sends news of
	// it (hunt.go) until ctx ends. Every send gives up when ctx ends.
	Hunt(ctx context.Context, h RelayHunt, news chan<- HuntNews)
}

// Scan asks a host's agent to scan now and waits for its report: on this
// replica when it holds the host's stream, else through the relay.
func (s *Server) Scan(ctx context.Context, hostID string, timeout time.Duration) (*fwv1.Report, error) {
	if s.relay != nil && !s.online(hostID) {
		return s.relay.Scan(ctx, hostID, timeout)
	}
	return s.ScanLocal(ctx, hostID, timeout)
}

// DropSession ends the stream of a host that this replica holds, if it
// does: another replica took it over, or (reset) the host was reset and
// its key must no longer pass the edge's cache either.
func (s *Server) DropSession(hostID string, reset bool) {
	if reset {
		s.ForgetNodeKey(hostID)
	}
	s.mu.Lock()
	sess := s.sessions[hostID]
	if sess != nil {
		delete(s.sessions, hostID)
		close(sess.done)
	}
	s.mu.Unlock()
	if sess != nil && s.relay != nil && reset {
		s.relay.Detached(hostID)
	}
}

// onlineElsewhere adds to sums the hosts whose streams other replicas
// hold.
func (s *Server) onlineElsewhere(ctx context.Context, sums []*fwv1.HostSummary) error {
	if s.relay == nil {
		return nil
	}
	var ids []string
	if len(sums) < 100 {
		for _, sum := range sums {
			ids = append(ids, sum.HostId)
		}
	}
	on, err := s.relay.Online(ctx, ids)
	if err != nil {
		return err
	}
	for _, sum := range sums {
		sum.Online = sum.Online || on[sum.HostId]
	}
	return nil
}
