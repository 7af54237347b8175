package netstate

import (
	"encoding/json"
	"testing"
)

// Every parser of outside text has a fuzz target; the seeds are the test
// inputs.

func FuzzParseRoute(f *testing.F) {
	f.Add(procRoute)
	f.Fuzz(func(t *testing.T, s string) { MarkRoutes(ParseRoute(s), nil) })
}

func FuzzParseIPv6Route(f *testing.F) {
	f.Add(ipv6Route)
	f.Fuzz(func(t *testing.T, s string) { MarkRoutes(ParseIPv6Route(s), nil) })
}

func FuzzParseFibTrie(f *testing.F) {
	f.Add(fibTrie)
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range ParseFibTrieLocal(s) {
			InterfaceFor(a, ParseRoute(procRoute))
		}
		ParseIfInet6(s)
	})
}

func FuzzParseNetstat(f *testing.F) {
	f.Add(netstatRN)
	f.Fuzz(func(t *testing.T, s string) { MarkRoutes(ParseNetstat(s), nil) })
}

// FuzzAPIJSON decodes api/interfaces.json and api/routes.json as a
// snapshot would hold them.
func FuzzAPIJSON(f *testing.F) {
	f.Add(`[{"name":"OpenVPN Wintun","index":19,"description":"Wintun Userspace Tunnel","up":true,"addresses":["10.20.30.14/24"],"if_type":53,"dns_servers":["10.20.0.53"]}]`,
		`[{"destination":"0.0.0.0/1","next_hop":"10.20.30.1","if_index":19}]`)
	f.Fuzz(func(t *testing.T, ifs, routes string) {
		var ir []IfaceRecord
		var rr []RouteRecord
		names := map[int]string{}
		if json.Unmarshal([]byte(ifs), &ir) == nil {
			for _, r := range ir {
				r.Interface()
				WindowsKind(r)
				names[r.Index] = r.Name
			}
		}
		if json.Unmarshal([]byte(routes), &rr) == nil {
			MarkRoutes(WindowsRoutes(rr, names), nil)
		}
	})
}
