package netid

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"
)

// MDNSRecord is one address announced for an IP-KVM name, as api/mdns.json
// holds it.
type MDNSRecord struct {
	Name string `json:"name"` // "pikvm.local"
	IP   string `json:"ip"`
}

// mdnsNames are the first labels of the names IP-KVMs announce by default
// (ipkvm-watch's list, ../shared/ANCHORS.md).
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

// ParseMDNS reads the A and AAAA records of an mDNS message (answers and
// additional records) whose name is an IP-KVM's .local name. Anything
// malformed ends the parse with what was read so far.
func ParseMDNS(b []byte) []MDNSRecord {
	if len(b) < 12 {
		return nil
	}
	qd := int(binary.BigEndian.Uint16(b[4:]))
	rr := int(binary.BigEndian.Uint16(b[6:])) + int(binary.BigEndian.Uint16(b[8:])) + int(binary.BigEndian.Uint16(b[10:]))
	off := 12
	for i := 0; i < qd; i++ {
		_, n, ok := dnsName(b, off)
		if !ok || n+4 > len(b) {
			return nil
		}
		off = n + 4
	}
	var out []MDNSRecord
	for i := 0; i < rr && i < 256; i++ {
		name, n, ok := dnsName(b, off)
		if !ok || n+10 > len(b) {
			return out
		}
		typ := binary.BigEndian.Uint16(b[n:])
		rdlen := int(binary.BigEndian.Uint16(b[n+8:]))
		data := n + 10
		if data+rdlen > len(b) {
			return out
		}
		var ip netip.Addr
		switch {
		case typ == 1 && rdlen == 4:
			ip = netip.AddrFrom4([4]byte(b[data : data+4]))
		case typ == 28 && rdlen == 16:
			ip = netip.AddrFrom16([16]byte(b[data : data+16]))
		}
		if ip.IsValid() && kvmName(name) {
			out = append(out, MDNSRecord{Name: name, IP: ip.String()})
		}
		off = data + rdlen
	}
	return out
}

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

// dnsName reads a (possibly compressed) name at off; it returns the name in
// lower case, the offset after it in the message, and ok.
func dnsName(b []byte, off int) (string, int, bool) {
	var labels []string
	end := -1
	for hops := 0; hops < 32; hops++ {
		if off >= len(b) {
			return "", 0, false
		}
		l := int(b[off])
		switch {
		case l == 0:
			if end < 0 {
				end = off + 1
			}
			return strings.ToLower(strings.Join(labels, ".")), end, true
		case l&0xC0 == 0xC0:
			if off+1 >= len(b) {
				return "", 0, false
			}
			if end < 0 {
				end = off + 2
			}
			off = int(binary.BigEndian.Uint16(b[off:]) & 0x3FFF)
		case l&0xC0 != 0:
			return "", 0, false
		default:
			if off+1+l > len(b) {
				return "", 0, false
			}
			labels = append(labels, string(b[off+1:off+1+l]))
			off += 1 + l
		}
	}
	return "", 0, false
}
