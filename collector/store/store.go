// Package store is what the collector knows: enrolled hosts, their current
// observations, the lifecycle of their findings, and the fleet API's tokens.
// Store is the interface; each backend is a package (sqlite now, postgres
// later), and storetest is the suite every backend must pass.
package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// ErrNotFound is returned when a host or token does not exist.
var ErrNotFound = errors.New("not found")

// Sequence numbers: a host's messages are applied in the order of their
// numbers. The next one is the last applied plus one; a full state may be
// numbered further on (the agent's spool dropped the messages between) but
// within SeqWindow; no number is above MaxSeq (they are kept as signed
// 64-bit integers).
const (
	SeqWindow = 1 << 20
	MaxSeq    = limits.MaxSeq
)

// SequenceError is a message that is not the host's next one: nothing of
// it was applied, and the agent must send a full state numbered Next.
type SequenceError struct {
	Seq, Last uint64
	Reason    string
}

func (e *SequenceError) Error() string {
	return fmt.Sprintf("message #%d is not the next after #%d: %s", e.Seq, e.Last, e.Reason)
}

// Next is the number the agent's full state must carry.
func (e *SequenceError) Next() uint64 { return e.Last + 1 }

// CheckSeq says whether message seq of a host whose last applied message
// is last can be applied: (true, nil) when it is the next one, or a full
// state within the window; (false, nil) when it was applied before; a
// SequenceError otherwise. Every store calls it inside the transaction
// that applies the message.
func CheckSeq(seq, last uint64, full bool) (bool, error) {
	switch {
	case seq == 0:
		return false, &SequenceError{Seq: seq, Last: last, Reason: "message number 0 is never applied"}
	case seq <= last:
		return false, nil // applied before: nothing changes
	case seq > MaxSeq:
		return false, &SequenceError{Seq: seq, Last: last, Reason: fmt.Sprintf("above the largest number, %d", uint64(MaxSeq))}
	case seq-last > SeqWindow:
		return false, &SequenceError{Seq: seq, Last: last, Reason: fmt.Sprintf("more than %d past it", SeqWindow)}
	case seq != last+1 && !full:
		return false, &SequenceError{Seq: seq, Last: last, Reason: "a delta after a gap: its base may be missing"}
	}
	return true, nil
}

// Host is one enrolled host.
type Host struct {
	ID           string
	Hostname     string
	OS           string
	Info         *fwv1.HostInfo
	NodeKeyHash  []byte
	EnrolledAt   time.Time
	LastSeen     time.Time
	EgressIP     string
	LastSeq      uint64 // the highest applied message
	SpoolDropped uint64
	// What the agent said of itself in its last hello.
	AgentVersion string
	RulesVersion string // the rule bundle it uses
	RulesError   string // why it refused the last bundle sent, if it did
	Refused      uint64 // messages refused (over the limits, out of sequence)
}

// Enrollment is an agent's request for a node key.
type Enrollment struct {
	Host Host // the host as the request describes it, with the new key's hash
	// PresentedKeyHash is the hash of the node key the agent holds, when
	// it enrols again under its id; nil for none.
	PresentedKeyHash []byte
	RequestID        string // the agent's id of this request, for approval
	Peer             string
}

// EnrollOutcome is what became of an enrolment.
type EnrollOutcome int

// The outcomes of an enrolment.
const (
	Enrolled   EnrollOutcome = iota + 1 // a new host
	Rekeyed                             // an enrolled host that proved itself with its key
	ResetTaken                          // an enrolled host an admin reset
	Approved                            // an enrolled host whose request an admin approved
	Pending                             // refused: waits for an admin's approval
)

// MaxPending bounds the enrolments waiting for approval of one host; a
// new one past it pushes out the oldest.
const MaxPending = 16

// PendingEnrollment is a refused enrolment under an enrolled host id.
type PendingEnrollment struct {
	HostID    string
	RequestID string
	Hostname  string
	Peer      string
	Requested time.Time
	Approved  time.Time // zero: not yet
}

// AgentStatus is what an agent's hello says of itself.
type AgentStatus struct {
	AgentVersion string
	RulesVersion string
	RulesError   string
}

// ChangeFilter selects a host's history.
type ChangeFilter struct {
	Since time.Time // zero: from the start
	Kind  string    // "" for every kind of observation
	Limit int       // the newest this many changes; 0 for 1000
}

// Apply is one agent message's effect on the store.
type Apply struct {
	// Full replaces the host's observations; otherwise Upserted and
	// Removed change them.
	Full     bool
	Upserted []*fwv1.Observation
	Removed  []string
	// Findings are the host's findings in full, when FindingsSet: open
	// ones not among them are resolved. Without FindingsSet (a hello, a
	// heartbeat) the findings are left as they are.
	Findings     []*fwv1.Finding
	FindingsSet  bool
	Seen         time.Time
	EgressIP     string
	SpoolDropped uint64
}

// FindingState is open or resolved.
type FindingState string

// The states of a finding.
const (
	Open     FindingState = "open"
	Resolved FindingState = "resolved"
)

