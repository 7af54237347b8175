package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
)

// personJSON is a roster person for JSON, or nil.
func personJSON(p *fwv1.Person) any {
	if p == nil {
		return nil
	}
	return map[string]any{"name": p.Name, "email": p.Email, "country": p.Country, "region": p.Region, "city": p.City, "timezone": p.Timezone}
}

// personLine is a person for people: "Ann Lee <ann@example.com>, New York, NY, US (America/New_York)".
func personLine(p *fwv1.Person) string {
	s := p.GetName()
	if p.GetEmail() != "" {
		s += " <" + p.GetEmail() + ">"
	}
	var place []string
	for _, v := range []string{p.GetCity(), p.GetRegion(), p.GetCountry()} {
		if v != "" {
			place = append(place, v)
		}
	}
	if len(place) > 0 {
		s += ", " + strings.Join(place, ", ")
	}
	if p.GetTimezone() != "" {
		s += " (" + p.GetTimezone() + ")"
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func severityWord(s fwv1.Severity) string {
	if s == fwv1.Severity_SEVERITY_UNSPECIFIED {
		return "none"
	}
	return report.SeverityName(s)
}

// printFarms prints the clusters: JSON (the design's fields and more), or
// for people each cluster with its people, what they claim, the signals
// and the rules' verdicts.
func printFarms(w io.Writer, format string, cs []*fwv1.Cluster) error {
	if format == "json" {
		out := []map[string]any{}
		for _, c := range cs {
			var hosts []string
			var members, signals, findings []map[string]any
			for _, m := range c.Members {
				hosts = append(hosts, m.Hostname)
				members = append(members, map[string]any{"hostname": m.Hostname, "host_id": m.HostId, "person": personJSON(m.Person),
					"egress_ip": m.EgressIp, "egress_country": m.EgressCountry, "network": m.Network, "online": m.Online})
			}
			for _, s := range c.Signals {
				signals = append(signals, map[string]any{"kind": s.Kind, "value": s.Value, "hosts": nonNil(s.Hosts), "label": s.Label,
					"people": s.DistinctPeople, "first_seen": when(s.FirstSeen), "last_seen": when(s.LastSeen)})
			}
			for _, f := range c.Findings {
				findings = append(findings, map[string]any{"rule": f.Rule, "severity": severityWord(f.Severity), "title": f.Title,
					"label": f.Label, "message": f.Message, "suppressed_by": f.SuppressedBy})
			}
			out = append(out, map[string]any{
				"id": c.Id, "severity": severityWord(c.Severity), "state": c.State, "hosts": nonNil(hosts), "people": nonNil(c.People),
				"distinct_people": c.DistinctPeople, "unrostered": nonNil(c.Unrostered), "countries": nonNil(c.Countries),
				"regions": nonNil(c.Regions), "cities": nonNil(c.Cities), "timezones": nonNil(c.Timezones),
				"egress_countries": nonNil(c.EgressCountries), "signals": signals, "findings": findings, "members": members,
				"first_seen": when(c.FirstSeen), "last_seen": when(c.LastSeen),
			})
		}
		return writeJSON(w, out)
	}
	if len(cs) == 0 {
		_, err := fmt.Fprintln(w, "no farms: no hosts of different people share a place or a device")
		return err
	}
	for i, c := range cs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  %s  %s  %d hosts of %d people  first seen %s, last seen %s\n", strings.ToUpper(severityWord(c.Severity)),
			report.Clean(c.Id), c.State, len(c.Members), c.DistinctPeople, when(c.FirstSeen), when(c.LastSeen))
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, m := range c.Members {
			who := "not on the roster"
			if m.Person != nil {
				who = personLine(m.Person)
			}
			online := ""
			if m.Online {
				online = "online"
			}
			fmt.Fprintf(tw, "  %s\t%s\tegress %s\t%s\n", report.Clean(m.Hostname), report.Clean(who), report.Clean(m.EgressIp), online)
		}
		tw.Flush()
		fmt.Fprintln(w, "  signals:")
		for _, s := range c.Signals {
			fmt.Fprintf(w, "    %-11s %s: %s (since %s)\n", s.Kind, report.Clean(s.Label), report.Clean(strings.Join(s.Hosts, ", ")), when(s.FirstSeen))
		}
		fmt.Fprintln(w, "  verdict:")
		for _, f := range c.Findings {
			line := fmt.Sprintf("    %-8s %s: %s", strings.ToUpper(severityWord(f.Severity)), report.Clean(f.Rule), report.Clean(f.Title))
			if f.Label != "" {
				line += " (" + report.Clean(f.Label) + ")"
			}
			if f.SuppressedBy != "" {
				line += ", sanctioned by " + report.Clean(f.SuppressedBy)
			}
			fmt.Fprintln(w, line)
		}
	}
	return nil
}

