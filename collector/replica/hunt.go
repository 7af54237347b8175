package replica

// Hunts across replicas. The asker writes the hunt in relay_hunts and
// notifies every other live replica with its id only (a filter may be
// longer than a notification). Each of them records in one transaction the
// hosts it puts the hunt to (relay_hunt_asked, where a host is asked by one
// replica at most) and its acknowledgement (relay_hunt_acks), notifies the
// asker, and only then asks its agents; each answer waits in
// relay_hunt_answers and the asker is notified. The asker reads on each
// notification (and every second, in case one was missed while its
// listener reconnected): the new acknowledgements first, then the answers
// of the replicas that acknowledged, each checked against the host's
// asker. An answer row is taken once (DELETE ... RETURNING); a replayed
// hunt notification asks nobody again (the acknowledgement exists).

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/limits"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
)

// The hunt relay's messages.
const (
	opHunt     = "hunt"      // put hunt ID (in relay_hunts) to your agents; From asks
	opHuntNews = "hunt_news" // hunt ID has new acknowledgements or answers
)

// huntPoll is how often the asker reads without a notification.
const huntPoll = time.Second

// errHuntTaken is the refusal of a hunt this replica already took.
var errHuntTaken = errors.New("hunt already taken by this replica")

// ClaimHunt implements server.Relay.
func (r *Replica) ClaimHunt(ctx context.Context, id string, hosts map[string]string) (map[string]string, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim hunt %s: %w", id, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	got, err := r.claim(ctx, tx, id, hosts)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("claim hunt %s: %w", id, err)
	}
	return got, nil
}

func (r *Replica) claim(ctx context.Context, tx pgx.Tx, id string, hosts map[string]string) (map[string]string, error) {
	ids := make([]string, 0, len(hosts))
	names := make([]string, 0, len(hosts))
	for h, n := range hosts {
		ids = append(ids, h)
		names = append(names, n)
	}
	rows, err := tx.Query(ctx, `INSERT INTO relay_hunt_asked (hunt_id, host_id, replica_id, hostname, created)
SELECT $1, h, $2, n, $5 FROM unnest($3::text[], $4::text[]) AS t(h, n)
ON CONFLICT (hunt_id, host_id) DO NOTHING RETURNING host_id`, id, r.id, ids, names, r.now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("claim hunt %s: %w", id, err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("claim hunt %s: %w", id, err)
		}
		got[h] = hosts[h]
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim hunt %s: %w", id, err)
	}
	return got, nil
}

// Hunt implements server.Relay.
func (r *Replica) Hunt(ctx context.Context, h server.RelayHunt, news chan<- server.HuntNews) {
	send := func(n server.HuntNews) bool {
		select {
		case news <- n:
			return true
		case <-ctx.Done():
			return false
		}
	}
	select {
	case <-r.listening:
	case <-ctx.Done():
		return
	}
	kick := make(chan struct{}, 1)
	r.mu.Lock()
	r.hunts[h.ID] = kick
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.hunts, h.ID)
		r.mu.Unlock()
		r.forgetHunt(context.WithoutCancel(ctx), h.ID)
	}()
	expect, err := r.huntTargets(ctx)
	if err == nil {
		_, err = r.pool.Exec(ctx, `INSERT INTO relay_hunts (id, asker, kind, filter, timeout_ms, created) VALUES ($1, $2, $3, $4, $5, $6)`,
			h.ID, r.id, h.Kind, h.Filter, h.Timeout.Milliseconds(), r.now().UnixMilli())
	}
	if err != nil {
		send(server.HuntNews{Err: fmt.Errorf("hunt %s: %w", h.ID, err)})
		return
	}
	for rep := range expect {
		if err := r.notify(ctx, rep, msg{Op: opHunt, ID: h.ID, From: r.id}); err != nil {
			r.log.Warn().Err(err).Str("to", rep).Str("hunt", h.ID).Msg("hunt not relayed")
		}
	}
	if !send(server.HuntNews{Expect: expect}) {
		return
	}
	acked := []string{}
	askedBy := map[string]string{} // host -> the replica that asked it
	answered := map[string]bool{}  // hosts whose answer was passed on
	tick := time.NewTicker(huntPoll)
	defer tick.Stop()
	for {
		if len(acked) < len(expect) {
			got, err := r.huntAcks(ctx, h.ID, acked)
			if err != nil && ctx.Err() == nil {
				r.log.Warn().Err(err).Str("hunt", h.ID).Msg("hunt acknowledgements not read")
			}
			for rep, hosts := range got {
				if _, ok := expect[rep]; !ok {
					r.log.Warn().Str("hunt", h.ID).Str("from", rep).Msg("hunt acknowledged by a replica not asked: ignored")
					continue
				}
				acked = append(acked, rep)
				for id := range hosts {
					askedBy[id] = rep
				}
				if !send(server.HuntNews{Replica: rep, Asked: hosts}) {
					return
				}
			}
		}
		if len(acked) > 0 {
			if err := r.huntAnswers(ctx, h.ID, acked, askedBy, answered, send); err != nil && ctx.Err() == nil {
				r.log.Warn().Err(err).Str("hunt", h.ID).Msg("hunt answers not read")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-tick.C:
		}
	}
}

