package network

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/farmwatch/farmwatch/agent/host"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

func u32(v uint32) *uint32 { return &v }

type proxyKey struct {
	scope, proto, url string
	enabled           bool
}

func keys(ps []*fwv1.ProxySetting) map[proxyKey]bool {
	out := map[proxyKey]bool{}
	for _, p := range ps {
		out[proxyKey{p.Scope, p.Protocol, p.Url, p.Enabled}] = true
	}
	return out
}

// TestWinINETProxies: Entra ID users' hives (S-1-12-1-) are read like
// local ones; with the policy ProxySettingsPerUser 0 the machine's
// settings are in force and the users' are not.
func TestWinINETProxies(t *testing.T) {
	entra := "S-1-12-1-1234567890-1234567890-1234567890-1234567890"
	px := ProxyRecord{WinINET: []WinINETRecord{{User: entra, ProxyEnable: 1, ProxyServer: "203.0.113.7:3128"}},
		Machine: &WinINETRecord{ProxyEnable: 1, ProxyServer: "proxy.corp.example:8080", AutoConfigURL: "http://wpad.corp.example/proxy.pac"}}
	got := keys(WinINETProxies(px))
	for k, want := range map[proxyKey]bool{
		{entra, "all", "http://203.0.113.7:3128", true}:                    true,
		{"machine", "all", "http://proxy.corp.example:8080", false}:        true,
		{"machine", "pac", "http://wpad.corp.example:80/proxy.pac", false}: true,
	} {
		if got[k] != want {
			t.Errorf("per user: %+v missing from %v", k, got)
		}
	}
	px.ProxySettingsPerUser = u32(0)
	got = keys(WinINETProxies(px))
	for _, k := range []proxyKey{
		{entra, "all", "http://203.0.113.7:3128", false},
		{"machine", "all", "http://proxy.corp.example:8080", true},
		{"machine", "pac", "http://wpad.corp.example:80/proxy.pac", true},
	} {
		if !got[k] {
			t.Errorf("per machine: %+v missing from %v", k, got)
		}
	}
}

func TestWinHTTPProxies(t *testing.T) {
	if ps := WinHTTPProxies(WinHTTPRecord{AccessType: 1}); len(ps) != 0 {
		t.Errorf("direct access: %v", ps)
	}
	ps := WinHTTPProxies(WinHTTPRecord{AccessType: 3, Proxy: "http=10.0.0.5:3128;https=10.0.0.5:3129", Bypass: "<local>;*.corp.example"})
	if len(ps) != 2 || ps[0].Source != "winhttp" || ps[1].Protocol != "https" || len(ps[0].Bypass) != 2 || !ps[0].Enabled {
		t.Errorf("named proxy: %v", ps)
	}
}

// TestReadWindowsProxySources: the WinHTTP record is read when present;
// an older snapshot's English netsh output otherwise.
func TestReadWindowsProxySources(t *testing.T) {
	open := func(files map[string]string) *host.Host {
		src := t.TempDir()
		files["snapshot.json"] = `{"os":"windows","hostname":"w"}`
		for p, c := range files {
			full := filepath.Join(src, filepath.FromSlash(p))
			os.MkdirAll(filepath.Dir(full), 0o755)
			if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s, err := host.Pack(src)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := s.Format()
		f := filepath.Join(t.TempDir(), "s.txtar")
		os.WriteFile(f, b, 0o644)
		h, err := host.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	st, err := readWindows(context.Background(), open(map[string]string{
		"api/proxy.json": `{"wininet":[],"winhttp":{"access_type":3,"proxy":"10.0.0.5:3128"}}`,
		"cmd/netsh.txt":  "$ C:\\Windows\\System32\\netsh.exe winhttp show proxy\n    Proxy Server(s) :  198.51.100.9:80\n",
	}))
	if err != nil || len(st.Proxies) != 1 || st.Proxies[0].Url != "http://10.0.0.5:3128" {
		t.Fatalf("api: %v %v", st.Proxies, err)
	}
	st, err = readWindows(context.Background(), open(map[string]string{
		"api/proxy.json": `{"wininet":[]}`,
		"cmd/netsh.txt":  "$ C:\\Windows\\System32\\netsh.exe winhttp show proxy\n    Proxy Server(s) :  198.51.100.9:80\n",
	}))
	if err != nil || len(st.Proxies) != 1 || st.Proxies[0].Url != "http://198.51.100.9:80" {
		t.Fatalf("older snapshot: %v %v", st.Proxies, err)
	}
}

func FuzzWindowsProxyRecords(f *testing.F) {
	f.Add("203.0.113.7:3128", "<local>", "http://wpad/proxy.pac", uint32(3), "http=a:1;socks=b:2", uint32(0))
	f.Fuzz(func(t *testing.T, server, override, pac string, access uint32, winhttp string, perUser uint32) {
		px := ProxyRecord{WinINET: []WinINETRecord{{User: "S-1-12-1-1", ProxyEnable: 1, ProxyServer: server, ProxyOverride: override, AutoConfigURL: pac}},
			Machine: &WinINETRecord{ProxyEnable: 1, ProxyServer: server}, ProxySettingsPerUser: &perUser}
		ps := append(WinINETProxies(px), WinHTTPProxies(WinHTTPRecord{AccessType: access, Proxy: winhttp, Bypass: override})...)
		checkProxies(t, ps)
		for _, p := range ps {
			if p.Scope == "machine" && p.Enabled && perUser != 0 || p.Scope == "S-1-12-1-1" && p.Enabled && perUser == 0 {
				t.Fatalf("setting %v in force against the policy %d", p, perUser)
			}
		}
	})
}
