package netstate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Policy routing read over NETLINK_ROUTE (Linux): the dumps of
// RTM_GETRULE and RTM_GETROUTE of one family, and of RTM_GETLINK for the
// interface names. These parsers are pure Go and compile on every OS; only
// the socket (netlink_linux.go) is Linux's. They give the IPRule and
// IPRoute values that ParseIPRule and ParseIPRoute give for the output of
// `ip rule show` and `ip route show table all` of the same kernel state,
// following iproute2's printing (ip/iprule.c print_rule, ip/iproute.c
// print_route) field by field. Netlink is in the host's byte order.

// Message and attribute types of linux/netlink.h, linux/rtnetlink.h and
// linux/fib_rules.h.
const (
	nlmsgHdrLen = 16
	nlmsgError  = 2
	nlmsgDone   = 3
	rtmNewLink  = 16
	rtmNewRoute = 24
	rtmNewRule  = 32

	afInet  = 2
	afInet6 = 10

	iflaIfname = 3

	rtaDst      = 1
	rtaOif      = 4
	rtaGateway  = 5
	rtaPriority = 6
	rtaTable    = 15
	rtaVia      = 18
	rtmFCloned  = 0x200

	fraDst         = 1
	fraSrc         = 2
	fraIifname     = 3
	fraGoto        = 4
	fraPriority    = 6
	fraFwmark      = 10
	fraFlow        = 11
	fraTunID       = 12
	fraSuppressIfg = 13
	fraSuppressLen = 14
	fraTable       = 15
	fraFwmask      = 16
	fraOifname     = 17
	fraPad         = 18
	fraL3mdev      = 19
	fraUIDRange    = 20
	fraProtocol    = 21

	fibRuleInvert     = 0x2
	fibRuleUnresolved = 0x4

	frActToTbl = 1
	frActGoto  = 2
	frActNop   = 3
)

// maxNetlinkDump bounds the bytes of one dump, as MaxCommandOutput bounds
// the output of ip.
const maxNetlinkDump = 32 << 20

// nlMsg is one netlink message: its type, flags and body.
type nlMsg struct {
	typ, flags uint16
	body       []byte
}

// parseNetlink splits a dump into its messages up to NLMSG_DONE. A length
// shorter than the header or past the end of the data is an error, as is an
// NLMSG_ERROR carrying an error code.
func parseNetlink(b []byte) ([]nlMsg, error) {
	var out []nlMsg
	for off := 0; len(b)-off >= nlmsgHdrLen; {
		l := int(binary.NativeEndian.Uint32(b[off:]))
		if l < nlmsgHdrLen || l > len(b)-off {
			return out, fmt.Errorf("netlink message at byte %d: length %d, %d bytes left", off, l, len(b)-off)
		}
		m := nlMsg{typ: binary.NativeEndian.Uint16(b[off+4:]), flags: binary.NativeEndian.Uint16(b[off+6:]), body: b[off+nlmsgHdrLen : off+l]}
		switch m.typ {
		case nlmsgDone:
			if len(m.body) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(m.body)); e < 0 {
					return out, fmt.Errorf("netlink dump ended with errno %d", -e)
				}
			}
			return out, nil
		case nlmsgError:
			if len(m.body) < 4 {
				return out, errors.New("netlink error message without its code")
			}
			if e := int32(binary.NativeEndian.Uint32(m.body)); e != 0 {
				return out, fmt.Errorf("netlink error: %w", nlErrno(-e))
			}
		default:
			out = append(out, m)
		}
		off += align4(l)
	}
	return out, nil
}

// nlErrno is the (Linux) error number of a netlink error message.
type nlErrno int32

func (e nlErrno) Error() string { return "errno " + strconv.Itoa(int(e)) }

func align4(n int) int { return (n + 3) &^ 3 }

// parseAttrs reads the route attributes of b (type -> value; the last of a
// repeated type wins). A length shorter than the attribute header or past
// the end is an error.
func parseAttrs(b []byte) (map[uint16][]byte, error) {
	out := map[uint16][]byte{}
	for off := 0; len(b)-off >= 4; {
		l := int(binary.NativeEndian.Uint16(b[off:]))
		if l < 4 || l > len(b)-off {
			return nil, fmt.Errorf("netlink attribute at byte %d: length %d, %d bytes left", off, l, len(b)-off)
		}
		out[binary.NativeEndian.Uint16(b[off+2:])&0x3fff] = b[off+4 : off+l]
		off += align4(l)
	}
	return out, nil
}

func attrU32(a map[uint16][]byte, t uint16) (uint32, bool) {
	v, ok := a[t]
	if !ok || len(v) < 4 {
		return 0, false
	}
	return binary.NativeEndian.Uint32(v), true
}