// huntTargets are the other live replicas, each with the hosts it holds.
func (r *Replica) huntTargets(ctx context.Context) (map[string]map[string]string, error) {
	rows, err := r.pool.Query(ctx, `SELECT p.id, s.host_id, coalesce(h.hostname, '') FROM replicas p
LEFT JOIN sessions s ON s.replica_id = p.id LEFT JOIN hosts h ON h.id = s.host_id
WHERE p.seen > $1 AND p.id <> $2`, r.now().Add(-deadAfter).UnixMilli(), r.id)
	if err != nil {
		return nil, err
	}
	return hostsByReplica(rows)
}

// huntAcks reads the acknowledgements of hunt id from replicas not in
// seen, each with the hosts it asked.
func (r *Replica) huntAcks(ctx context.Context, id string, seen []string) (map[string]map[string]string, error) {
	rows, err := r.pool.Query(ctx, `SELECT a.replica_id, s.host_id, coalesce(s.hostname, '') FROM relay_hunt_acks a
LEFT JOIN relay_hunt_asked s ON s.hunt_id = a.hunt_id AND s.replica_id = a.replica_id
WHERE a.hunt_id = $1 AND NOT (a.replica_id = ANY($2::text[]))`, id, seen)
	if err != nil {
		return nil, err
	}
	return hostsByReplica(rows)
}

// hostsByReplica reads rows of (replica id, host id or NULL, hostname)
// into each replica's hosts by id, with every replica present even when
// it has none.
func hostsByReplica(rows pgx.Rows) (map[string]map[string]string, error) {
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var rep, name string
		var host *string
		if err := rows.Scan(&rep, &host, &name); err != nil {
			return nil, err
		}
		if out[rep] == nil {
			out[rep] = map[string]string{}
		}
		if host != nil {
			out[rep][*host] = name
		}
	}
	return out, rows.Err()
}

// huntAnswers takes the answers of hunt id left by the replicas that
// acknowledged it (the others' wait: their hosts are not known yet). An
// answer from a host its replica did not ask, or a second one (replayed),
// is refused; one over the size limit is not read, and passed on as an
// error.
func (r *Replica) huntAnswers(ctx context.Context, id string, acked []string, askedBy map[string]string, answered map[string]bool, send func(server.HuntNews) bool) error {
	rows, err := r.pool.Query(ctx, `DELETE FROM relay_hunt_answers WHERE hunt_id = $1 AND replica_id = ANY($2::text[])
RETURNING host_id, replica_id, octet_length(body), CASE WHEN octet_length(body) <= $3 THEN body END`, id, acked, r.MaxAnswerBytes)
	if err != nil {
		return err
	}
	type row struct {
		host, rep string
		size      int
		body      []byte
	}
	var got []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.host, &x.rep, &x.size, &x.body); err != nil {
			rows.Close()
			return err
		}
		got = append(got, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, x := range got {
		if askedBy[x.host] != x.rep {
			r.log.Warn().Str("hunt", id).Str("host_id", x.host).Str("from", x.rep).Msg("hunt answer for a host that replica did not ask: refused")
			continue
		}
		if answered[x.host] {
			r.log.Warn().Str("hunt", id).Str("host_id", x.host).Str("from", x.rep).Msg("hunt answer replayed: refused")
			continue
		}
		answered[x.host] = true
		reply := &fwv1.HuntReply{}
		if x.body == nil {
			reply.Error = fmt.Sprintf("the agent's answer is over the collector's limits: %d bytes relayed, the limit is %d", x.size, r.MaxAnswerBytes)
		} else if err := proto.Unmarshal(x.body, reply); err != nil || reply.GetRequestId() != id {
			r.log.Warn().Err(err).Str("hunt", id).Str("host_id", x.host).Msg("relayed hunt answer unreadable: refused")
			reply = &fwv1.HuntReply{Error: "the relayed answer is unreadable"}
		}
		if !send(server.HuntNews{Replica: x.rep, HostID: x.host, Reply: reply}) {
			return nil
		}
	}
	return nil
}

// forgetHunt removes what hunt id left in the relay's tables.
func (r *Replica) forgetHunt(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, q := range []string{
		`DELETE FROM relay_hunts WHERE id = $1`,
		`DELETE FROM relay_hunt_answers WHERE hunt_id = $1`,
		`DELETE FROM relay_hunt_asked WHERE hunt_id = $1`,
		`DELETE FROM relay_hunt_acks WHERE hunt_id = $1`,
	} {
		if _, err := r.pool.Exec(ctx, q, id); err != nil {
			r.log.Warn().Err(err).Str("hunt", id).Msg("hunt not forgotten: removed with dead replicas' rows")
			return
		}
	}
}

