package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/farmwatch/farmwatch/collector/roster"
	"github.com/farmwatch/farmwatch/collector/server"
)

// fleetFiles are the roster and org files of a fleet of replicas, as the
// replica that publishes the policy read them; every replica takes its
// roster and known networks from them, so that a change of either file
// on the publishing replica reaches them all without a restart.
type fleetFiles struct {
	RosterFile string `json:"roster_file,omitempty"`
	Roster     []byte `json:"roster,omitempty"` // the last good file's bytes
	RosterErr  string `json:"roster_err,omitempty"`
	Org        []byte `json:"org,omitempty"`
}

// readFleetFiles reads the files to publish. A roster that no longer
// parses keeps prev's, with the error (as a collector alone does); an org
// file that does not is an error (the policy is not published).
func (ps policySource) readFleetFiles(prev fleetFiles) (fleetFiles, error) {
	var f fleetFiles
	if ps.orgFile != "" {
		b, err := os.ReadFile(ps.orgFile)
		if err == nil {
			_, _, err = parseOrg(b)
		}
		if err != nil {
			return f, fmt.Errorf("org %s: %w", ps.orgFile, err)
		}
		f.Org = b
	}
	if ps.rosterFile != "" {
		f.RosterFile = ps.rosterFile
		b, err := roster.ReadFile(ps.rosterFile)
		if err == nil {
			if _, err = roster.Parse(b); err != nil {
				err = fmt.Errorf("roster %s: %w", ps.rosterFile, err)
			}
		}
		if err != nil {
			f.Roster, f.RosterErr = prev.Roster, err.Error()
		} else {
			f.Roster = b
		}
	}
	return f, nil
}

func (f fleetFiles) encode() []byte {
	b, _ := json.Marshal(f)
	return b
}

func decodeFleetFiles(b []byte) (fleetFiles, error) {
	var f fleetFiles
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("the fleet's roster and org files: %w", err)
	}
	return f, nil
}

// applyFleetFiles sets p's roster and networks from the fleet's files;
// inUse is the policy in use, whose roster's load time is kept when the
// roster is the same.
func (ps policySource) applyFleetFiles(p *server.Policy, f fleetFiles, inUse server.Policy) error {
	p.Networks = nil
	if len(f.Org) > 0 {
		_, nets, err := parseOrg(f.Org)
		if err != nil {
			return fmt.Errorf("the fleet's org file: %w", err)
		}
		p.Networks = nets
	}
	p.RosterFile, p.RosterErr = f.RosterFile, f.RosterErr
	p.Roster, p.RosterVersion, p.RosterLoaded = nil, "", ps.clock()
	if len(f.Roster) > 0 {
		r, err := roster.Parse(f.Roster)
		if err != nil {
			return fmt.Errorf("the fleet's roster: %w", err)
		}
		p.Roster, p.RosterVersion = r, rosterVersion(f.Roster)
	}
	if p.RosterVersion == inUse.RosterVersion {
		p.RosterLoaded = inUse.RosterLoaded
	}
	return nil
}

// ownDiffers says which of this replica's own --roster and --org differ
// from the fleet's files, "" when none does (or it has none).
func ownDiffers(ps policySource, f fleetFiles) string {
	var why []string
	if ps.rosterFile != "" {
		if b, err := roster.ReadFile(ps.rosterFile); err == nil && !bytes.Equal(b, f.Roster) {
			why = append(why, "--roster "+ps.rosterFile)
		}
	}
	if ps.orgFile != "" {
		if b, err := os.ReadFile(ps.orgFile); err == nil && !bytes.Equal(b, f.Org) {
			why = append(why, "--org "+ps.orgFile)
		}
	}
	return strings.Join(why, ", ")
}

// rosterVersion is how a roster file's bytes are named in the policy.
func rosterVersion(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
