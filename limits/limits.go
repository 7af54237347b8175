// Package limits holds the bounds of what crosses the wire between agents
// and the collector, once for both sides and for the rules: the agent cuts
// what it sends to them and marks what it cut (Clamp), so it never sends
// what the collector will refuse; the collector refuses a message over
// them whole, never half-applied (CheckAgentMessage); and the rules' static
// cost estimate assumes them (rules.MaxStringLen and MaxListLen are these
// numbers).
package limits

import (
	"fmt"
	"unicode/utf8"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The wire's fixed bounds.
const (
	// StringBytes bounds every string and bytes field.
	StringBytes = 64 << 10
	// ListItems bounds every list inside an observation, a finding or a
	// host's facts (arguments, interfaces, addresses).
	ListItems = 4096
	// HostObservations bounds the observations of one host, and so every
	// list a host-scope rule sees.
	HostObservations = 50_000
	// ChunkBytes is the most an agent puts in one gRPC message: a message
	// larger than that travels as chunks (fwv1.Chunk).
	ChunkBytes = 256 << 10
	// GRPCMessageBytes is the collector's receive limit for one gRPC
	// message of any method: a chunk with its envelope, an enrolment, a
	// fleet API request.
	GRPCMessageBytes = ChunkBytes + 64<<10
	// MaxSeq bounds an agent's message numbers: they are kept as signed
	// 64-bit integers, and no agent lives to number 2^62 messages.
	MaxSeq = 1 << 62
	// maxDepth bounds the nesting of messages.
	maxDepth = 16
)

// Limits bound what one agent may send. A message over any of them is
// refused whole.
type Limits struct {
	MaxMessageBytes  int // one agent message, joined from its chunks
	MaxObservations  int // per message
	MaxFindings      int // per message
	MaxStringBytes   int // any string or bytes field
	MaxListItems     int // any list but a message's observations and findings
	HostObservations int // the observations one host may have at once
}

// Default are generous for a laptop (a few thousand observations) and
// small for a server.
func Default() Limits {
	return Limits{MaxMessageBytes: 16 << 20, MaxObservations: HostObservations, MaxFindings: 10_000,
		MaxStringBytes: StringBytes, MaxListItems: ListItems, HostObservations: HostObservations}
}

// CheckHost checks the host facts of an enrolment or a hello.
func (l Limits) CheckHost(h *fwv1.HostInfo) error {
	if h == nil {
		return fmt.Errorf("host facts are missing")
	}
	if h.GetHostname() == "" {
		return fmt.Errorf("hostname is empty")
	}
	switch h.GetOs() {
	case "linux", "darwin", "windows":
	default:
		return fmt.Errorf("os %q: want linux, darwin or windows", h.GetOs())
	}
	return l.checkFields(h, nil)
}

// CheckAgentMessage checks one agent message (joined from its chunks).
func (l Limits) CheckAgentMessage(m *fwv1.AgentMessage) error {
	var obs []*fwv1.Observation
	var removed, findings int
	// The message's own lists of observations and findings are bounded by
	// MaxObservations and MaxFindings; every other list by MaxListItems.
	top := map[protoreflect.FullName]bool{}
	switch b := m.Body.(type) {
	case *fwv1.AgentMessage_Full:
		obs, findings = b.Full.GetObservations(), len(b.Full.GetFindings())
		top["farmwatch.v1.FullState.observations"], top["farmwatch.v1.FullState.findings"] = true, true
	case *fwv1.AgentMessage_Delta:
		obs, removed, findings = b.Delta.GetUpserted(), len(b.Delta.GetRemoved()), len(b.Delta.GetFindings())
		top["farmwatch.v1.Delta.upserted"], top["farmwatch.v1.Delta.removed"], top["farmwatch.v1.Delta.findings"] = true, true, true
	case *fwv1.AgentMessage_ScanReply:
		obs, findings = b.ScanReply.GetReport().GetObservations(), len(b.ScanReply.GetReport().GetFindings())
		top["farmwatch.v1.Report.observations"], top["farmwatch.v1.Report.findings"] = true, true
	case *fwv1.AgentMessage_HuntReply:
		obs = b.HuntReply.GetMatches()
		top["farmwatch.v1.HuntReply.matches"] = true
	case *fwv1.AgentMessage_Chunk:
		return fmt.Errorf("a chunk inside a chunked message")
	case nil:
		return fmt.Errorf("empty message")
	}
	if n := len(obs) + removed; n > l.MaxObservations {
		return fmt.Errorf("%d observations, the limit is %d", n, l.MaxObservations)
	}
	if findings > l.MaxFindings {
		return fmt.Errorf("%d findings, the limit is %d", findings, l.MaxFindings)
	}
	for _, o := range obs {
		if err := CheckObservation(o); err != nil {
			return err
		}
	}
	if s := proto.Size(m); s > l.MaxMessageBytes {
		return fmt.Errorf("%d bytes, the limit is %d", s, l.MaxMessageBytes)
	}
	return l.checkFields(m, top)
}

// CheckObservation checks that an observation has a key and a kind.
func CheckObservation(o *fwv1.Observation) error {
	if o.GetKey() == "" {
		return fmt.Errorf("an observation without a key")
	}
	if o.GetKind() == nil {
		return fmt.Errorf("observation %s has no kind", o.GetKey())
	}
	return nil
}

// checkFields walks every field of m and bounds strings and lists; the
// lists named in top are bounded by their own limit, checked by the
// caller.
func (l Limits) checkFields(m proto.Message, top map[protoreflect.FullName]bool) error {
	var err error
	var walk func(protoreflect.Message, int) bool
	walk = func(pm protoreflect.Message, depth int) bool {
		if depth > maxDepth {
			err = fmt.Errorf("nested deeper than %d", maxDepth)
			return false
		}
		pm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList():
				lst := v.List()
				if lst.Len() > l.MaxListItems && !top[fd.FullName()] {
					err = fmt.Errorf("field %s has %d items, the limit is %d", fd.FullName(), lst.Len(), l.MaxListItems)
					return false
				}
				for i := 0; i < lst.Len(); i++ {
					if !l.checkValue(fd, lst.Get(i), depth, walk, &err) {
						return false
					}
				}
			case fd.IsMap():
				err = fmt.Errorf("field %s: maps are not expected", fd.FullName())
				return false
			default:
				return l.checkValue(fd, v, depth, walk, &err)
			}
			return true
		})
		return err == nil
	}
	walk(m.ProtoReflect(), 0)
	return err
}

