package outbox

import (
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

func TestBacklog(t *testing.T) {
	o := open(t, t.TempDir(), 1<<20)
	if n, _ := o.Backlog(); n != 0 {
		t.Fatalf("empty outbox: backlog %d", n)
	}
	o.Put(&fwv1.Report{Observations: []*fwv1.Observation{obs("a", "1")}})
	o.Put(&fwv1.Report{Observations: []*fwv1.Observation{obs("a", "2")}})
	if n, b := o.Backlog(); n != 2 || b <= 0 {
		t.Fatalf("backlog %d messages, %d bytes", n, b)
	}
	if err := o.Ack(1); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.Backlog(); n != 1 {
		t.Fatalf("after ack: backlog %d", n)
	}
}
