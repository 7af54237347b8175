package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"
)

// home is a place: its egress IP (what the collector sees through the
// relay's PROXY header), and the LAN's router and access point.
type home struct {
	egress string
	subnet int    // 192.168.subnet.0/24
	gw     string // the router's MAC
	ap     string // the access point's BSSID; "" for a wired LAN
}

func newHome(egress string, n int, wifi bool) home {
	h := home{egress: egress, subnet: n, gw: fmt.Sprintf("f4:92:bf:%02x:%02x:01", n/256, n%256)}
	if wifi {
		h.ap = fmt.Sprintf("f4:92:bf:%02x:%02x:02", n/256, n%256)
	}
	return h
}

// scenarioHost is one laptop of a scenario: a captured host (its
// processes, devices, locale) placed in a home with its own MAC, and the
// MACs of the other laptops its neighbour table holds.
type scenarioHost struct {
	name, base string
	at         home
	mac        string // its own interface's MAC
	ip         int    // its address's last byte
	sees       []string
	tz         string // /etc/timezone, "" for the base's
}

// snapshot writes the host's snapshot: the base capture, with the network
// files of its place (the paths DESIGN.md names: /sys/class/net,
// /proc/net/route, /proc/net/arp, /proc/net/wireless and NetworkManager's
// seen-bssids).
func (h scenarioHost) snapshot(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "hosts", h.base+".txtar"))
	if err != nil {
		t.Fatal(err)
	}
	a := txtar.Parse(b)
	var keep []txtar.File
	for _, f := range a.Files {
		if !strings.HasPrefix(f.Name, "root/etc/timezone") || h.tz == "" {
			keep = append(keep, f)
		}
	}
	add := func(name, data string) { keep = append(keep, txtar.File{Name: name, Data: []byte(data)}) }
	iface := "eth0"
	if h.at.ap != "" {
		iface = "wlan0"
	}
	gwIP := fmt.Sprintf("192.168.%d.1", h.at.subnet)
	add("root/sys/class/net/"+iface+"/type", "1\n")
	add("root/sys/class/net/"+iface+"/operstate", "up\n")
	add("root/sys/class/net/"+iface+"/address", h.mac+"\n")
	add("root/sys/class/net/"+iface+"/uevent", "INTERFACE="+iface+"\nIFINDEX=2\n")
	add("root/sys/class/net/lo/type", "772\n")
	add("root/sys/class/net/lo/operstate", "unknown\n")
	add("root/sys/class/net/lo/address", "00:00:00:00:00:00\n")
	add("root/proc/net/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"+
		fmt.Sprintf("%s\t00000000\t01%02XA8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n", iface, h.at.subnet)+
		fmt.Sprintf("%s\t00%02XA8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n", iface, h.at.subnet))
	arp := "IP address       HW type     Flags       HW address            Mask     Device\n" +
		fmt.Sprintf("%-16s 0x1         0x2         %s     *        %s\n", gwIP, h.at.gw, iface)
	for i, m := range h.sees {
		arp += fmt.Sprintf("%-16s 0x1         0x2         %s     *        %s\n", fmt.Sprintf("192.168.%d.%d", h.at.subnet, 100+i), m, iface)
	}
	add("root/proc/net/arp", arp)
	if h.at.ap != "" {
		add("root/proc/net/wireless", "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n"+
			" face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n"+
			"wlan0: 0000   54.  -56.  -256        0      0      0      0     12        0\n")
		add("root/var/lib/NetworkManager/timestamps", "[timestamps]\n8b1b7c5e-0000-4000-8000-000000000001=1795860000\n")
		add("root/var/lib/NetworkManager/seen-bssids", "[seen-bssids]\n8b1b7c5e-0000-4000-8000-000000000001="+h.at.ap+";\n")
	}
	if h.tz != "" {
		add("root/etc/timezone", h.tz+"\n")
	}
	a.Files = keep
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, txtar.Format(a), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // the agent reads it whole at each scan
		t.Fatal(err)
	}
}

