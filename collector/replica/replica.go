// Package replica joins several collectors on one PostgreSQL database into
// one fleet, with PostgreSQL as the only broker (LISTEN/NOTIFY through
// pgxlisten, advisory locks):
//
//   - Each replica has a random id and says it is alive every few seconds
//     (table replicas); a replica not seen for deadAfter is dead.
//   - Each replica records the agent streams it holds (table sessions,
//     written in batches); a host is online when a live replica holds it.
//   - A request for a host held by another replica (a live scan, a reset)
//     is a notification on that replica's channel; an answer too large for
//     a notification (a report) waits in relay_replies and the asker is
//     notified to fetch it.
//   - A hunt goes to every other live replica, and their agents' answers
//     come back through tables (hunt.go).
//   - The fleet's outputs run on one replica at a time, from a state kept
//     in the database (outputs.go).
//   - One replica at a time, the holder of an advisory lock on its own
//     connection, runs the fleet's periodic jobs: history pruning, policy
//     reloads (published in table policy, and notified to every replica,
//     which pushes it to its agents), and the removal of dead replicas.
//     When it dies its connection goes, the lock with it, and another
//     replica takes the jobs within leaderPoll.
//
// A replica that dies loses only its connections: every message an agent
// sent it was acknowledged after its commit, the agents reconnect to
// another replica and send again what was not, and the store applies each
// message once (postgres.DB.ApplyMessage locks the host's row).
package replica

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// Timings.
const (
	heartbeat  = 2 * time.Second  // how often a replica says it is alive, and writes its sessions
	deadAfter  = 10 * time.Second // a replica not seen for this long holds no stream
	forgetDead = 10 * time.Minute // its rows are removed after this long
	leaderPoll = 3 * time.Second  // how often a replica tries to take the fleet's jobs
	flushEvery = 100 * time.Millisecond
)

// leaderLock is the advisory lock of the fleet's periodic jobs.
const leaderLock = 0x66770010

// policyChannel is notified when the fleet's policy changes.
const policyChannel = "farmwatch_policy"

// Server is what a replica asks of its collector's server.
type Server interface {
	ScanLocal(ctx context.Context, hostID string, timeout time.Duration) (*fwv1.Report, error)
	DropSession(hostID string, reset bool)
	HuntLocal(ctx context.Context, h server.RelayHunt, claim server.HuntClaim, answer func(hostID string, r *fwv1.HuntReply)) error
}

// Replica is one collector of a fleet on PostgreSQL. It implements
// server.Relay.
type Replica struct {
	pool *pgxpool.Pool
	id   string
	addr string
	log  zerolog.Logger
	// MaxAnswerBytes bounds a relayed hunt answer (larger ones are not
	// read, and reach the asker as an error).
	MaxAnswerBytes int
	now            func() time.Time

	srv Server // set by Run

	mu      sync.Mutex
	dirty   map[string]bool // host -> held (true) or let go (false), not yet written
	waiters map[string]chan *fwv1.ScanReply
	hunts   map[string]chan struct{} // hunts asked here -> their wake-up (hunt.go)
	kick    chan struct{}
	// listening is closed once the replica listens to its channel: it
	// takes no stream and asks nothing before, or answers would be lost.
	listening chan struct{}
	listenOne sync.Once
	wg        sync.WaitGroup // request handlers
	baseCtx   context.Context
}

var _ server.Relay = (*Replica)(nil)

// New makes a replica on pool; addr is how people reach it (logged and
// listed).
func New(pool *pgxpool.Pool, addr string, log zerolog.Logger) *Replica {
	b := make([]byte, 8)
	rand.Read(b)
	return &Replica{pool: pool, id: hex.EncodeToString(b), addr: addr, log: log.With().Str("replica", hex.EncodeToString(b)).Logger(),
		now: time.Now, dirty: map[string]bool{}, waiters: map[string]chan *fwv1.ScanReply{},
		hunts: map[string]chan struct{}{}, MaxAnswerBytes: limits.Default().MaxMessageBytes,
		kick: make(chan struct{}, 1), listening: make(chan struct{}), baseCtx: context.Background()}
}

// ID is the replica's id.
func (r *Replica) ID() string { return r.id }

func (r *Replica) channel(id string) string { return "farmwatch_replica_" + id }

// Jobs are the fleet's periodic jobs: Lead runs while this replica holds
// the lock, until its context ends.
type Jobs struct {
	Lead func(ctx context.Context)
	// Policy is called with the fleet's policy at start, when there is
	// one, and whenever it changes.
	Policy func(FleetPolicy)
}

