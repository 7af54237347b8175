package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/collector/server"
)

// TestFleetFiles: the roster and org files a publishing replica reads
// give every replica its roster and networks; a roster that no longer
// parses keeps the last good one with the error; an org file that does
// not parse is not published; files that do not decode are refused.
func TestFleetFiles(t *testing.T) {
	dir := t.TempDir()
	rf, of := filepath.Join(dir, "roster.csv"), filepath.Join(dir, "org.yaml")
	os.WriteFile(rf, []byte("hostname,person,email,country,region,city,timezone\nlaptop-1,Ann,ann@example.com,US,NY,New York,America/New_York\n"), 0o600)
	os.WriteFile(of, []byte("networks:\n  - {name: hq, kind: office, egress: [203.0.113.0/28]}\n"), 0o600)
	ps := policySource{rosterFile: rf, orgFile: of}
	f, err := ps.readFleetFiles(fleetFiles{})
	if err != nil || f.RosterErr != "" || f.RosterFile != rf {
		t.Fatalf("read: %+v %v", f, err)
	}
	g, err := decodeFleetFiles(f.encode())
	if err != nil {
		t.Fatal(err)
	}
	other := policySource{} // a replica without the files
	var p server.Policy
	if err := other.applyFleetFiles(&p, g, server.Policy{}); err != nil {
		t.Fatal(err)
	}
	if p.Roster.Len() != 1 || p.RosterFile != rf || p.RosterVersion != rosterVersion(f.Roster) || len(p.Networks) != 1 || p.Networks[0].Name != "hq" {
		t.Fatalf("applied: roster %d %q %q, networks %+v", p.Roster.Len(), p.RosterFile, p.RosterVersion, p.Networks)
	}
	if why := ownDiffers(ps, g); why != "" {
		t.Fatalf("the publisher's own files differ: %s", why)
	}
	// The roster breaks: the last good one is published, with the error.
	os.WriteFile(rf, []byte("hostname,person\nbroken,,,\n"), 0o600)
	h, err := ps.readFleetFiles(g)
	if err != nil || h.RosterErr == "" || string(h.Roster) != string(g.Roster) {
		t.Fatalf("a broken roster: %+v %v", h, err)
	}
	if why := ownDiffers(ps, g); !strings.Contains(why, "--roster") {
		t.Fatalf("a changed roster not told: %q", why)
	}
	// The org file breaks: nothing is published.
	os.WriteFile(of, []byte("networks: [{name: x, kind: nonsense}]\n"), 0o600)
	if _, err := ps.readFleetFiles(g); err == nil || !strings.Contains(err.Error(), of) {
		t.Fatalf("a broken org file: %v", err)
	}
	// Damaged files from the database.
	if _, err := decodeFleetFiles([]byte("{not json")); err == nil {
		t.Fatal("damaged files decoded")
	}
	if err := other.applyFleetFiles(&p, fleetFiles{Roster: []byte("hostname\n\x00\n")}, server.Policy{}); err == nil {
		t.Fatal("a roster that does not parse applied")
	}
}
