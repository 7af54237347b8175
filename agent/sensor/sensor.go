// Package sensor defines what a sensor is and runs a set of them against a
// host: each with its own timeout, concurrently, so that one slow or failing
// sensor never stops the others. Its failure is reported beside the others'
// observations. ByOS picks the reader of a host's OS for a sensor. There is
// no OS code here.
package sensor

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"time"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Sensor reads one area of a host and returns neutral observations. A
// sensor gathers data and never judges it (rules do) and never logs. It may
// return observations together with an error when only part of its area
// could be read.
type Sensor interface {
	Name() string
	Sense(ctx context.Context, h *host.Host) ([]*fwv1.Observation, error)
}

// Result is how one sensor ran.
type Result struct {
	Sensor       string
	Observations []*fwv1.Observation
	Err          error
	Duration     time.Duration
}

// Status is the result as the wire and the scan output carry it.
func (r Result) Status() *fwv1.SensorStatus {
	s := &fwv1.SensorStatus{Name: r.Sensor, Ok: r.Err == nil, DurationUs: r.Duration.Microseconds(), Observations: int32(len(r.Observations))}
	if r.Err != nil {
		s.Error = r.Err.Error()
	}
	return s
}

// Run runs every sensor against h, each bounded by timeout, and returns
// their results in the order given. A sensor that overruns its timeout is
// reported as failed; its goroutine is left to end on its cancelled context
// and its late result is discarded. A sensor that panics is reported as
// failed with the panic, and the others go on.
func Run(ctx context.Context, h *host.Host, sensors []Sensor, timeout time.Duration) []Result {
	results := make([]Result, len(sensors))
	for i, s := range sensors {
		results[i].Sensor = s.Name()
	}
	type out struct {
		i   int
		res Result
	}
	ch := make(chan out, len(sensors))
	for i, s := range sensors {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		go func() {
			defer cancel()
			start := time.Now()
			obs, err := safeSense(sctx, h, s)
			if err == nil && sctx.Err() != nil {
				err = sctx.Err()
			}
			ch <- out{i, Result{Sensor: s.Name(), Observations: obs, Err: err, Duration: time.Since(start)}}
		}()
	}
	deadline := time.NewTimer(timeout + timeout/10 + 50*time.Millisecond)
	defer deadline.Stop()
	got := make([]bool, len(sensors))
	for n := 0; n < len(sensors); {
		select {
		case o := <-ch:
			results[o.i], got[o.i] = o.res, true
			n++
		case <-deadline.C:
			for i := range results {
				if !got[i] {
					results[i].Err = fmt.Errorf("sensor %s: timed out after %s", results[i].Sensor, timeout)
					results[i].Duration = timeout
				}
			}
			return results
		}
	}
	return results
}

func safeSense(ctx context.Context, h *host.Host, s Sensor) (obs []*fwv1.Observation, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sensor %s panicked: %v\n%s", s.Name(), r, debug.Stack())
		}
	}()
	obs, err = s.Sense(ctx, h)
	if err != nil {
		err = fmt.Errorf("sensor %s: %w", s.Name(), err)
	}
	for _, o := range obs {
		o.Sensor = s.Name()
	}
	return obs, err
}

// Observations flattens the results' observations, sorted by key.
func Observations(rs []Result) []*fwv1.Observation {
	var all []*fwv1.Observation
	for _, r := range rs {
		all = append(all, r.Observations...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Key < all[j].Key })
	return all
}
