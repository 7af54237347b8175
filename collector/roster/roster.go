// Package roster is the organisation's roster: which person each host
// belongs to, and where that person says they work. serve --roster FILE
// reads it (and reads it again like --rules); the collector puts a host's
// person in the expectations its rules see (org.person) and in the
// clusters its fleet rules judge.
//
// The file is CSV (RFC 4180) with a header row. Columns, in any order and
// any case: hostname and person (required); email, country (ISO 3166
// alpha-2), region, city and timezone (IANA) optional; any other column
// is ignored. A file that is wrong is refused whole, naming the line.
package roster

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones are checked the same on every collector, with or without the OS's database
	"unicode"
	"unicode/utf8"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// Bounds of a roster.
const (
	MaxBytes   = 32 << 20
	MaxRows    = 1_000_000
	MaxField   = 256
	maxColumns = 64
)

// Entry is one row: a host and its person.
type Entry struct {
	Hostname string
	Person   *fwv1.Person
	Line     int // in the file
}

// Roster is a parsed roster. The zero value (and nil) names no host.
type Roster struct {
	entries []Entry
	byHost  map[string]int // lower-case hostname -> entry
}

// Error is a refused roster: the line and why.
type Error struct {
	Line   int
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Read reads and parses the roster at path.
func Read(path string) (*Roster, error) {
	b, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("roster %s: %w", path, err)
	}
	return r, nil
}

// ReadFile reads the roster file at path, refusing anything but a regular
// file (a FIFO would hold the reload forever, a device would never end)
// and a file over MaxBytes.
func ReadFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("roster %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("roster %s: not a regular file (%s)", path, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("roster %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("roster %s: %w", path, err)
	}
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("roster %s: the file is over %d bytes", path, MaxBytes)
	}
	return b, nil
}

var columns = []string{"hostname", "person", "email", "country", "region", "city", "timezone"}

// Parse parses a roster.
func Parse(b []byte) (*Roster, error) {
	if len(b) > MaxBytes {
		return nil, &Error{Line: 1, Reason: fmt.Sprintf("the file is over %d bytes", MaxBytes)}
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a spreadsheet's byte order mark
	if !utf8.Valid(b) {
		return nil, &Error{Line: 1 + bytes.Count(b[:firstInvalid(b)], []byte("\n")), Reason: "not UTF-8"}
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &Error{Line: 1, Reason: "the file is empty: want a header row with hostname and person"}
	}
	if err != nil {
		return nil, csvError(err)
	}
	if len(head) > maxColumns {
		return nil, &Error{Line: 1, Reason: fmt.Sprintf("%d columns; the limit is %d", len(head), maxColumns)}
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(columns, h) {
			continue // other columns are the organisation's own
		}
		if _, dup := col[h]; dup {
			return nil, &Error{Line: 1, Reason: fmt.Sprintf("column %q twice", h)}
		}
		col[h] = i
	}
	for _, req := range []string{"hostname", "person"} {
		if _, ok := col[req]; !ok {
			return nil, &Error{Line: 1, Reason: fmt.Sprintf("no %s column: the header needs hostname and person (and may have %s)", req, strings.Join(columns[2:], ", "))}
		}
	}
	r := &Roster{byHost: map[string]int{}}
	zones := map[string]bool{} // time zones checked, and whether they load
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(r.entries) >= MaxRows {
			return nil, &Error{Line: line, Reason: fmt.Sprintf("more than %d rows", MaxRows)}
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a line of spaces
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		e := Entry{Hostname: get("hostname"), Line: line, Person: &fwv1.Person{
			Name: get("person"), Email: get("email"), Country: strings.ToUpper(get("country")),
			Region: get("region"), City: get("city"), Timezone: get("timezone")}}
		if reason := check(e, zones); reason != "" {
			return nil, &Error{Line: line, Reason: reason}
		}
		k := Key(e.Hostname)
		if prev, dup := r.byHost[k]; dup {
			return nil, &Error{Line: line, Reason: fmt.Sprintf("hostname %q is on line %d already", e.Hostname, r.entries[prev].Line)}
		}
		r.byHost[k] = len(r.entries)
		r.entries = append(r.entries, e)
	}
	return r, nil
}

// check says what is wrong with an entry, or "". zones remembers the time
// zones it loaded (a roster names a few, on many rows).
func check(e Entry, zones map[string]bool) string {
	p := e.Person
	fields := []struct{ name, v string }{{"hostname", e.Hostname}, {"person", p.Name}, {"email", p.Email}, {"country", p.Country},
		{"region", p.Region}, {"city", p.City}, {"timezone", p.Timezone}}
	for _, f := range fields {
		if len(f.v) > MaxField {
			return fmt.Sprintf("%s is %d bytes; the limit is %d", f.name, len(f.v), MaxField)
		}
		if strings.IndexFunc(f.v, unicode.IsControl) >= 0 {
			return fmt.Sprintf("%s holds a control character", f.name)
		}
		if strings.IndexFunc(f.v, bidiControl) >= 0 {
			return fmt.Sprintf("%s holds a bidirectional override (it would reorder what a table shows)", f.name)
		}
	}
	switch {
	case e.Hostname == "":
		return "hostname is empty"
	case strings.ContainsAny(e.Hostname, " \t,/\\"):
		return fmt.Sprintf("hostname %q: a host name has no spaces, commas or slashes", e.Hostname)
	case p.Name == "":
		return fmt.Sprintf("hostname %q has no person", e.Hostname)
	case p.Email != "" && (strings.Count(p.Email, "@") != 1 || strings.HasPrefix(p.Email, "@") || strings.HasSuffix(p.Email, "@") || strings.ContainsAny(p.Email, " ,;<>")):
		return fmt.Sprintf("email %q: want name@domain", p.Email)
	case p.Country != "" && !isAlpha2(p.Country):
		return fmt.Sprintf("country %q: want an ISO 3166 alpha-2 code (US, DE)", p.Country)
	}
	if p.Timezone != "" {
		if p.Timezone == "Local" || strings.HasPrefix(p.Timezone, "/") {
			return fmt.Sprintf("timezone %q: want an IANA name (America/New_York)", p.Timezone)
		}
		ok, seen := zones[p.Timezone]
		if !seen {
			_, err := time.LoadLocation(p.Timezone)
			ok = err == nil
			if len(zones) < 1024 {
				zones[p.Timezone] = ok
			}
		}
		if !ok {
			return fmt.Sprintf("timezone %q: not an IANA time zone (America/New_York)", p.Timezone)
		}
	}
	return ""
}

// bidiControl: the embeddings, overrides and isolates that make text show
// in another order than it is (CVE-2021-42574, "Trojan Source"). The
// marks (U+200E, U+200F) and joiners, which names in some scripts need,
// are kept.
func bidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

func isAlpha2(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// csvError is the csv package's error as a roster Error with its line.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Error{Line: pe.Line, Reason: pe.Err.Error()}
	}
	return &Error{Line: 1, Reason: err.Error()}
}

// Key is how hostnames are compared: case-insensitively, without a
// trailing dot.
func Key(hostname string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(hostname), "."))
}

// Person returns the person of a host, or nil when the roster does not
// name it.
func (r *Roster) Person(hostname string) *fwv1.Person {
	if r == nil {
		return nil
	}
	if i, ok := r.byHost[Key(hostname)]; ok {
		return r.entries[i].Person
	}
	return nil
}

// Entries are the rows, in file order.
func (r *Roster) Entries() []Entry {
	if r == nil {
		return nil
	}
	return r.entries
}

// Len is the number of rows.
func (r *Roster) Len() int { return len(r.Entries()) }