// attrString is a NUL-terminated string attribute.
func attrString(v []byte) string {
	s, _, _ := strings.Cut(string(v), "\x00")
	return s
}

// ParseLinkDump reads the interface names of an RTM_GETLINK dump, by index.
func ParseLinkDump(b []byte) (map[int]string, error) {
	msgs, err := parseNetlink(b)
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	for _, m := range msgs {
		if m.typ != rtmNewLink || len(m.body) < 16 {
			continue
		}
		a, err := parseAttrs(m.body[16:])
		if err != nil {
			return nil, fmt.Errorf("link: %w", err)
		}
		if n, ok := a[iflaIfname]; ok {
			out[int(int32(binary.NativeEndian.Uint32(m.body[4:])))] = attrString(n)
		}
	}
	return out, nil
}

// netlinkAddr reads an address attribute of a family; ok is false when
// its length is not the family's.
func netlinkAddr(fam uint8, v []byte) (netip.Addr, bool) {
	switch {
	case fam == afInet && len(v) == 4:
		return netip.AddrFrom4([4]byte(v)), true
	case fam == afInet6 && len(v) == 16:
		return netip.AddrFrom16([16]byte(v)), true
	}
	return netip.Addr{}, false
}

// tableName is iproute2's name of a routing table: default, main and local
// by name, every other one by number (names from /etc/iproute2/rt_tables
// are not read: rules and routes of one reading both use numbers).
func tableName(t uint32) string {
	switch t {
	case 253:
		return "default"
	case 254:
		return "main"
	case 255:
		return "local"
	}
	return strconv.FormatUint(uint64(t), 10)
}

// hexC formats as C's %#x does: 0 without a prefix.
func hexC(v uint32) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%#x", v)
}

