package netid

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// MDNSRecord is one address announced for an IP-KVM name, as api/mdns.json
// holds it.
type MDNSRecord struct {
	Name string `json:"name"` // "pikvm.local"
	IP   string `json:"ip"`
}

// mdnsNames are the first labels of the names IP-KVMs announce by default
// (the names ipkvm-watch listens for:
// https://github.com/LivingInSyn/ipkvm-watch).
var mdnsNames = []string{"pikvm", "tinypilot", "jetkvm", "glkvm", "blikvm"}

// mdnsListen is how long the passive listen lasts.
const mdnsListen = 2 * time.Second

// liveMDNS listens, without sending anything, on the mDNS group for
// mdnsListen and returns the IP-KVM names it heard. Joining the group is
// a portable socket call; only the machine's own interfaces are used.
func liveMDNS(ctx context.Context) (any, error) {
	c, err := net.ListenMulticastUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	deadline := time.Now().Add(mdnsListen)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.SetReadDeadline(deadline)
	out := []MDNSRecord{}
	seen := map[MDNSRecord]bool{}
	buf := make([]byte, 9000)
	for {
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return out, nil
			}
			return out, err
		}
		for _, r := range ParseMDNS(buf[:n]) {
			if !seen[r] && len(out) < 64 {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
}

// maxMDNSRecords bounds the resource records read from one message.
const maxMDNSRecords = 256

// ParseMDNS reads the A and AAAA records of an mDNS message (answers,
// authority and additional records) whose name is an IP-KVM's .local name.
// The message is parsed by golang.org/x/net/dns/dnsmessage; anything
// malformed ends the parse with what was read so far.
func ParseMDNS(b []byte) []MDNSRecord {
	var p dnsmessage.Parser
	if _, err := p.Start(b); err != nil {
		return nil
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil
	}
	var out []MDNSRecord
	n := 0
	sections := []struct {
		header func() (dnsmessage.ResourceHeader, error)
		skip   func() error
	}{{p.AnswerHeader, p.SkipAnswer}, {p.AuthorityHeader, p.SkipAuthority}, {p.AdditionalHeader, p.SkipAdditional}}
	for _, sec := range sections {
		for {
			h, err := sec.header()
			if err == dnsmessage.ErrSectionDone {
				break
			}
			if err != nil || n == maxMDNSRecords {
				return out
			}
			n++
			var ip netip.Addr
			switch h.Type {
			case dnsmessage.TypeA:
				r, err := p.AResource()
				if err != nil {
					return out
				}
				ip = netip.AddrFrom4(r.A)
			case dnsmessage.TypeAAAA:
				r, err := p.AAAAResource()
				if err != nil {
					return out
				}
				ip = netip.AddrFrom16(r.AAAA)
			default:
				if err := sec.skip(); err != nil {
					return out
				}
				continue
			}
			if name := strings.ToLower(strings.TrimSuffix(h.Name.String(), ".")); kvmName(name) {
				out = append(out, MDNSRecord{Name: name, IP: ip.String()})
			}
		}
	}
	return out
}

// kvmName reports whether a name is NAME.local with NAME beginning with one
// of mdnsNames.
func kvmName(name string) bool {
	first, rest, _ := strings.Cut(name, ".")
	if rest != "local" {
		return false
	}
	for _, n := range mdnsNames {
		if strings.HasPrefix(first, n) {
			return true
		}
	}
	return false
}