type farmJSON struct {
	ID       string   `json:"id"`
	Severity string   `json:"severity"`
	State    string   `json:"state"`
	Hosts    []string `json:"hosts"`
	People   []string `json:"people"`
	Signals  []struct {
		Kind  string   `json:"kind"`
		Value string   `json:"value"`
		Hosts []string `json:"hosts"`
	} `json:"signals"`
	Findings []struct {
		Rule     string `json:"rule"`
		Severity string `json:"severity"`
	} `json:"findings"`
	FirstSeen string `json:"first_seen"`
	LastSeen  string `json:"last_seen"`
}

var sevRank = map[string]int{"none": 0, "info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}

// TestFarms runs a fleet of scenario laptops, one agent each behind its
// own PROXY protocol relay (so each has its own egress IP), against a
// collector with a roster and the organisation's networks, and checks
// which hosts the fleet rules call a farm: farms found by each signal
// alone and together; an office, a corporate VPN, a shared carrier
// address and a laptop visiting once not flagged; a roster change and a
// malformed roster; a PROXY header from a peer the collector does not
// trust refused.
func TestFarms(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	f := newFleet(t)
	dir := f.dir
	officeHome := home{egress: "203.0.113.10", subnet: 50, gw: "00:25:90:00:00:01", ap: "00:25:90:00:00:02"}
	farmHouse := newHome("198.51.100.7", 1, true)
	mac := func(n int) string { return fmt.Sprintf("a4:83:e7:00:%02x:%02x", n/256, n%256) }
	var hosts []scenarioHost
	addHost := func(name, base string, at home, n int, sees ...int) {
		h := scenarioHost{name: name, base: base, at: at, mac: mac(n), ip: 10 + n%200}
		for _, s := range sees {
			h.sees = append(h.sees, mac(s))
		}
		hosts = append(hosts, h)
	}
	rc, clean := "linux-anydesk-rustdesk", "linux-clean"
	// A farm by every signal: four laptops of four people in one house,
	// on one Wi-Fi, seeing each other, remote-controlled.
	addHost("farm-1", rc, farmHouse, 1, 2, 3)
	addHost("farm-2", rc, farmHouse, 2, 1, 4)
	addHost("farm-3", rc, farmHouse, 3, 4)
	addHost("farm-4", rc, farmHouse, 4, 1)
	// Farms by one signal alone: each laptop has its own egress.
	gw := newHome("", 2, false)
	addHost("gw-1", clean, home{egress: "198.51.100.21", subnet: 2, gw: gw.gw}, 21)
	addHost("gw-2", clean, home{egress: "198.51.100.22", subnet: 12, gw: gw.gw}, 22)
	ap := "f4:92:bf:00:99:02"
	addHost("wifi-1", clean, home{egress: "198.51.100.31", subnet: 3, gw: "f4:92:bf:00:31:01", ap: ap}, 31)
	addHost("wifi-2", clean, home{egress: "198.51.100.32", subnet: 13, gw: "f4:92:bf:00:32:01", ap: ap}, 32)
	addHost("nb-1", clean, home{egress: "198.51.100.41", subnet: 4, gw: "f4:92:bf:00:41:01"}, 41, 42)
	addHost("nb-2", clean, home{egress: "198.51.100.42", subnet: 14, gw: "f4:92:bf:00:42:01"}, 42)
	addHost("eg-1", rc, home{egress: "198.51.100.50", subnet: 5, gw: "f4:92:bf:00:51:01"}, 51)
	addHost("eg-2", rc, home{egress: "198.51.100.50", subnet: 15, gw: "f4:92:bf:00:52:01"}, 52)
	// Decoys. An office of four declared in --org (by egress and gateway).
	for i := 1; i <= 4; i++ {
		addHost(fmt.Sprintf("office-%d", i), clean, officeHome, 60+i, 60+i%4+1)
	}
	// Remote workers on the corporate VPN: one egress, each at home.
	addHost("vpn-1", clean, home{egress: "192.0.2.97", subnet: 7, gw: "f4:92:bf:00:71:01", ap: "f4:92:bf:00:71:02"}, 71)
	addHost("vpn-2", clean, home{egress: "192.0.2.97", subnet: 17, gw: "f4:92:bf:00:72:01", ap: "f4:92:bf:00:72:02"}, 72)
	// Strangers behind one carrier-grade NAT address.
	addHost("cgnat-1", clean, home{egress: "203.0.113.200", subnet: 8, gw: "f4:92:bf:00:81:01"}, 81)
	addHost("cgnat-2", clean, home{egress: "203.0.113.200", subnet: 18, gw: "f4:92:bf:00:82:01"}, 82)
	// A remote worker at home, and a colleague who visits once.
	friend := newHome("198.51.100.90", 9, true)
	addHost("home-1", clean, friend, 91)
	addHost("visitor", clean, friend, 92, 91)
	addHost("home-2", clean, newHome("198.51.100.95", 10, true), 95)

	people := map[string]string{}
	var roster strings.Builder
	roster.WriteString("hostname,person,email,country,region,city,timezone\n")
	for i, h := range hosts {
		p := fmt.Sprintf("Person %02d", i)
		people[h.name] = p
		fmt.Fprintf(&roster, "%s,%s,p%02d@example.com,US,NY,New York,America/New_York\n", h.name, p, i)
	}
	rosterFile := filepath.Join(dir, "roster.csv")
	os.WriteFile(rosterFile, []byte(roster.String()), 0o600)
	orgFile := filepath.Join(dir, "org.yaml")
	os.WriteFile(orgFile, []byte(fmt.Sprintf(`countries: [US]
networks:
  - {name: hq, kind: office, egress: [203.0.113.0/28], gateways: ["%s"]}
  - {name: corp-vpn, kind: vpn, egress: [192.0.2.96/29]}
`, strings.ToUpper(officeHome.gw))), 0o600)
	// A GeoIP database (written with MaxMind's writer library) places the
	// egress farm's address abroad and the carrier NAT's at home; the
	// others it does not know.
	geo := writeGeoIP(t, filepath.Join(dir, "country.mmdb"), map[string]string{"198.51.100.50/32": "NG", "203.0.113.200/32": "US"})
	f.serve("--metrics", "", "--proxy-protocol-from", "127.0.0.1/32", "--roster", rosterFile, "--org", orgFile, "--reload", "1s", "--geoip", geo)

	relays := map[string]*relay{}
	snaps := map[string]string{}
	var agents []*proc
	for _, h := range hosts {
		snaps[h.name] = filepath.Join(dir, h.name+".txtar")
		h.snapshot(t, snaps[h.name])
		relays[h.name] = startRelay(t, f.addr, h.at.egress)
		args := []string{"run", "--collector", relays[h.name].addr(), "--ca", filepath.Join(f.data, "ca.crt"),
			"--enroll-secret-file", filepath.Join(f.data, "enroll-secret"), "--state", filepath.Join(dir, "state-"+h.name),
			"--interval", "2s", "--snapshot", snaps[h.name], "--hostname", h.name}
		agents = append(agents, startProc(t, f.agent, args...))
	}
	logs := append([]*proc{f.srv}, agents[:2]...)
	tryFarms := func(all bool) ([]farmJSON, error) {
		args := []string{"farms"}
		if all {
			args = append(args, "--all")
		}
		out, err := f.cli(args...)
		var fs []farmJSON
		if err == nil {
			err = json.Unmarshal(out, &fs)
		}
		return fs, err
	}
	farms := func(all bool) []farmJSON {
		fs, err := tryFarms(all)
		if err != nil {
			t.Fatalf("farms: %v", err)
		}
		return fs
	}
	// cluster is the open cluster a host is in, or nil.
	cluster := func(fs []farmJSON, host string) *farmJSON {
		for i := range fs {
			if slices.Contains(fs[i].Hosts, host) {
				return &fs[i]
			}
		}
		return nil
	}
	type want struct {
		hosts []string
		sev   string   // at least
		kinds []string // exactly these signal kinds
	}
	farmsWanted := []want{
		{[]string{"farm-1", "farm-2", "farm-3", "farm-4"}, "critical", []string{"bssid", "egress_ip", "gateway", "neighbor"}},
		{[]string{"gw-1", "gw-2"}, "critical", []string{"gateway"}},
		{[]string{"wifi-1", "wifi-2"}, "critical", []string{"bssid"}},
		{[]string{"nb-1", "nb-2"}, "critical", []string{"neighbor"}},
		{[]string{"eg-1", "eg-2"}, "high", []string{"egress_ip"}},
	}
	matches := func(fs []farmJSON, w want) bool {
		c := cluster(fs, w.hosts[0])
		if c == nil || !slices.Equal(c.Hosts, w.hosts) || sevRank[c.Severity] < sevRank[w.sev] {
			return false
		}
		var kinds []string
		for _, s := range c.Signals {
			if !slices.Contains(kinds, s.Kind) {
				kinds = append(kinds, s.Kind)
			}
		}
		sort.Strings(kinds)
		return slices.Equal(kinds, w.kinds)
	}
	var last []farmJSON
	deadline := time.Now().Add(90 * time.Second)
	for {
		fs, err := tryFarms(false)
		ok := err == nil
		for _, w := range farmsWanted {
			ok = ok && matches(fs, w)
		}
		if ok {
			break
		}
		last = fs
		if time.Now().After(deadline) {
			var sb strings.Builder
			for _, c := range last {
				var kinds []string
				for _, s := range c.Signals {
					kinds = append(kinds, s.Kind+":"+strings.Join(s.Hosts, "+"))
				}
				fmt.Fprintf(&sb, "  %s %v %v\n", c.Severity, c.Hosts, kinds)
			}
			t.Fatalf("every farm never found; farms:\n%s\ncollector:\n%s", sb.String(), f.srv.log)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Let the fleet settle (every host reported, a recomputation after),
	// then judge every host.
	time.Sleep(6 * time.Second)
	fs := farms(false)
	flagged := func(host string) string {
		if c := cluster(fs, host); c != nil {
			return c.Severity
		}
		return "none"
	}
	isFarm := map[string]bool{}
	for _, w := range farmsWanted {
		if !matches(fs, w) {
			b, _ := json.MarshalIndent(fs, "", " ")
			t.Errorf("farm %v not found as wanted (%s, %v):\n%s", w.hosts, w.sev, w.kinds, b)
		}
		for _, h := range w.hosts {
			isFarm[h] = true
		}
	}
	if c := cluster(fs, "cgnat-1"); c == nil || c.Severity != "low" || !slices.Equal(c.Hosts, []string{"cgnat-1", "cgnat-2"}) {
		t.Errorf("carrier NAT: %+v, want one low cluster of the two", c)
	}
	// The farm's findings are on each member, in findings.
	out, err := f.cli("findings", "--host", "farm-3")
	if err != nil || !strings.Contains(string(out), `"rule": "farm-shared-lan"`) || !strings.Contains(string(out), `"rule": "farm-shared-egress-remote-control"`) {
		t.Errorf("findings of farm-3: %v\n%s", err, out)
	}
	for host, want := range map[string]bool{"eg-2": true, "cgnat-2": false, "farm-1": false} {
		out, err = f.cli("findings", "--host", host)
		if got := strings.Contains(string(out), `"rule": "farm-egress-country-not-claimed"`); err != nil || got != want {
			t.Errorf("findings of %s: farm-egress-country-not-claimed %v, want %v (%v)", host, got, want, err)
		}
	}
	// hosts has the person and the egress IP (from the PROXY header).
	out, err = f.cli("hosts")
	var hs []struct {
		Hostname string `json:"hostname"`
		EgressIP string `json:"egress_ip"`
		Country  string `json:"egress_country"`
		Person   struct {
			Name string `json:"name"`
		} `json:"person"`
	}
	if err != nil || json.Unmarshal(out, &hs) != nil || len(hs) != len(hosts) {
		t.Fatalf("hosts: %v\n%s", err, out)
	}
	placed := map[string]string{"eg-1": "NG", "eg-2": "NG", "cgnat-1": "US", "cgnat-2": "US"}
	for _, h := range hs {
		if h.Person.Name != people[h.Hostname] || h.EgressIP != relays[h.Hostname].egress || h.Country != placed[h.Hostname] {
			t.Errorf("host %s: person %q egress %s in %q", h.Hostname, h.Person.Name, h.EgressIP, h.Country)
		}
	}

	// The visitor goes home: a new egress, its own LAN. Nothing stays open.
	visitorHome := newHome("198.51.100.99", 11, true)
	v := hosts[slices.IndexFunc(hosts, func(h scenarioHost) bool { return h.name == "visitor" })]
	// While it is there, a visitor shares a LAN with someone else's laptop:
	// the pinned floor (DESIGN.md) makes that critical; the visit is told
	// from a farm by ending.
	if sevRank[flagged("visitor")] < sevRank["critical"] {
		t.Errorf("the visitor on a colleague's LAN: %s", flagged("visitor"))
	}
	v.at, v.sees = visitorHome, nil
	v.snapshot(t, snaps["visitor"])
	relays["visitor"].move(visitorHome.egress)
	waitUntil(t, "the visit ends", 60*time.Second, func() bool {
		fs := farms(false)
		return cluster(fs, "visitor") == nil && cluster(fs, "home-1") == nil
	}, logs...)
	all := farms(true)
	if c := cluster(all, "visitor"); c == nil || c.State != "resolved" {
		t.Errorf("the visit is not kept as a resolved cluster: %+v", c)
	}
	// host NAME (the table; its JSON is the host's report) shows where it
	// has been.
	hostCmd := exec.Command(f.collector, "host", "visitor", "--token-file", filepath.Join(f.data, "admin.token"))
	hostCmd.Env = f.env
	out, err = hostCmd.CombinedOutput()
	if i := strings.Index(string(out), "egress IPs (newest first):\n  198.51.100.99"); err != nil || i < 0 ||
		!strings.Contains(string(out)[i:], "\n  198.51.100.90") || !strings.Contains(string(out), "person: Person") {
		t.Errorf("host visitor: want its person and both egress IPs, the newest first: %v\n%s", err, out)
	}
	// Every host judged, the visit over.
	fs = farms(false)
	// The confusion matrix: a host is flagged when a cluster it is in is
	// medium or worse (a shared egress alone is low by design: carrier NAT).
	var tp, fn, fp, tn []string
	for _, h := range hosts {
		hit := sevRank[flagged(h.name)] >= sevRank["medium"]
		switch {
		case isFarm[h.name] && hit:
			tp = append(tp, h.name)
		case isFarm[h.name]:
			fn = append(fn, h.name)
		case hit:
			fp = append(fp, h.name+"("+flagged(h.name)+")")
		default:
			tn = append(tn, h.name+"("+flagged(h.name)+")")
		}
	}
	t.Logf("confusion matrix (host flagged medium or worse):\n  farm hosts flagged: %d %v\n  farm hosts missed: %d %v\n  decoys flagged: %d %v\n  decoys not flagged: %d %v",
		len(tp), tp, len(fn), fn, len(fp), fp, len(tn), tn)
	if len(fn)+len(fp) > 0 {
		t.Errorf("missed %v, wrongly flagged %v", fn, fp)
	}

	// A roster change: the gateway farm's two laptops are one person's.
	changed := strings.Replace(roster.String(), "gw-2,"+people["gw-2"], "gw-2,"+people["gw-1"], 1)
	changed = strings.Replace(changed, fmt.Sprintf("p%02d@example.com", slices.IndexFunc(hosts, func(h scenarioHost) bool { return h.name == "gw-2" })),
		fmt.Sprintf("p%02d@example.com", slices.IndexFunc(hosts, func(h scenarioHost) bool { return h.name == "gw-1" })), 1)
	os.WriteFile(rosterFile, []byte(changed), 0o600)
	waitUntil(t, "the roster change makes gw-1 and gw-2 one person's", 60*time.Second, func() bool {
		return cluster(farms(false), "gw-1") == nil
	}, logs...)
	// A malformed roster is refused with its line; the last good one stays.
	os.WriteFile(rosterFile, []byte(changed+"broken-host,,,,,,\n"), 0o600)
	wantLine := fmt.Sprintf("line %d", len(hosts)+2)
	waitUntil(t, "the malformed roster refused", 30*time.Second, func() bool {
		out, err := f.cli("roster", "show")
		var r struct {
			Error   string            `json:"error"`
			Entries []json.RawMessage `json:"entries"`
		}
		return err == nil && json.Unmarshal(out, &r) == nil && strings.Contains(r.Error, wantLine) && len(r.Entries) == len(hosts)
	}, logs...)
	if c := cluster(farms(false), "farm-1"); c == nil || len(c.People) != 4 {
		t.Errorf("the farm after a malformed roster: %+v", c)
	}

	// query and hunt: the remote-access tool, on the six laptops that run it.
	rcHosts := []string{"eg-1", "eg-2", "farm-1", "farm-2", "farm-3", "farm-4"}
	out, err = f.cli("query", "--kind", "process", `process.name == "anydesk"`)
	var rows []struct {
		Hostname string `json:"hostname"`
		Kind     string `json:"kind"`
		Key      string `json:"key"`
	}
	if err != nil || json.Unmarshal(out, &rows) != nil {
		t.Fatalf("query: %v\n%s", err, out)
	}
	if got := hostSet(rows, func(i int) string { return rows[i].Hostname }, len(rows)); !slices.Equal(got, rcHosts) {
		t.Errorf("query found anydesk on %v, want %v", got, rcHosts)
	}
	out, err = f.cli("hunt", "--kind", "process", `process.name == "anydesk"`, "--timeout", "40s")
	if err != nil {
		t.Fatalf("hunt: %v\n%s", err, out)
	}
	var found []string
	var summary map[string]int
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var line map[string]json.RawMessage
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			t.Fatalf("hunt line %q", sc.Text())
		}
		if s, ok := line["summary"]; ok {
			json.Unmarshal(s, &summary)
			continue
		}
		var name string
		json.Unmarshal(line["hostname"], &name)
		if !slices.Contains(found, name) {
			found = append(found, name)
		}
	}
	sort.Strings(found)
	if !slices.Equal(found, rcHosts) || summary["asked"] != len(hosts) || summary["answered"] != len(hosts) || summary["matched"] != len(rcHosts) || summary["timed_out"] != 0 {
		t.Errorf("hunt found %v, summary %v; want %v of %d", found, summary, rcHosts, len(hosts))
	}
	if _, err := f.cli("query", "--kind", "process", `process.nope == 1`); err == nil || !strings.Contains(err.Error(), "query:1:") {
		t.Errorf("a bad query: %v", err)
	}

	// A PROXY header from a peer outside --proxy-protocol-from is refused;
	// the same peer without one is served.
	dial := func(header string) error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", f.addr)
		if err != nil {
			t.Skipf("no 127.0.0.2 to dial from: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if header != "" {
			io.WriteString(c, header)
		}
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		return tc.Handshake()
	}
	if err := dial("PROXY TCP4 203.0.113.66 127.0.0.1 5555 7443\r\n"); err == nil {
		t.Error("a PROXY header from an untrusted peer was taken")
	}
	if err := dial(""); err != nil {
		t.Errorf("an untrusted peer without a header: %v", err)
	}
}

func hostSet[T any](_ []T, name func(int) string, n int) []string {
	var out []string
	for i := range n {
		if s := name(i); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
