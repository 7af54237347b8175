package store

import (
	"fmt"
	"time"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// Fill completes a row whose HostID, Hostname, ID and Triage's comment and
// author are read, from the stored columns every backend keeps alike: the
// finding's encoded body, its state, first and last seen, and its latest
// judgement's state, time and occurrence (times in Unix milliseconds; a
// judgement time of 0 is none).
func (r *FindingRow) Fill(body []byte, state string, first, last int64, triage string, at, occurrence int64) error {
	r.Finding = &fwv1.Finding{}
	if err := proto.Unmarshal(body, r.Finding); err != nil {
		return fmt.Errorf("findings: stored %s: %w", r.ID, err)
	}
	r.State, r.FirstSeen, r.LastSeen = FindingState(state), fromMS(first), fromMS(last)
	if at != 0 {
		r.Triage.HostID, r.Triage.FindingID = r.HostID, r.ID
		r.Triage.State, r.Triage.At, r.Triage.Occurrence = TriageState(triage), fromMS(at), fromMS(occurrence)
	}
	return nil
}

// fromMS is the backends' time column: Unix milliseconds, 0 for none.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
