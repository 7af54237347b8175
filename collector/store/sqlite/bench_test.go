package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The shape of the ingest benchmarks: benchHosts hosts, each already holding
// benchFull observations, each sending one delta of benchDelta new or
// changed process observations per round. One b.Loop
// iteration is one round: every host applies one delta, one transaction
// per host. BenchmarkRawInsert writes the same rows with the same batch
// size (one transaction per host and round) straight through database/sql,
// which is the floor the store's per-message work is compared against.
const (
	benchHosts = 1000
	benchFull  = 100
	benchDelta = 20
)

// benchDSN is Open's DSN for a file; kept identical so that the baseline
// pays the same durability (WAL, synchronous=FULL).
func benchDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
}

func benchHostID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// benchProc is a process observation of a realistic size (~250 bytes).
func benchProc(host, round, j int) *fwv1.Observation {
	pid := int32(10000 + round*benchDelta + j)
	name := fmt.Sprintf("worker-%d-%d", round, j)
	exe := "/usr/lib/farmwatch-bench/bin/" + name
	return &fwv1.Observation{
		Key:    fmt.Sprintf("process/%s/%d", name, pid),
		Sensor: "process",
		Kind: &fwv1.Observation_Process{Process: &fwv1.Process{
			Pid: pid, Ppid: 1, Name: name, Exe: exe, ExeName: name,
			Cmdline:    exe + " --config /etc/bench/" + name + ".conf --verbose",
			Args:       []string{exe, "--config", "/etc/bench/" + name + ".conf", "--verbose"},
			Username:   fmt.Sprintf("user%d", host%50),
			StartTime:  timestamppb.New(time.Unix(1_790_000_000+int64(round), 0)),
			ParentName: "systemd",
		}},
	}
}

// benchRows is what one host's delta of one round holds, as the store
// writes it (key, kind, encoded body).
type benchRow struct {
	key, kind string
	body      []byte
}

func benchRows(b *testing.B, host, round int) []benchRow {
	rows := make([]benchRow, benchDelta)
	for j := range rows {
		o := benchProc(host, round, j)
		body, err := marshal.Marshal(o)
		if err != nil {
			b.Fatal(err)
		}
		rows[j] = benchRow{key: o.GetKey(), kind: observation.KindOf(o), body: body}
	}
	return rows
}

// benchSetup makes a store file with benchHosts hosts of benchFull
// observations each (bulk-loaded in one transaction: setup, not measured)
// and returns the path. Every host's last_seq is 1.
func benchSetup(b *testing.B) string {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "farmwatch.db")
	s, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", benchDSN(path))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	for h := 0; h < benchHosts; h++ {
		if _, err := tx.ExecContext(ctx, `INSERT INTO hosts (id, hostname, os, node_key_hash, enrolled_at, last_seen, last_seq) VALUES (?, ?, 'linux', x'00', ?, ?, 1)`,
			benchHostID(h), fmt.Sprintf("bench-%04d", h), now, now); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < benchFull; j++ {
			o := benchProc(h, -1000-j, 0) // distinct from every delta's keys
			body, err := marshal.Marshal(o)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO observations (host_id, key, kind, body) VALUES (?, ?, ?, ?)`, benchHostID(h), o.GetKey(), observation.KindOf(o), body); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkApplyDeltas: every host applies a delta of benchDelta process
// observations through DB.ApplyMessage, sequentially: each message
// commits alone, so this measures the per-message work and its commit, not
// group commit.
func BenchmarkApplyDeltas(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, benchSetup(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// The messages are built before the clock runs, as an agent would have
	// them ready; encoding inside ApplyMessage is measured.
	var (
		round int
		obs   int
		msgs  = make([][]*fwv1.Observation, benchHosts)
	)
	build := func() {
		for h := range msgs {
			msgs[h] = make([]*fwv1.Observation, benchDelta)
			for j := range msgs[h] {
				msgs[h][j] = benchProc(h, round, j)
			}
		}
	}
	build()
	for b.Loop() {
		seen := time.Now()
		for h := 0; h < benchHosts; h++ {
			ok, err := s.ApplyMessage(ctx, benchHostID(h), uint64(round+2), store.Apply{Upserted: msgs[h], Seen: seen, EgressIP: "127.0.0.1"})
			if err != nil || !ok {
				b.Fatalf("apply host %d round %d: %v, %v", h, round, ok, err)
			}
			obs += benchDelta
		}
		b.StopTimer()
		round++
		build()
		b.StartTimer()
	}
	b.ReportMetric(float64(obs)/b.Elapsed().Seconds(), "obs/s")
	benchCheck(b, s.db, obs)
}

// BenchmarkRawInsert: the same rows (already encoded), one prepared INSERT
// per row, one transaction per host and round, on a second *sql.DB opened
// with Open's pragmas on a file with the same schema and contents.
func BenchmarkRawInsert(b *testing.B) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", benchDSN(benchSetup(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var (
		round int
		obs   int
		rows  = make([][]benchRow, benchHosts)
	)
	build := func() {
		for h := range rows {
			rows[h] = benchRows(b, h, round)
		}
	}
	build()
	for b.Loop() {
		for h := 0; h < benchHosts; h++ {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			st, err := tx.PrepareContext(ctx, `INSERT INTO observations (host_id, key, kind, body) VALUES (?, ?, ?, ?)`)
			if err != nil {
				b.Fatal(err)
			}
			id := benchHostID(h)
			for _, r := range rows[h] {
				if _, err := st.ExecContext(ctx, id, r.key, r.kind, r.body); err != nil {
					b.Fatal(err)
				}
			}
			st.Close()
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			obs += benchDelta
		}
		b.StopTimer()
		round++
		build()
		b.StartTimer()
	}
	b.ReportMetric(float64(obs)/b.Elapsed().Seconds(), "obs/s")
	benchCheck(b, db, obs)
}

// benchCheck: every row written is there, and nothing else was.
func benchCheck(b *testing.B, db *sql.DB, written int) {
	b.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM observations`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	if want := benchHosts*benchFull + written; n != want {
		b.Fatalf("%d observations stored, want %d", n, want)
	}
}

