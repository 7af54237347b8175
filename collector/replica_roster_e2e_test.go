package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReplicaRoster: the roster (and org file) of the replica that runs
// the fleet's jobs reach the other replica, which has its own, different
// roster: it uses the fleet's, says in its log that its own differs, and
// follows a change of the file without a restart.
func TestReplicaRoster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newPGFleet(t)
	const head = "hostname,person,email,country,region,city,timezone\n"
	rosterA, rosterB, org := filepath.Join(f.dir, "roster-a.csv"), filepath.Join(f.dir, "roster-b.csv"), filepath.Join(f.dir, "org.yaml")
	os.WriteFile(rosterA, []byte(head+"laptop-1,Ann,ann@example.com,US,NY,New York,America/New_York\n"), 0o600)
	os.WriteFile(rosterB, []byte(head+"laptop-9,Zed,zed@example.com,FR,IDF,Paris,Europe/Paris\n"), 0o600)
	os.WriteFile(org, []byte("networks:\n  - {name: hq, kind: office, egress: [203.0.113.0/28]}\n"), 0o600)
	addrA, addrB := freeAddr(t), freeAddr(t)
	// a starts alone, and so runs the fleet's jobs (and publishes).
	a := f.replica(addrA, "--roster", rosterA, "--org", org, "--reload", "1s")
	type rosterOut struct {
		File    string `json:"file"`
		Error   string `json:"error"`
		Entries []struct {
			Hostname string `json:"hostname"`
			Person   string `json:"person"`
		} `json:"entries"`
	}
	show := func(addr string) rosterOut {
		var r rosterOut
		out, err := f.cliAt(addr, "roster", "show")
		if err == nil {
			json.Unmarshal(out, &r)
		}
		return r
	}
	people := func(r rosterOut) string {
		var s []string
		for _, e := range r.Entries {
			s = append(s, e.Hostname+"="+e.Person)
		}
		return strings.Join(s, ",")
	}
	waitUntil(t, "the roster published", 30*time.Second, func() bool {
		var n int
		f.db.QueryRow(t.Context(), `SELECT count(*) FROM policy WHERE files IS NOT NULL`).Scan(&n)
		return n == 1 && people(show(addrA)) == "laptop-1=Ann"
	}, a.p)
	b := f.replica(addrB, "--roster", rosterB, "--reload", "1s")
	waitUntil(t, "the fleet's roster at b", 30*time.Second, func() bool {
		r := show(addrB)
		return people(r) == "laptop-1=Ann" && r.File == rosterA
	}, a.p, b.p)
	waitUntil(t, "b says its own roster differs", 10*time.Second, func() bool {
		return strings.Contains(b.p.log.String(), "own files differ from the fleet's") && strings.Contains(b.p.log.String(), rosterB)
	}, b.p)
	// The roster changes on a's side: b follows, without a restart.
	os.WriteFile(rosterA, []byte(head+"laptop-1,Ann,ann@example.com,US,NY,New York,America/New_York\nlaptop-2,Bob,bob@example.com,US,NY,New York,America/New_York\n"), 0o600)
	waitUntil(t, "the changed roster at b", 30*time.Second, func() bool {
		return people(show(addrB)) == "laptop-1=Ann,laptop-2=Bob"
	}, a.p, b.p)
	// A malformed roster: both keep the last good one and show the error.
	os.WriteFile(rosterA, []byte(head+"broken,,,,,,\n"), 0o600)
	waitUntil(t, "the malformed roster's error at b", 30*time.Second, func() bool {
		r := show(addrB)
		return people(r) == "laptop-1=Ann,laptop-2=Bob" && strings.Contains(r.Error, "line 2")
	}, a.p, b.p)
}
