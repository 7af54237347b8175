//go:build linux

package netstate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// TestNetnsWgQuick sets up wg-quick's rules and table (repo
// WireGuard/wireguard-tools src/wg-quick/linux.bash add_default), with
// other selectors beside them, in a private network namespace, and reads
// it over netlink from a thread inside it: the reading is what ip shows
// of the namespace, and PolicyDefaults finds the tunnel's default of both
// families. The tunnel is a veth named wg0: the kernel here has no
// wireguard or dummy links, and routing does not look at the link kind.
func TestNetnsWgQuick(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	if _, err := os.Stat(ipPath); err != nil {
		t.Skipf("no %s to set up the namespace: %v", ipPath, err)
	}
	ns := fmt.Sprintf("fwnl%d", os.Getpid())
	if out, err := exec.Command(ipPath, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command(ipPath, "netns", "del", ns).Run() })
	ip := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(ipPath, append([]string{"-n", ns}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	for _, c := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"},
		{"link", "add", "wg0", "type", "veth", "peer", "name", "wg0p"},
		// No IPv6 link-local addresses: the kernel adds them (and their
		// local routes) a moment after a link comes up, so ip and netlink,
		// read one after the other, would see different tables.
		{"link", "set", "eth0", "addrgenmode", "none"}, {"link", "set", "eth0p", "addrgenmode", "none"},
		{"link", "set", "wg0", "addrgenmode", "none"}, {"link", "set", "wg0p", "addrgenmode", "none"},
		{"link", "set", "eth0", "up"}, {"link", "set", "eth0p", "up"}, {"link", "set", "wg0", "up"}, {"link", "set", "wg0p", "up"},
		{"addr", "add", "192.0.2.2/24", "dev", "eth0"},
		{"-6", "addr", "add", "fd00::2/64", "dev", "eth0", "nodad"},
		{"route", "add", "default", "via", "192.0.2.1", "dev", "eth0"},
		{"-6", "route", "add", "default", "via", "fd00::1", "dev", "eth0"},
		// wg-quick, both families.
		{"-4", "route", "add", "default", "dev", "wg0", "table", "51820"},
		{"-4", "rule", "add", "not", "fwmark", "51820", "table", "51820"},
		{"-4", "rule", "add", "table", "main", "suppress_prefixlength", "0"},
		{"-6", "route", "add", "default", "dev", "wg0", "table", "51820"},
		{"-6", "rule", "add", "not", "fwmark", "51820", "table", "51820"},
		{"-6", "rule", "add", "table", "main", "suppress_prefixlength", "0"},
		// Selectors that send only some packets elsewhere.
		{"rule", "add", "from", "198.51.100.0/24", "blackhole", "prio", "100"},
		{"rule", "add", "uidrange", "1000-1000", "lookup", "100", "prio", "200"},
		{"rule", "add", "ipproto", "tcp", "dport", "22", "lookup", "7", "prio", "300"},
		{"rule", "add", "iif", "lo", "fwmark", "0x80000/0xff0000", "lookup", "52", "prio", "5210"},
		{"route", "add", "203.0.113.0/24", "table", "100", "nexthop", "via", "192.0.2.1", "dev", "eth0", "nexthop", "via", "192.0.2.3", "dev", "eth0"},
		{"route", "add", "blackhole", "default", "table", "7"},
	} {
		ip(c...)
	}

	// Read from a thread inside the namespace.
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Skipf("setns: %v", err)
	}
	v, lerr := livePolicy(context.Background())
	var pol []*fwv1.Route
	var perr error
	if live, err := host.Live(); err == nil {
		pol, perr = policyRoutesLinux(context.Background(), live)
	} else {
		perr = err
	}
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err == nil {
		runtime.UnlockOSThread()
	} // else the thread ends with the test's goroutine, still locked
	if lerr != nil {
		t.Fatal(lerr)
	}
	if perr != nil {
		t.Fatal(perr)
	}
	rec := v.(PolicyRecord)
	if n := len(rec.IPv4.Rules); n < 8 {
		t.Errorf("%d IPv4 rules read in the namespace, want the 8 set up: %+v", n, rec.IPv4.Rules)
	}
	t.Logf("read in the namespace: IPv4 %d rules, %d routes; IPv6 %d rules, %d routes",
		len(rec.IPv4.Rules), len(rec.IPv4.Routes), len(rec.IPv6.Rules), len(rec.IPv6.Routes))
	for _, f := range []struct {
		name string
		v6   []string
		rec  FamilyRecord
	}{{"ipv4", []string{"-4"}, rec.IPv4}, {"ipv6", []string{"-6"}, rec.IPv6}} {
		if d := cmp.Diff(sortedSet(ParseIPRule(ip(append(f.v6, "rule", "show")...))), sortedSet(f.rec.IPRules())); d != "" {
			t.Errorf("%s rules (-ip +netlink):\n%s", f.name, d)
		}
		if d := cmp.Diff(sortedSet(ParseIPRoute(ip(append(f.v6, "route", "show", "table", "all")...), f.name == "ipv6")), sortedSet(f.rec.IPRoutes())); d != "" {
			t.Errorf("%s routes (-ip +netlink):\n%s", f.name, d)
		}
	}
	want := []*fwv1.Route{
		{Destination: "0.0.0.0/0", Interface: "wg0", Family: "ipv4", Table: "51820", Rule: "32765: not from all fwmark 0xca6c lookup 51820"},
		{Destination: "::/0", Interface: "wg0", Family: "ipv6", Table: "51820", Metric: 1024, Rule: "32765: not from all fwmark 0xca6c lookup 51820"},
	}
	if d := cmp.Diff(want, pol, protocmp.Transform()); d != "" {
		t.Errorf("policy defaults (-want +got):\n%s", d)
	}
}