// FindingRow is a finding of one host with its lifecycle.
type FindingRow struct {
	HostID    string
	Hostname  string
	ID        string // stable: FindingID
	Finding   *fwv1.Finding
	State     FindingState
	FirstSeen time.Time
	LastSeen  time.Time
	// Triage is the latest judgement a person recorded on the finding
	// (zero: none). Whether it still holds is TriageState's to say.
	Triage Triage
}

// TriageState is what a person judged of a finding.
type TriageState string

// The judgements. An acknowledgement holds for the occurrence it was made
// on: a finding that resolves and comes back is open again. Expected holds
// until a person reopens the finding: the finding is what this host is
// meant to have (IT's own remote-access tool on its own laptop).
const (
	Untriaged    TriageState = ""             // needs a look; recorded, it reopens a triaged finding
	Acknowledged TriageState = "acknowledged" // seen and being handled
	Expected     TriageState = "expected"     // meant to be there
)

// ParseTriageState returns the state named s ("open" is Untriaged).
func ParseTriageState(s string) (TriageState, error) {
	switch st := TriageState(s); st {
	case Acknowledged, Expected:
		return st, nil
	case "open", "":
		return Untriaged, nil
	}
	return "", fmt.Errorf("triage %q: want acknowledged, expected or open", s)
}

// Triage is one person's judgement of one finding, with who and when.
type Triage struct {
	HostID    string
	FindingID string
	State     TriageState
	Comment   string
	By        string    // the token it was made with: its name and id
	At        time.Time // when
	// Occurrence is the first_seen of the finding when it was judged: an
	// acknowledgement holds while that occurrence lasts.
	Occurrence time.Time
}

// MaxTriageComment bounds a triage comment, in bytes.
const MaxTriageComment = 2000

// TriageState is the judgement that holds for the finding now: an
// acknowledgement of an earlier occurrence no longer does.
func (r FindingRow) TriageState() TriageState {
	switch r.Triage.State {
	case Expected:
		return Expected
	case Acknowledged:
		if r.Triage.Occurrence.Equal(r.FirstSeen) {
			return Acknowledged
		}
	}
	return Untriaged
}

// Counts says whether the finding counts among the open ones: open, and
// neither acknowledged nor expected. Triaged findings stay listed.
func (r FindingRow) Counts() bool { return r.State == Open && r.TriageState() == Untriaged }

// FindingFilter selects findings; the zero value is every open finding.
type FindingFilter struct {
	HostID      string
	All         bool // resolved ones too
	MinSeverity fwv1.Severity
}

// Role is what a fleet API token may do; what each may call is the
// server's table (collector/server/auth.go).
type Role string

// The roles.
const (
	RoleViewer   Role = "viewer"   // view
	RoleHelpdesk Role = "helpdesk" // view and scan
	RoleAdmin    Role = "admin"    // everything
)

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleViewer, RoleHelpdesk, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("role %q: want viewer, helpdesk or admin", s)
}

// ErrLastAdmin is returned when revoking a token would leave no valid
// admin token.
var ErrLastAdmin = errors.New("the last valid admin token")

// Token is a fleet API token. The store keeps the hash of its secret,
// never the secret.
type Token struct {
	ID       string // TokenID(Hash): short and public
	Hash     []byte
	Name     string // for people: whose, or what for
	Role     Role
	Created  time.Time
	Expires  time.Time // zero: never
	Revoked  time.Time // zero: not revoked
	LastUsed time.Time // zero: never used; updated at most once a minute
}

// TokenID is the public name of the token whose secret hashes to hash: the
// first 6 bytes of the hash in hex. It says nothing of the secret that the
// hash does not, and the secret cannot be found from it.
func TokenID(hash []byte) string {
	return hex.EncodeToString(hash[:min(len(hash), 6)])
}

// Expired says whether t has expired at now.
func (t Token) Expired(now time.Time) bool {
	return !t.Expires.IsZero() && !now.Before(t.Expires)
}

// Valid says whether t may be used at now: neither revoked nor expired.
func (t Token) Valid(now time.Time) bool { return t.Revoked.IsZero() && !t.Expired(now) }

// EgressSighting is one egress IP a host was seen from.
type EgressSighting struct {
	IP                  string
	FirstSeen, LastSeen time.Time
}

// FleetUpdate is one recomputation of the clusters (collector/fleet).
type FleetUpdate struct {
	// Open is every cluster open now, complete: a cluster open before and
	// not here is resolved (its last seen kept).
	Open []*fwv1.Cluster
	// Findings are the fleet rules' findings of each member host now,
	// complete: an open fleet finding not here is resolved.
	Findings map[string][]*fwv1.Finding
	At       time.Time
}

