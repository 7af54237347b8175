package replica

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/internal/pgtest"
)

// TestLedger: the first turn sees no state; two replicas' turns do not
// overlap, and the second sees what the first saved.
func TestLedger(t *testing.T) {
	ctx := context.Background()
	var leads atomic.Int32
	dsn := pgtest.DSN(t)
	a, b := start(t, dsn, &leads), start(t, dsn, &leads)
	if err := a.rep.OutputLedger().Turn(ctx, func(prev []byte) ([]byte, error) {
		if prev != nil {
			t.Errorf("first turn saw %q", prev)
		}
		return []byte("1"), nil
	}); err != nil {
		t.Fatal(err)
	}
	inA := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- a.rep.OutputLedger().Turn(ctx, func(prev []byte) ([]byte, error) {
			close(inA)
			time.Sleep(500 * time.Millisecond) // b's turn waits meanwhile
			return append(prev, '2'), nil
		})
	}()
	<-inA
	if err := b.rep.OutputLedger().Turn(ctx, func(prev []byte) ([]byte, error) {
		if string(prev) != "12" {
			t.Errorf("b's turn saw %q, want a's save %q", prev, "12")
		}
		return append(prev, '3'), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var body []byte
	a.rep.pool.QueryRow(ctx, `SELECT body FROM output_state WHERE id = 1`).Scan(&body)
	if string(body) != "123" {
		t.Fatalf("saved %q", body)
	}
}