// Run serves the replica until ctx ends: it says it is alive, writes the
// streams it holds, answers other replicas' requests, and runs the fleet's
// jobs when it holds the lock. On the way out it lets go of its streams.
func (r *Replica) Run(ctx context.Context, srv Server, jobs Jobs) error {
	r.srv = srv
	r.baseCtx = ctx
	if err := r.alive(ctx); err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	r.log.Info().Str("addr", r.addr).Msg("replica joined the fleet")
	if jobs.Policy != nil {
		if p, ok, err := r.loadPolicy(ctx); err != nil {
			r.log.Error().Err(err).Msg("fleet policy not read")
		} else if ok {
			jobs.Policy(p)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.listen(ctx, jobs) })
	wg.Go(func() { r.writeLoop(ctx) })
	wg.Go(func() { r.lead(ctx, jobs.Lead) })
	wg.Wait()
	r.wg.Wait()
	// Leaving: this replica holds no stream any more.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := r.pool.Exec(bg, `DELETE FROM sessions WHERE replica_id = $1`, r.id); err != nil {
		r.log.Warn().Err(err).Msg("sessions not let go: they expire")
	}
	if _, err := r.pool.Exec(bg, `DELETE FROM replicas WHERE id = $1`, r.id); err != nil {
		r.log.Warn().Err(err).Msg("replica not removed: it expires")
	}
	return nil
}

func (r *Replica) alive(ctx context.Context) error {
	_, err := r.pool.Exec(ctx, `INSERT INTO replicas (id, addr, seen) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET seen = excluded.seen`, r.id, r.addr, r.now().UnixMilli())
	return err
}

// Attached implements server.Relay.
func (r *Replica) Attached(hostID string) { r.mark(hostID, true) }

// Detached implements server.Relay.
func (r *Replica) Detached(hostID string) { r.mark(hostID, false) }

func (r *Replica) mark(hostID string, held bool) {
	r.mu.Lock()
	r.dirty[hostID] = held
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// writeLoop writes the streams taken and let go, in batches, and says the
// replica is alive.
func (r *Replica) writeLoop(ctx context.Context) {
	select {
	case <-r.listening:
	case <-ctx.Done():
		return
	}
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if err := r.alive(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn().Err(err).Msg("replica heartbeat failed")
			}
		case <-r.kick:
			// Gather what comes within flushEvery into one write.
			select {
			case <-time.After(flushEvery):
			case <-ctx.Done():
				return
			}
		}
		if err := r.flush(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn().Err(err).Msg("sessions not written: retrying")
		}
	}
}

// flush writes the sessions taken and let go since the last flush. A
// session let go is removed only while this replica holds it: another may
// have taken it over.
func (r *Replica) flush(ctx context.Context) error {
	r.mu.Lock()
	if len(r.dirty) == 0 {
		r.mu.Unlock()
		return nil
	}
	d := r.dirty
	r.dirty = map[string]bool{}
	r.mu.Unlock()
	var held, gone []string
	for h, on := range d {
		if on {
			held = append(held, h)
		} else {
			gone = append(gone, h)
		}
	}
	err := r.writeSessions(ctx, held, gone)
	if err != nil { // put back what is not newer
		r.mu.Lock()
		for h, on := range d {
			if _, newer := r.dirty[h]; !newer {
				r.dirty[h] = on
			}
		}
		r.mu.Unlock()
	}
	return err
}

