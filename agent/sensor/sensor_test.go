package sensor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

type fake struct {
	name string
	fn   func(ctx context.Context) ([]*fwv1.Observation, error)
}

func (f fake) Name() string { return f.name }
func (f fake) Sense(ctx context.Context, _ *host.Host) ([]*fwv1.Observation, error) {
	return f.fn(ctx)
}

func obs(key string) []*fwv1.Observation { return []*fwv1.Observation{{Key: key}} }

// One sensor failing, panicking or hanging never stops the others, and
// each failure is reported.
func TestRunIsolatesFailures(t *testing.T) {
	sensors := []Sensor{
		fake{"good", func(context.Context) ([]*fwv1.Observation, error) { return obs("b"), nil }},
		fake{"partial", func(context.Context) ([]*fwv1.Observation, error) { return obs("a"), errors.New("half read") }},
		fake{"panics", func(context.Context) ([]*fwv1.Observation, error) { panic("boom") }},
		fake{"hangs", func(ctx context.Context) ([]*fwv1.Observation, error) {
			<-ctx.Done()
			time.Sleep(time.Hour)
			return nil, nil
		}},
		fake{"slow-but-polite", func(ctx context.Context) ([]*fwv1.Observation, error) { <-ctx.Done(); return obs("z"), ctx.Err() }},
	}
	start := time.Now()
	rs := Run(context.Background(), nil, sensors, 100*time.Millisecond)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Run took %s; a hanging sensor held it up", d)
	}
	want := map[string]string{"good": "", "partial": "sensor partial: half read", "panics": "sensor panics panicked: boom", "hangs": "sensor hangs: timed out after 100ms", "slow-but-polite": "context deadline exceeded"}
	for i, r := range rs {
		if r.Sensor != sensors[i].Name() {
			t.Fatalf("result %d is %s, want %s", i, r.Sensor, sensors[i].Name())
		}
		w := want[r.Sensor]
		switch {
		case w == "" && r.Err != nil:
			t.Errorf("%s: unexpected error %v", r.Sensor, r.Err)
		case w != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), w)):
			t.Errorf("%s: error %v, want %q", r.Sensor, r.Err, w)
		}
	}
	got := Observations(rs)
	keys := []string{}
	for _, o := range got {
		keys = append(keys, o.Key+"/"+o.Sensor)
	}
	if strings.Join(keys, ",") != "a/partial,b/good,z/slow-but-polite" {
		t.Fatalf("observations %v: partial results must be kept, sorted, and stamped with their sensor", keys)
	}
	if st := rs[2].Status(); st.Ok || st.Name != "panics" || !strings.Contains(st.Error, "boom") {
		t.Fatalf("status %v", st)
	}
}