// huntHere puts a hunt relayed by another replica to the agents this one
// holds, and leaves their answers for it. A hunt unknown, of another
// asker, or past its time is refused; one already taken asks nobody.
func (r *Replica) huntHere(ctx context.Context, m msg) {
	var asker, kind, filter string
	var timeoutMS, created int64
	err := r.pool.QueryRow(ctx, `SELECT asker, kind, filter, timeout_ms, created FROM relay_hunts WHERE id = $1`, m.ID).
		Scan(&asker, &kind, &filter, &timeoutMS, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		r.log.Warn().Str("hunt", m.ID).Str("from", m.From).Msg("relayed hunt unknown (ended, or never asked): refused")
		return
	}
	if err != nil {
		r.log.Warn().Err(err).Str("hunt", m.ID).Msg("relayed hunt not read")
		return
	}
	if asker != m.From {
		r.log.Warn().Str("hunt", m.ID).Str("from", m.From).Str("asker", asker).Msg("relayed hunt from another than its asker: refused")
		return
	}
	// The answers must be back before the asker stops waiting.
	total := time.Duration(timeoutMS) * time.Millisecond
	left := total - r.now().Sub(time.UnixMilli(created)) - min(total/10, time.Second)
	if left <= 0 || total <= 0 {
		r.log.Warn().Str("hunt", m.ID).Msg("relayed hunt past its time: refused")
		return
	}
	claim := func(hosts map[string]string) (map[string]string, error) {
		tx, err := r.pool.Begin(ctx)
		if err != nil {
			return nil, err
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		tag, err := tx.Exec(ctx, `INSERT INTO relay_hunt_acks (hunt_id, replica_id, created) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, m.ID, r.id, r.now().UnixMilli())
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 0 {
			return nil, errHuntTaken
		}
		got, err := r.claim(ctx, tx, m.ID, hosts)
		if err != nil {
			return nil, err
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, err
		}
		if err := r.notify(ctx, asker, msg{Op: opHuntNews, ID: m.ID}); err != nil {
			r.log.Warn().Err(err).Str("hunt", m.ID).Msg("hunt acknowledgement not notified: the asker reads it within a second")
		}
		return got, nil
	}
	// The answers go out in batches (one insert and one notification
	// for those that come within answerBatchWait).
	answers := make(chan hostAnswer, answerBatchMax)
	var wg sync.WaitGroup
	wg.Go(func() { r.relayAnswers(ctx, m.ID, asker, answers) })
	defer wg.Wait()
	defer close(answers)
	answer := func(hostID string, reply *fwv1.HuntReply) {
		if len(reply.Matches) > limits.HostObservations {
			reply.Matches = reply.Matches[:limits.HostObservations]
		}
		b, err := proto.Marshal(reply)
		if err != nil {
			r.log.Warn().Err(err).Str("hunt", m.ID).Str("host_id", hostID).Msg("hunt answer not relayed")
			return
		}
		answers <- hostAnswer{host: hostID, body: b}
	}
	err = r.srv.HuntLocal(ctx, server.RelayHunt{ID: m.ID, Kind: kind, Filter: filter, Timeout: left}, claim, answer)
	if errors.Is(err, errHuntTaken) {
		r.log.Warn().Str("hunt", m.ID).Msg("relayed hunt replayed: already taken, nobody asked again")
	} else if err != nil && ctx.Err() == nil {
		r.log.Warn().Err(err).Str("hunt", m.ID).Msg("relayed hunt not taken")
	}
}

// Batches of relayed hunt answers.
const (
	answerBatchMax  = 256
	answerBatchWait = 20 * time.Millisecond
)

// hostAnswer is one agent's encoded answer to a relayed hunt.
type hostAnswer struct {
	host string
	body []byte
}

// relayAnswers leaves the answers of hunt id for its asker, in batches,
// until answers is closed.
func (r *Replica) relayAnswers(ctx context.Context, id, asker string, answers <-chan hostAnswer) {
	for {
		first, ok := <-answers
		if !ok {
			return
		}
		hosts, bodies := []string{first.host}, [][]byte{first.body}
		wait := time.NewTimer(answerBatchWait)
	gather:
		for len(hosts) < answerBatchMax {
			select {
			case a, ok := <-answers:
				if !ok {
					break gather
				}
				hosts, bodies = append(hosts, a.host), append(bodies, a.body)
			case <-wait.C:
				break gather
			}
		}
		wait.Stop()
		_, err := r.pool.Exec(ctx, `INSERT INTO relay_hunt_answers (hunt_id, host_id, replica_id, body, created)
SELECT $1, h, $2, b, $3 FROM unnest($4::text[], $5::bytea[]) AS t(h, b) ON CONFLICT DO NOTHING`, id, r.id, r.now().UnixMilli(), hosts, bodies)
		if err == nil {
			err = r.notify(ctx, asker, msg{Op: opHuntNews, ID: id})
		}
		if err != nil && ctx.Err() == nil {
			r.log.Warn().Err(err).Str("hunt", id).Int("answers", len(hosts)).Msg("hunt answers not relayed")
		}
	}
}