func (r *Replica) writeSessions(ctx context.Context, held, gone []string) error {
	now := r.now().UnixMilli()
	if len(gone) > 0 {
		if _, err := r.pool.Exec(ctx, `DELETE FROM sessions WHERE replica_id = $1 AND host_id = ANY($2::text[])`, r.id, gone); err != nil {
			return err
		}
	}
	if len(held) == 0 {
		return nil
	}
	// The replicas that held these before are told to let them go (a
	// stream they still serve is an old one of the agent).
	rows, err := r.pool.Query(ctx, `WITH prev AS (
  SELECT host_id, replica_id FROM sessions WHERE host_id = ANY($2::text[]) AND replica_id <> $1 FOR UPDATE
), up AS (
  INSERT INTO sessions (host_id, replica_id, since) SELECT h, $1, $3 FROM unnest($2::text[]) AS h
  ON CONFLICT (host_id) DO UPDATE SET replica_id = excluded.replica_id, since = excluded.since
)
SELECT host_id, replica_id FROM prev`, r.id, held, now)
	if err != nil {
		return err
	}
	moved := map[string][]string{}
	for rows.Next() {
		var h, rep string
		if err := rows.Scan(&h, &rep); err != nil {
			rows.Close()
			return err
		}
		moved[rep] = append(moved[rep], h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for rep, hosts := range moved {
		for _, h := range hosts {
			if err := r.notify(ctx, rep, msg{Op: opDrop, Host: h}); err != nil {
				r.log.Warn().Err(err).Str("to", rep).Msg("drop not sent")
			}
		}
	}
	return nil
}

// Online implements server.Relay.
func (r *Replica) Online(ctx context.Context, hostIDs []string) (map[string]bool, error) {
	q := `SELECT s.host_id FROM sessions s JOIN replicas p ON p.id = s.replica_id WHERE p.seen > $1`
	args := []any{r.now().Add(-deadAfter).UnixMilli()}
	if hostIDs != nil {
		q += ` AND s.host_id = ANY($2::text[])`
		args = append(args, hostIDs)
	}
	rows, err := r.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("online hosts: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("online hosts: %w", err)
		}
		out[h] = true
	}
	return out, rows.Err()
}

// holder is the live replica that holds a host's stream, if any.
func (r *Replica) holder(ctx context.Context, hostID string) (string, bool, error) {
	var id string
	err := r.pool.QueryRow(ctx, `SELECT s.replica_id FROM sessions s JOIN replicas p ON p.id = s.replica_id
WHERE s.host_id = $1 AND p.seen > $2`, hostID, r.now().Add(-deadAfter).UnixMilli()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return id, err == nil, err
}

// The relay's messages (JSON in a notification: under its 8000 bytes).
const (
	opScan  = "scan"  // scan Host, answer to From under ID
	opReply = "reply" // the answer ID waits in relay_replies
	opDrop  = "drop"  // let go of Host's stream: another replica has it
	opReset = "reset" // Host was reset: end its stream
)

type msg struct {
	Op        string `json:"op"`
	ID        string `json:"id,omitempty"`
	Host      string `json:"host,omitempty"`
	From      string `json:"from,omitempty"`
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
}

func (r *Replica) notify(ctx context.Context, to string, m msg) error {
	b, _ := json.Marshal(m)
	_, err := r.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, r.channel(to), string(b))
	return err
}

// Scan implements server.Relay.
func (r *Replica) Scan(ctx context.Context, hostID string, timeout time.Duration) (*fwv1.Report, error) {
	holder, ok, err := r.holder(ctx, hostID)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", hostID, err)
	}
	if !ok {
		return nil, &server.Error{Code: codes.Unavailable, Msg: fmt.Sprintf("scan: host %s is not connected", hostID)}
	}
	if holder == r.id { // it has just come here
		return r.srv.ScanLocal(ctx, hostID, timeout)
	}
	select {
	case <-r.listening:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	b := make([]byte, 12)
	rand.Read(b)
	id := hex.EncodeToString(b)
	ch := make(chan *fwv1.ScanReply, 1)
	r.mu.Lock()
	r.waiters[id] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiters, id)
		r.mu.Unlock()
	}()
	if err := r.notify(ctx, holder, msg{Op: opScan, ID: id, Host: hostID, From: r.id, TimeoutMS: timeout.Milliseconds()}); err != nil {
		return nil, fmt.Errorf("scan %s: ask replica %s: %w", hostID, holder, err)
	}
	// The holder's own timeout answers first; this one covers a holder
	// that died meanwhile.
	t := time.NewTimer(timeout + 5*time.Second)
	defer t.Stop()
	select {
	case rep := <-ch:
		if rep.GetError() != "" {
			var e server.Error
			if json.Unmarshal([]byte(rep.GetError()), &e) == nil && e.Msg != "" {
				return nil, &e
			}
			return nil, &server.Error{Code: codes.Internal, Msg: rep.GetError()}
		}
		return rep.GetReport(), nil
	case <-t.C:
		return nil, &server.Error{Code: codes.DeadlineExceeded, Msg: fmt.Sprintf("scan: replica %s holding host %s did not answer within %s", holder, hostID, timeout)}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Reset implements server.Relay.
func (r *Replica) Reset(ctx context.Context, hostID string) {
	holder, ok, err := r.holder(ctx, hostID)
	if err != nil {
		r.log.Warn().Err(err).Str("host_id", hostID).Msg("reset not relayed")
		return
	}
	if ok && holder != r.id {
		if err := r.notify(ctx, holder, msg{Op: opReset, Host: hostID}); err != nil {
			r.log.Warn().Err(err).Str("host_id", hostID).Msg("reset not relayed")
		}
	}
}

// listen handles the notifications to this replica and the fleet's policy
// changes, reconnecting when its connection breaks.
func (r *Replica) listen(ctx context.Context, jobs Jobs) {
	l := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
		},
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil {
				r.log.Warn().Err(err).Msg("replica notifications: reconnecting")
			}
		},
		ReconnectDelay: time.Second,
	}
	l.Handle(r.channel(r.id), ownHandler{r})
	l.Handle(policyChannel, pgxlisten.HandlerFunc(func(ctx context.Context, _ *pgconn.Notification, _ *pgx.Conn) error {
		if jobs.Policy == nil {
			return nil
		}
		r.wg.Go(func() {
			p, ok, err := r.loadPolicy(ctx)
			if err != nil {
				r.log.Error().Err(err).Msg("fleet policy not read")
			} else if ok {
				jobs.Policy(p)
			}
		})
		return nil
	}))
	l.Listen(ctx) // returns when ctx ends
}