// ParseRuleDump reads the rules of an RTM_GETRULE dump of one family.
// Rules of another family, or with an address that is not of theirs, are
// skipped; malformed framing is an error.
func ParseRuleDump(b []byte, fam uint8) ([]IPRule, error) {
	msgs, err := parseNetlink(b)
	if err != nil {
		return nil, err
	}
	var out []IPRule
	for _, m := range msgs {
		if m.typ != rtmNewRule || len(m.body) < 12 || m.body[0] != fam {
			continue
		}
		a, err := parseAttrs(m.body[12:])
		if err != nil {
			return nil, fmt.Errorf("rule: %w", err)
		}
		if r, ok := ruleOf(m.body, a); ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// ruleOf turns a fib_rule_hdr and its attributes into the IPRule that
// ParseIPRule reads from ip's line for it.
func ruleOf(h []byte, a map[uint16][]byte) (IPRule, bool) {
	fam, dstLen, srcLen, tos, action := h[0], h[1], h[2], h[3], h[7]
	flags := binary.NativeEndian.Uint32(h[8:])
	prio, _ := attrU32(a, fraPriority)
	r := IPRule{Priority: int(prio), Not: flags&fibRuleInvert != 0, From: "all", To: "all", Suppress: -1}
	bitLen := uint8(32)
	if fam == afInet6 {
		bitLen = 128
	}
	prefix := func(attr uint16, l uint8) (string, bool) {
		v, ok := a[attr]
		if !ok {
			if l != 0 {
				return "0/" + strconv.Itoa(int(l)), true
			}
			return "all", true
		}
		ad, ok := netlinkAddr(fam, v)
		if !ok {
			return "", false
		}
		if l != bitLen {
			return ad.String() + "/" + strconv.Itoa(int(l)), true
		}
		return ad.String(), true
	}
	var ok bool
	if r.From, ok = prefix(fraSrc, srcLen); !ok {
		return r, false
	}
	if r.To, ok = prefix(fraDst, dstLen); !ok {
		return r, false
	}
	mark, hasMark := attrU32(a, fraFwmark)
	mask, hasMask := attrU32(a, fraFwmask)
	if hasMark || hasMask {
		r.Fwmark = hexC(mark)
		if hasMask && mask != 0xffffffff {
			r.Fwmark += "/" + hexC(mask)
		}
	}
	if v, ok := a[fraIifname]; ok {
		r.Iif = attrString(v)
	}
	if v, ok := a[fraOifname]; ok {
		r.Oif = attrString(v)
	}
	if tos != 0 {
		r.Other = true
	}
	for t, v := range a {
		switch t {
		case fraDst, fraSrc, fraIifname, fraGoto, fraPriority, fraFwmark, fraFlow, fraSuppressIfg,
			fraSuppressLen, fraTable, fraFwmask, fraOifname, fraPad, fraL3mdev, fraProtocol, 0, 5, 7, 8, 9:
		case fraUIDRange:
			// Every user (sing-box and Clash TUN rules) selects nothing.
			if len(v) < 8 || binary.NativeEndian.Uint32(v) != 0 || binary.NativeEndian.Uint32(v[4:]) < 4294967294 {
				r.Other = true
			}
		case fraTunID:
			r.Other = true // ip prints tun_id
		default:
			r.Other = true // ipproto, sport, dport, dscp, flowlabel and what comes later
		}
	}
	if _, ok := a[fraL3mdev]; ok {
		r.Action, r.Table = "lookup", "[l3mdev-table]"
	}
	table := uint32(h[4])
	if t, ok := attrU32(a, fraTable); ok {
		table = t
	}
	if table != 0 {
		r.Action, r.Table = "lookup", tableName(table)
		if s, ok := attrU32(a, fraSuppressLen); ok && int32(s) != -1 {
			r.Suppress = int(int32(s))
		}
	}
	switch action {
	case frActToTbl:
	case frActGoto:
		r.Action = "goto"
		if flags&fibRuleUnresolved != 0 {
			r.Other = true // ParseIPRule does not know "[unresolved]"
		}
	case frActNop:
		r.Action = "nop"
	case 6:
		r.Action = "blackhole"
	case 7:
		r.Action = "unreachable"
	case 8:
		r.Action = "prohibit"
	default:
		r.Other = true
	}
	if r.Action == "" {
		return r, false
	}
	if r.Action != "lookup" {
		r.Table = "" // as ParseIPRule: the action wins, no table is looked up
	}
	return r, true
}

// routeTypeNames are iproute2's names of the route types (rtm_type) that
// ParseIPRoute reads; a route of another type is skipped, as its line is.
var routeTypeNames = map[uint8]string{1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast",
	6: "blackhole", 7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}

// ParseRouteDump reads the routes of an RTM_GETROUTE dump of one family,
// every table; links names the interfaces by index (ip writes "if7" for an
// index it does not know). Cached (cloned) routes are left out, as ip
// leaves them out of "table all". A multipath route has no gateway or
// device: the kernel gives them per next hop (RTA_MULTIPATH), which ip
// writes on lines of their own that ParseIPRoute skips.
func ParseRouteDump(b []byte, fam uint8, links map[int]string) ([]IPRoute, error) {
	msgs, err := parseNetlink(b)
	if err != nil {
		return nil, err
	}
	var out []IPRoute
	for _, m := range msgs {
		if m.typ != rtmNewRoute || len(m.body) < 12 || m.body[0] != fam {
			continue
		}
		a, err := parseAttrs(m.body[12:])
		if err != nil {
			return nil, fmt.Errorf("route: %w", err)
		}
		if r, ok := routeOf(m.body, a, links); ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// routeOf turns an rtmsg and its attributes into the IPRoute that
// ParseIPRoute reads from ip's line for it.
func routeOf(h []byte, a map[uint16][]byte, links map[int]string) (IPRoute, bool) {
	fam, dstLen, table, typ := h[0], h[1], uint32(h[4]), h[7]
	if binary.NativeEndian.Uint32(h[8:])&rtmFCloned != 0 {
		return IPRoute{}, false
	}
	r := IPRoute{Type: routeTypeNames[typ], Table: "main"}
	if r.Type == "" {
		return r, false
	}
	dst := netip.IPv4Unspecified()
	if fam == afInet6 {
		dst = netip.IPv6Unspecified()
	}
	if v, ok := a[rtaDst]; ok {
		if dst, ok = netlinkAddr(fam, v); !ok {
			return r, false
		}
	} else if dstLen != 0 {
		return r, false // ip writes "0/LEN", which ParseIPRoute skips
	}
	p, err := dst.Prefix(int(dstLen))
	if err != nil {
		return r, false
	}
	r.Destination = p.String()
	if v, ok := a[rtaGateway]; ok {
		if g, ok := netlinkAddr(fam, v); ok {
			r.Gateway = g.String()
		}
	} else if v, ok := a[rtaVia]; ok && len(v) >= 2 {
		vf := uint8(binary.NativeEndian.Uint16(v))
		if g, ok := netlinkAddr(vf, v[2:]); ok {
			r.Gateway = g.String()
		}
	}
	if i, ok := attrU32(a, rtaOif); ok {
		if r.Dev = links[int(int32(i))]; r.Dev == "" {
			r.Dev = "if" + strconv.Itoa(int(int32(i)))
		}
	}
	if t, ok := attrU32(a, rtaTable); ok {
		table = t
	}
	if table != 0 {
		r.Table = tableName(table)
	}
	if m, ok := attrU32(a, rtaPriority); ok {
		r.Metric = int(m)
	}
	return r, true
}