// Store is the collector's state. Every method is safe for concurrent use.
type Store interface {
	// PutHost creates or replaces a host, key included; for first
	// installs and tests. Agents enrol through Enroll.
	PutHost(ctx context.Context, h Host) error
	// Enroll gives a host a new node key, atomically: a new host id is
	// enrolled; an enrolled one is re-keyed only when the request
	// presents its current key, the host was reset, or an admin approved
	// this request (by its id); otherwise the request is kept as pending
	// and the outcome is Pending. Re-enrolment keeps the host's
	// observations, findings and sequence.
	Enroll(ctx context.Context, e Enrollment) (EnrollOutcome, error)
	// PendingEnrollments lists a host's enrolments waiting for approval.
	PendingEnrollments(ctx context.Context, hostID string) ([]PendingEnrollment, error)
	// ApproveEnrollment approves a pending enrolment: the agent that made
	// it is re-keyed at its next try.
	ApproveEnrollment(ctx context.Context, hostID, requestID string, at time.Time) error
	// ResetHost forgets a host's node key: its agent's stream is refused,
	// and the next enrolment under its id is taken as the host's.
	ResetHost(ctx context.Context, hostID string) error
	Host(ctx context.Context, id string) (Host, error)
	// HostsByName returns every host of that name, newest seen first.
	HostsByName(ctx context.Context, hostname string) ([]Host, error)
	Hosts(ctx context.Context) ([]Host, error)
	// AddRefused counts messages of a host the collector refused.
	AddRefused(ctx context.Context, hostID string, n int) error
	// ApplyMessage applies one agent message, atomically and at most once:
	// a seq at or below the host's LastSeq changes nothing and reports
	// false; a seq that CheckSeq refuses changes nothing and returns its
	// SequenceError. It returns only after the change is committed.
	ApplyMessage(ctx context.Context, hostID string, seq uint64, a Apply) (applied bool, err error)
	// SetAgentStatus records what a connecting agent says of itself.
	SetAgentStatus(ctx context.Context, hostID string, st AgentStatus) error
	Observations(ctx context.Context, hostID string) ([]*fwv1.Observation, error)
	// ObservationsOfKinds is the host's observations of these kinds
	// (observation.KindOf), ordered by key: what the clusters read of a
	// host, a few rows of its hundreds.
	ObservationsOfKinds(ctx context.Context, hostID string, kinds []string) ([]*fwv1.Observation, error)
	// Changes is the host's history: each observation added, changed or
	// removed by an applied message (an observation sent again unchanged
	// is no change), oldest first.
	Changes(ctx context.Context, hostID string, f ChangeFilter) ([]*fwv1.ObservationChange, error)
	// PruneChanges forgets history applied before t and says how many
	// messages' worth it removed; egress sightings last seen before t and
	// clusters resolved before t go too.
	PruneChanges(ctx context.Context, before time.Time) (int64, error)
	Findings(ctx context.Context, f FindingFilter) ([]FindingRow, error)
	// PutToken stores a new token; its ID is TokenID(t.Hash), whatever
	// t.ID says. A hash or ID stored before is refused.
	PutToken(ctx context.Context, t Token) error
	// TokenByHash returns the token whose secret hashes to hash, revoked
	// or expired ones too.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// Tokens lists the tokens, oldest first: every one when all, else
	// those valid at now.
	Tokens(ctx context.Context, all bool, now time.Time) ([]Token, error)
	// RevokeToken revokes token id at at and returns it; revoking a
	// revoked token changes nothing. It refuses (ErrLastAdmin), as one
	// atomic step, to revoke the only admin token valid at at.
	RevokeToken(ctx context.Context, id string, at time.Time) (Token, error)
	// TouchToken records that token id was used at at (it keeps the
	// latest time).
	TouchToken(ctx context.Context, id string, at time.Time) error
	// TriageFinding records a person's judgement of a finding of a host
	// (t.Occurrence is set from the finding's first_seen); every judgement
	// is kept, and Findings reports the latest. ErrNotFound when the host
	// has no such finding.
	TriageFinding(ctx context.Context, t Triage) error
	// TriageHistory is every judgement of a finding, oldest first.
	TriageHistory(ctx context.Context, hostID, findingID string) ([]Triage, error)
	// SetEgress records that a host was seen from ip at at (a hello):
	// its egress IP and its history. ApplyMessage records Apply.EgressIP
	// the same way.
	SetEgress(ctx context.Context, hostID, ip string, at time.Time) error
	// EgressHistory is the egress IPs a host was seen from, newest first.
	EgressHistory(ctx context.Context, hostID string) ([]EgressSighting, error)
	// PutFleet stores one recomputation of the clusters and their
	// findings, atomically. Findings lists those findings too (their
	// Scope is "fleet").
	PutFleet(ctx context.Context, u FleetUpdate) error
	// Clusters are the open clusters, or every one when all, worst
	// first; each with its State, FirstSeen and LastSeen.
	Clusters(ctx context.Context, all bool) ([]*fwv1.Cluster, error)
	Close() error
}

// FindingID names a finding across scans: its rule and its evidence.
func FindingID(f *fwv1.Finding) string {
	ev := append([]string(nil), f.GetEvidence()...)
	sort.Strings(ev)
	return f.GetRule() + "|" + strings.Join(ev, ",")
}