// ownHandler handles the notifications to this replica; its backlog is
// called once it listens.
type ownHandler struct{ r *Replica }

func (h ownHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	var m msg
	if err := json.Unmarshal([]byte(n.Payload), &m); err != nil {
		return fmt.Errorf("notification %q: %w", n.Payload, err)
	}
	h.r.handle(m)
	return nil
}

func (h ownHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.r.listenOne.Do(func() { close(h.r.listening) })
	return nil
}

// handle acts on one notification; nothing here waits on the listener's
// connection.
func (r *Replica) handle(m msg) {
	r.log.Debug().Str("op", m.Op).Str("id", m.ID).Str("host", m.Host).Msg("relay message")
	ctx := r.baseCtx
	switch m.Op {
	case opScan:
		r.wg.Go(func() {
			timeout := min(max(time.Duration(m.TimeoutMS)*time.Millisecond, time.Second), 2*time.Minute)
			reply := &fwv1.ScanReply{RequestId: m.ID}
			rep, err := r.srv.ScanLocal(ctx, m.Host, timeout)
			if err != nil {
				var e *server.Error
				if !errors.As(err, &e) {
					e = &server.Error{Code: codes.Internal, Msg: "scan: the replica holding the host failed: " + err.Error()}
				}
				b, _ := json.Marshal(e)
				reply.Error = string(b)
			} else {
				reply.Report = rep
			}
			if err := r.answer(ctx, m.From, reply); err != nil && ctx.Err() == nil {
				r.log.Warn().Err(err).Str("to", m.From).Str("host_id", m.Host).Msg("scan answer not relayed")
			}
		})
	case opReply:
		r.wg.Go(func() {
			var body []byte
			err := r.pool.QueryRow(ctx, `DELETE FROM relay_replies WHERE id = $1 RETURNING body`, m.ID).Scan(&body)
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn().Err(err).Str("request_id", m.ID).Msg("relayed answer not read")
				}
				return
			}
			rep := &fwv1.ScanReply{}
			if err := proto.Unmarshal(body, rep); err != nil {
				r.log.Warn().Err(err).Str("request_id", m.ID).Msg("relayed answer not read")
				return
			}
			r.mu.Lock()
			ch := r.waiters[m.ID]
			r.mu.Unlock()
			if ch != nil {
				select {
				case ch <- rep:
				default:
				}
			}
		})
	case opHunt:
		r.wg.Go(func() { r.huntHere(ctx, m) })
	case opHuntNews:
		r.mu.Lock()
		kick := r.hunts[m.ID]
		r.mu.Unlock()
		if kick != nil {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	case opDrop:
		r.srv.DropSession(m.Host, false)
	case opReset:
		r.srv.DropSession(m.Host, true)
	default:
		r.log.Warn().Str("op", m.Op).Msg("unknown relay message")
	}
}

// answer leaves a reply for replica to and tells it so.
func (r *Replica) answer(ctx context.Context, to string, reply *fwv1.ScanReply) error {
	b, err := proto.Marshal(reply)
	if err != nil {
		return err
	}
	if _, err := r.pool.Exec(ctx, `INSERT INTO relay_replies (id, body, created) VALUES ($1, $2, $3)`, reply.GetRequestId(), b, r.now().UnixMilli()); err != nil {
		return err
	}
	return r.notify(ctx, to, msg{Op: opReply, ID: reply.GetRequestId()})
}