func printRoster(w io.Writer, format string, r *fwv1.GetRosterResponse) error {
	if format == "json" {
		entries := []map[string]any{}
		for _, e := range r.Entries {
			p := e.Person
			entries = append(entries, map[string]any{"hostname": e.Hostname, "person": p.GetName(), "email": p.GetEmail(), "country": p.GetCountry(),
				"region": p.GetRegion(), "city": p.GetCity(), "timezone": p.GetTimezone(), "line": e.Line, "host_ids": nonNil(e.HostIds)})
		}
		return writeJSON(w, map[string]any{"file": r.File, "loaded": when(r.Loaded), "error": r.Error, "entries": entries})
	}
	if r.File == "" {
		_, err := fmt.Fprintln(w, "no roster: serve runs without --roster")
		return err
	}
	fmt.Fprintf(w, "roster %s, read %s, %d hosts\n", report.Clean(r.File), when(r.Loaded), len(r.Entries))
	if r.Error != "" {
		fmt.Fprintf(w, "the file as it is now was REFUSED, the last good one is in use: %s\n", report.Clean(r.Error))
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOSTNAME\tPERSON\tEMAIL\tCOUNTRY\tREGION\tCITY\tTIMEZONE\tENROLLED")
	for _, e := range r.Entries {
		p := e.Person
		enrolled := "no"
		if n := len(e.HostIds); n == 1 {
			enrolled = "yes"
		} else if n > 1 {
			enrolled = fmt.Sprintf("%d hosts", n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", report.Clean(e.Hostname), report.Clean(p.GetName()), report.Clean(p.GetEmail()),
			report.Clean(p.GetCountry()), report.Clean(p.GetRegion()), report.Clean(p.GetCity()), report.Clean(p.GetTimezone()), enrolled)
	}
	return tw.Flush()
}

func queryRowsJSON(rows []*fwv1.QueryRow) ([]map[string]any, error) {
	out := []map[string]any{}
	for _, r := range rows {
		obs, err := protoJSON(r.Observation)
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]any{"hostname": r.Hostname, "host_id": r.HostId, "kind": r.Kind, "key": r.Key, "observation": obs})
	}
	return out, nil
}

func printQuery(w io.Writer, format string, r *fwv1.QueryObservationsResponse) error {
	if format == "json" {
		out, err := queryRowsJSON(r.Rows)
		if err != nil {
			return err
		}
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOSTNAME\tKIND\tWHAT")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", report.Clean(row.Hostname), report.Clean(row.Kind), report.Clean(report.Describe(row.Observation, row.Key)))
	}
	tw.Flush()
	more := ""
	if r.Truncated {
		more = " (more matched: raise --limit)"
	}
	fmt.Fprintf(w, "%d rows from %d hosts%s\n", len(r.Rows), r.Hosts, more)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", report.Clean(e))
	}
	return nil
}

// printHunt prints a hunt's answers as they come: for people a line a
// match, for tools one JSON object a line (a row, an agent's error, and
// the summary last).
func printHunt(w io.Writer, format string, st interface {
	Recv() (*fwv1.HuntEvent, error)
}) error {
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return errors.New("hunt: the collector ended the hunt without a summary")
		}
		if err != nil {
			return rpcError("hunt", err)
		}
		if a := ev.GetAnswer(); a != nil {
			if format == "json" {
				rows, err := queryRowsJSON(a.Rows)
				if err != nil {
					return err
				}
				for _, r := range rows {
					if err := writeLine(w, r); err != nil {
						return err
					}
				}
				if a.Error != "" {
					if err := writeLine(w, map[string]any{"hostname": a.Hostname, "host_id": a.HostId, "error": a.Error}); err != nil {
						return err
					}
				}
				continue
			}
			for _, r := range a.Rows {
				fmt.Fprintf(w, "%s\t%s\t%s\n", report.Clean(r.Hostname), report.Clean(r.Kind), report.Clean(report.Describe(r.Observation, r.Key)))
			}
			if a.Error != "" {
				fmt.Fprintf(w, "%s\terror\t%s\n", report.Clean(a.Hostname), report.Clean(a.Error))
			}
			continue
		}
		if s := ev.GetSummary(); s != nil {
			if format == "json" {
				return writeLine(w, map[string]any{"summary": map[string]any{"asked": s.Asked, "answered": s.Answered, "timed_out": s.TimedOut,
					"failed": s.Failed, "matched": s.Matched}})
			}
			_, err := fmt.Fprintf(w, "asked %d agents: %d answered (%d with matches), %d failed, %d timed out\n", s.Asked, s.Answered, s.Matched, s.Failed, s.TimedOut)
			return err
		}
	}
}

// writeLine writes v as one line of JSON.
func writeLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