// BenchmarkApplyVsRaw alternates one round through ApplyMessage and one
// raw round (as BenchmarkRawInsert) on two files of the same contents, so
// that both see the same machine: on a shared VM the rate drifts between
// benchmarks by more than the difference being measured. It reports both
// rates and their ratio (store over raw; the goal is at least 0.5).
func BenchmarkApplyVsRaw(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, benchSetup(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	raw, err := sql.Open("sqlite", benchDSN(benchSetup(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	var (
		round              int
		obs                int
		storeTime, rawTime time.Duration
		msgs               = make([][]*fwv1.Observation, benchHosts)
		rows               = make([][]benchRow, benchHosts)
	)
	for b.Loop() {
		b.StopTimer()
		for h := range msgs {
			msgs[h] = make([]*fwv1.Observation, benchDelta)
			for j := range msgs[h] {
				msgs[h][j] = benchProc(h, round, j)
			}
			rows[h] = benchRows(b, h, round)
		}
		b.StartTimer() // ns/op is one store round plus one raw round
		t0 := time.Now()
		for h := 0; h < benchHosts; h++ {
			ok, err := s.ApplyMessage(ctx, benchHostID(h), uint64(round+2), store.Apply{Upserted: msgs[h], Seen: t0, EgressIP: "127.0.0.1"})
			if err != nil || !ok {
				b.Fatalf("apply host %d round %d: %v, %v", h, round, ok, err)
			}
		}
		t1 := time.Now()
		for h := 0; h < benchHosts; h++ {
			tx, err := raw.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			st, err := tx.PrepareContext(ctx, `INSERT INTO observations (host_id, key, kind, body) VALUES (?, ?, ?, ?)`)
			if err != nil {
				b.Fatal(err)
			}
			id := benchHostID(h)
			for _, r := range rows[h] {
				if _, err := st.ExecContext(ctx, id, r.key, r.kind, r.body); err != nil {
					b.Fatal(err)
				}
			}
			st.Close()
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		storeTime += t1.Sub(t0)
		rawTime += time.Since(t1)
		obs += benchHosts * benchDelta
		round++
	}
	storeRate, rawRate := float64(obs)/storeTime.Seconds(), float64(obs)/rawTime.Seconds()
	b.ReportMetric(storeRate, "store-obs/s")
	b.ReportMetric(rawRate, "raw-obs/s")
	b.ReportMetric(storeRate/rawRate, "store/raw")
	benchCheck(b, s.db, obs)
	benchCheck(b, raw, obs)
}