func (l Limits) checkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, depth int, walk func(protoreflect.Message, int) bool, err *error) bool {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if len(v.String()) > l.MaxStringBytes {
			*err = fmt.Errorf("field %s is %d bytes, the limit is %d", fd.FullName(), len(v.String()), l.MaxStringBytes)
			return false
		}
	case protoreflect.BytesKind:
		if len(v.Bytes()) > l.MaxStringBytes {
			*err = fmt.Errorf("field %s is %d bytes, the limit is %d", fd.FullName(), len(v.Bytes()), l.MaxStringBytes)
			return false
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return walk(v.Message(), depth+1)
	}
	return true
}

// Clamp cuts every string of m to StringBytes (at a character boundary)
// and every list to ListItems, so that m is within the wire's limits. It
// reports whether it cut anything. It never nests deeper than the limit.
func Clamp(m proto.Message) bool {
	return clamp(m.ProtoReflect(), 0)
}

func clamp(pm protoreflect.Message, depth int) bool {
	cut := false
	if depth > maxDepth {
		return false
	}
	pm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			lst := v.List()
			if lst.Len() > ListItems {
				lst.Truncate(ListItems)
				cut = true
			}
			for i := 0; i < lst.Len(); i++ {
				switch fd.Kind() {
				case protoreflect.StringKind:
					if s, ok := cutString(lst.Get(i).String()); ok {
						lst.Set(i, protoreflect.ValueOfString(s))
						cut = true
					}
				case protoreflect.BytesKind:
					if b := lst.Get(i).Bytes(); len(b) > StringBytes {
						lst.Set(i, protoreflect.ValueOfBytes(b[:StringBytes]))
						cut = true
					}
				case protoreflect.MessageKind, protoreflect.GroupKind:
					cut = clamp(lst.Get(i).Message(), depth+1) || cut
				}
			}
		case fd.IsMap():
		default:
			switch fd.Kind() {
			case protoreflect.StringKind:
				if s, ok := cutString(v.String()); ok {
					pm.Set(fd, protoreflect.ValueOfString(s))
					cut = true
				}
			case protoreflect.BytesKind:
				if b := v.Bytes(); len(b) > StringBytes {
					pm.Set(fd, protoreflect.ValueOfBytes(b[:StringBytes]))
					cut = true
				}
			case protoreflect.MessageKind, protoreflect.GroupKind:
				cut = clamp(v.Message(), depth+1) || cut
			}
		}
		return true
	})
	return cut
}

// cutString cuts s to at most StringBytes bytes, at the start of a
// character.
func cutString(s string) (string, bool) {
	if len(s) <= StringBytes {
		return s, false
	}
	n := StringBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}

// ClampObservation clamps o and marks it truncated when it cut anything.
func ClampObservation(o *fwv1.Observation) {
	if Clamp(o) {
		o.Truncated = true
	}
}

// Strings cuts a list of strings to ListItems, and each to StringBytes.
func Strings(ss []string) []string {
	if len(ss) > ListItems {
		ss = ss[:ListItems]
	}
	for i, s := range ss {
		ss[i], _ = cutString(s)
	}
	return ss
}
