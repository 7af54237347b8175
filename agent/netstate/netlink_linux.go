//go:build linux

package netstate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// livePolicy reads the rules and the routes of every table, of both
// families, and the interface names, over one NETLINK_ROUTE socket: five
// dumps, where `ip` took four programs started (policyCommands).
func livePolicy(context.Context) (any, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	defer syscall.Close(fd)
	// A dump always ends; this only bounds a kernel that does not answer.
	tv := syscall.Timeval{Sec: 5}
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	d := dumper{fd: fd, buf: make([]byte, 32<<10)}
	b, err := d.dump(syscall.RTM_GETLINK, make([]byte, 16)) // ifinfomsg, AF_UNSPEC
	if err != nil {
		return nil, fmt.Errorf("netlink links: %w", err)
	}
	links, err := ParseLinkDump(b)
	if err != nil {
		return nil, fmt.Errorf("netlink links: %w", err)
	}
	var rec PolicyRecord
	for _, f := range []struct {
		fam  uint8
		name string
		out  *FamilyRecord
	}{{afInet, "ipv4", &rec.IPv4}, {afInet6, "ipv6", &rec.IPv6}} {
		hdr := make([]byte, 12) // fib_rule_hdr and rtmsg alike: the family first
		hdr[0] = f.fam
		b, err := d.dump(syscall.RTM_GETRULE, hdr)
		if f.fam == afInet6 && errors.Is(err, nlErrno(syscall.EAFNOSUPPORT)) {
			continue // a kernel without IPv6
		}
		if err != nil {
			return nil, fmt.Errorf("netlink %s rules: %w", f.name, err)
		}
		rules, err := ParseRuleDump(b, f.fam)
		if err != nil {
			return nil, fmt.Errorf("netlink %s rules: %w", f.name, err)
		}
		if b, err = d.dump(syscall.RTM_GETROUTE, hdr); err != nil {
			return nil, fmt.Errorf("netlink %s routes: %w", f.name, err)
		}
		routes, err := ParseRouteDump(b, f.fam, links)
		if err != nil {
			return nil, fmt.Errorf("netlink %s routes: %w", f.name, err)
		}
		*f.out = familyRecord(rules, routes)
	}
	return rec, nil
}

// dumper runs dumps one after the other on one socket.
type dumper struct {
	fd  int
	seq uint32
	buf []byte
}

// dump sends one dump request and returns every message of the answer, up
// to and with NLMSG_DONE (or the error that ends it), at most
// maxNetlinkDump bytes.
func (d *dumper) dump(typ uint16, body []byte) ([]byte, error) {
	d.seq++
	req := make([]byte, nlmsgHdrLen+len(body))
	binary.NativeEndian.PutUint32(req, uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], typ)
	binary.NativeEndian.PutUint16(req[6:], syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], d.seq)
	copy(req[nlmsgHdrLen:], body)
	if err := syscall.Sendto(d.fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	var out []byte
	for {
		n, from, err := syscall.Recvfrom(d.fd, d.buf, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("receive: %w", err)
		}
		if sa, ok := from.(*syscall.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not from the kernel
		}
		if n > len(d.buf) {
			return nil, fmt.Errorf("receive: a %d-byte message cut to %d bytes", n, len(d.buf))
		}
		chunk, end := d.ours(d.buf[:n])
		if len(out)+len(chunk) > maxNetlinkDump {
			return nil, fmt.Errorf("over %d bytes", maxNetlinkDump)
		}
		out = append(out, chunk...)
		if end {
			if _, err := parseNetlink(out); err != nil {
				return nil, err
			}
			return out, nil
		}
	}
}

// ours keeps the messages of one datagram that answer the current request
// (a late answer to an earlier one is dropped) and says whether the dump
// ends in it. Framing it cannot walk ends the dump, for parseNetlink to
// report.
func (d *dumper) ours(b []byte) ([]byte, bool) {
	var out []byte
	for off := 0; len(b)-off >= nlmsgHdrLen; {
		l := int(binary.NativeEndian.Uint32(b[off:]))
		if l < nlmsgHdrLen || l > len(b)-off {
			return append(out, b[off:]...), true
		}
		m := b[off : off+l]
		off += align4(l)
		if binary.NativeEndian.Uint32(m[8:]) != d.seq {
			continue
		}
		out = append(out, b[off-align4(l):min(off, len(b))]...)
		if t := binary.NativeEndian.Uint16(m[4:]); t == nlmsgDone || t == nlmsgError {
			return out, true
		}
	}
	return out, false
}
