package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/sqlite"
	"github.com/farmwatch/farmwatch/internal/pgtest"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/jackc/pgx/v5"
)

// migrateSource makes an SQLite store of two hosts, each with a few
// observations and a change history, and returns its path.
func migrateSource(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), dbFile)
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Unix(1_790_000_000, 0)
	finding := &fwv1.Finding{Rule: "remote-access-tool", Severity: fwv1.Severity_SEVERITY_HIGH, Title: "AnyDesk", Evidence: []string{"process/1"}}
	for _, id := range []string{"host-a", "host-b"} {
		h := store.Host{ID: id, Hostname: id, OS: "linux", Info: &fwv1.HostInfo{Os: "linux", Hostname: id}, NodeKeyHash: []byte("hash-" + id), EnrolledAt: at, LastSeen: at}
		if err := s.PutHost(ctx, h); err != nil {
			t.Fatal(err)
		}
		for seq := uint64(1); seq <= 3; seq++ {
			o := &fwv1.Observation{Key: "process/" + id + "/" + string(rune('0'+seq)), Sensor: "process",
				Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: int32(seq), Name: "anydesk", Exe: "/opt/anydesk/anydesk"}}}
			a := store.Apply{Full: seq == 1, Upserted: []*fwv1.Observation{o}, Seen: at, EgressIP: "203.0.113.7"}
			if seq == 1 {
				a.Findings, a.FindingsSet = []*fwv1.Finding{finding}, true
			}
			if ok, err := s.ApplyMessage(ctx, id, seq, a); !ok || err != nil {
				t.Fatalf("apply #%d: %v %v", seq, ok, err)
			}
		}
	}
	if err := s.TriageFinding(ctx, store.Triage{HostID: "host-a", FindingID: store.FindingID(finding), State: store.Expected, Comment: "IT's own", By: "alice", At: at}); err != nil {
		t.Fatal(err)
	}
	return path
}

func pgCount(t *testing.T, dsn, table string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMigrateDamagedSource: an observation whose stored body does not
// decode stops the move, named, and nothing is committed: the target stays
// empty and takes a later migrate.
func TestMigrateDamagedSource(t *testing.T) {
	ctx := context.Background()
	path := migrateSource(t)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE observations SET body = x'0aff' WHERE host_id = 'host-b' AND key = 'process/host-b/2'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	dsn := pgtest.DSN(t)
	_, err = migrate(ctx, path, dsn)
	if err == nil || !strings.Contains(err.Error(), "observation process/host-b/2 of host-b") {
		t.Fatalf("migrate of a damaged observation: %v", err)
	}
	for _, table := range []string{"hosts", "observations", "changes"} {
		if n := pgCount(t, dsn, table); n != 0 {
			t.Errorf("%d %s committed by a failed migrate", n, table)
		}
	}
}

// TestMigrateCounts: migrate counts every table's rows, and its check
// tells a target that differs by one byte of one row from its source.
func TestMigrateCounts(t *testing.T) {
	ctx := context.Background()
	path := migrateSource(t)
	dsn := pgtest.DSN(t)
	counts, err := migrate(ctx, path, dsn)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"hosts": 2, "observations": 6, "changes": 6, "findings": 2, "tokens": 0, "pending_enrollments": 0,
		"egress_history": 2, "finding_triage": 1, "clusters": 0, "fleet_findings": 0}
	if len(want) != len(migrateTables) {
		t.Fatalf("the test counts %d tables, migrate copies %d", len(want), len(migrateTables))
	}
	for table, n := range want {
		if counts[table] != n || pgCount(t, dsn, table) != int(n) {
			t.Errorf("%s: migrate counted %d, PostgreSQL holds %d; want %d", table, counts[table], pgCount(t, dsn, table), n)
		}
	}
	// One byte of one history row changed in PostgreSQL: the sums differ
	// for that table only.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE changes SET body = body || '\x00'::bytea WHERE host_id = 'host-a' AND seq = 2`); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stx.Rollback()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, table := range migrateTables {
		sn, sh, err := sumSQLite(ctx, stx, table)
		if err != nil {
			t.Fatal(err)
		}
		pn, ph, err := sumPostgres(ctx, tx, table)
		if err != nil {
			t.Fatal(err)
		}
		if same := sn == pn && sh == ph; same != (table.name != "changes") {
			t.Errorf("%s: %d rows %s in SQLite, %d rows %s in PostgreSQL: the check says same=%v", table.name, sn, sh[:12], pn, ph[:12], same)
		}
	}
}
