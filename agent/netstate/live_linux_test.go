//go:build linux

package netstate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ipPath is the ip the agent would run (host.Command "ip").
const ipPath = "/sbin/ip"

// sortedSet sorts and deduplicates: the kernel may dump a route twice
// (this machine's IPv6 table does, under ip as under the agent).
func sortedSet[T any](in []T) []string {
	var out []string
	for _, v := range in {
		out = append(out, fmt.Sprintf("%+v", v))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestLiveNetlinkMatchesIP: on this machine, the rules and routes read over
// netlink are those that ParseIPRule and ParseIPRoute read from the
// output of the real ip commands.
func TestLiveNetlinkMatchesIP(t *testing.T) {
	if _, err := os.Stat(ipPath); err != nil {
		t.Skipf("no %s on this machine to compare with: %v", ipPath, err)
	}
	v, err := livePolicy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rec := v.(PolicyRecord)
	ip := func(args ...string) string {
		out, err := exec.Command(ipPath, args...).Output()
		if err != nil {
			t.Fatalf("ip %v: %v", args, err)
		}
		return string(out)
	}
	for _, f := range []struct {
		name string
		v6   []string
		rec  FamilyRecord
	}{{"ipv4", nil, rec.IPv4}, {"ipv6", []string{"-6"}, rec.IPv6}} {
		wantRules := ParseIPRule(ip(append(f.v6, "rule", "show")...))
		// The agent's recorded command has no -4 (ParseIPRoute drops
		// the IPv6 routes): the same must come out either way.
		wantRoutes := ParseIPRoute(ip(append(f.v6, "route", "show", "table", "all")...), f.v6 != nil)
		if f.v6 == nil {
			if d := cmp.Diff(sortedSet(wantRoutes), sortedSet(ParseIPRoute(ip("-4", "route", "show", "table", "all"), false))); d != "" {
				t.Errorf("ip route show table all, IPv4 (-without -4 +with -4):\n%s", d)
			}
		}
		if len(wantRules) == 0 || len(wantRoutes) == 0 {
			t.Errorf("%s: ip shows %d rules and %d routes: nothing to compare", f.name, len(wantRules), len(wantRoutes))
		}
		if d := cmp.Diff(sortedSet(wantRules), sortedSet(f.rec.IPRules())); d != "" {
			t.Errorf("%s rules (-ip +netlink):\n%s", f.name, d)
		}
		if d := cmp.Diff(sortedSet(wantRoutes), sortedSet(f.rec.IPRoutes())); d != "" {
			t.Errorf("%s routes (-ip +netlink):\n%s", f.name, d)
		}
	}
}
