package activity

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/agent/statefile"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxDays bounds the days of counts kept: the activity reported is that of
// the last four weeks, so that a laptop that moved shows where it is now.
const MaxDays = 28

// saveEvery is the longest a sample that counted no input waits to be
// written (one that counts input is written at once).
const saveEvery = 15 * time.Minute

// countsFile is the file in the state directory.
const countsFile = "activity"

// Counts keeps a resident agent's activity counts in its state directory,
// as JSON (at most MaxDays days of 24 counts):
//
//	{"v": 1, "source": "logind", "first": 1764316800, "last": 1764320400,
//	 "days": [{"date": "2026-11-28", "samples": 60, "hours": [0, ..., 12, ...]}]}
//
// first and last are the Unix seconds of the first and the last sample. A
// damaged file is set aside (activity.bad) and counting starts afresh.
type Counts struct {
	path string

	mu     sync.Mutex
	st     countState
	loaded bool
	saved  time.Time
}

type countState struct {
	V      int    `json:"v"`
	Source string `json:"source"`
	First  int64  `json:"first"`
	Last   int64  `json:"last"`
	Days   []day  `json:"days"`
}

type day struct {
	Date    string     `json:"date"` // UTC, 2006-01-02
	Samples uint32     `json:"samples"`
	Hours   [24]uint32 `json:"hours"`
}

// NewCounts keeps counts in stateDir.
func NewCounts(stateDir string) *Counts {
	return &Counts{path: filepath.Join(stateDir, countsFile)}
}

// decodeCounts reads a counts file, refusing what it could not have
// written.
func decodeCounts(b []byte) (countState, error) {
	var st countState
	if err := json.Unmarshal(b, &st); err != nil {
		return st, err
	}
	if st.V != 1 || len(st.Days) > MaxDays || st.First > st.Last {
		return st, fmt.Errorf("activity counts: version %d, %d days", st.V, len(st.Days))
	}
	for i, d := range st.Days {
		t, err := time.Parse(time.DateOnly, d.Date)
		if err != nil || (i > 0 && d.Date <= st.Days[i-1].Date) || t.Year() < 2000 {
			return st, fmt.Errorf("activity counts: day %q", d.Date)
		}
		var sum uint64
		for _, h := range d.Hours {
			sum += uint64(h)
		}
		if sum > uint64(d.Samples) {
			return st, fmt.Errorf("activity counts: day %s has %d inputs in %d samples", d.Date, sum, d.Samples)
		}
	}
	return st, nil
}

// Add counts one sample taken at now and returns the counts so far.
func (c *Counts) Add(now time.Time, s Sample) (*fwv1.Activity, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var loadErr error
	if !c.loaded {
		c.loaded = true
		_, _, loadErr = statefile.Read(c.path, func(b []byte) error {
			st, err := decodeCounts(b)
			if err == nil {
				c.st = st
			}
			return err
		})
		if loadErr != nil {
			c.st = countState{}
		}
	}
	st := &c.st
	st.V = 1
	if st.Source != s.Source { // another idle source counts another way
		*st = countState{V: 1, Source: s.Source}
	}
	// Input since the sample before counts; the first sample, or one after
	// a long gap, looks back one window.
	w := window
	if st.Last > 0 {
		if gap := now.Sub(time.Unix(st.Last, 0)); gap > 0 && gap < 24*time.Hour {
			w = gap
		}
	}
	// A sample counts in the day of its input (just after midnight, the
	// input may be of the day before), so that no day holds more inputs
	// than samples.
	at, counted := lastInput(now, s, w)
	if counted {
		d := st.day(at)
		d.Samples++
		d.Hours[at.UTC().Hour()]++
	} else {
		st.day(now).Samples++
	}
	if st.First == 0 {
		st.First = now.Unix()
	}
	st.Last = now.Unix()
	st.trim(now)
	var err error
	if counted || now.Sub(c.saved) >= saveEvery {
		b, _ := json.Marshal(st)
		if err = statefile.Write(c.path, b); err == nil {
			c.saved = now
		}
	}
	return st.activity(), cmpErr(loadErr, err)
}

func cmpErr(load, save error) error {
	switch {
	case load != nil:
		return fmt.Errorf("activity counts were damaged and start afresh: %w", load)
	case save != nil:
		return fmt.Errorf("activity counts not kept: %w", save)
	}
	return nil
}

// day returns the counts of t's UTC day, added in date order.
func (st *countState) day(t time.Time) *day {
	date := t.UTC().Format(time.DateOnly)
	i, found := slices.BinarySearchFunc(st.Days, date, func(d day, s string) int {
		switch {
		case d.Date < s:
			return -1
		case d.Date > s:
			return 1
		}
		return 0
	})
	if !found {
		st.Days = slices.Insert(st.Days, i, day{Date: date})
	}
	return &st.Days[i]
}

// trim keeps the MaxDays days up to now.
func (st *countState) trim(now time.Time) {
	oldest := now.UTC().AddDate(0, 0, -(MaxDays - 1)).Format(time.DateOnly)
	i := 0
	for i < len(st.Days) && st.Days[i].Date < oldest {
		i++
	}
	st.Days = st.Days[i:]
	if n := len(st.Days); n > MaxDays {
		st.Days = st.Days[n-MaxDays:]
	}
	if len(st.Days) > 0 {
		if t, err := time.Parse(time.DateOnly, st.Days[0].Date); err == nil && t.Unix() > st.First {
			st.First = t.Unix()
		}
	}
}

// activity is the counts as the observation reports them.
func (st *countState) activity() *fwv1.Activity {
	a := &fwv1.Activity{Source: st.Source, HoursUtc: make([]uint32, 24)}
	for _, d := range st.Days {
		a.Samples += d.Samples
		for h, n := range d.Hours {
			a.HoursUtc[h] += n
		}
	}
	if st.First > 0 {
		a.Since = timestamppb.New(time.Unix(st.First, 0))
	}
	return a
}
