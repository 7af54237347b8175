package server

import (
	"fmt"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits bound what an agent may send. A message over any of them is
// refused whole, never half-applied.
type Limits struct {
	MaxMessageBytes int // gRPC receive limit
	MaxObservations int // per message
	MaxFindings     int // per message
	MaxStringBytes  int // any string field
	MaxListItems    int // any repeated field
}

// DefaultLimits are generous for a laptop (a few thousand observations) and
// small for a server.
func DefaultLimits() Limits {
	return Limits{MaxMessageBytes: 16 << 20, MaxObservations: 50_000, MaxFindings: 10_000, MaxStringBytes: 64 << 10, MaxListItems: 4096}
}

func (l Limits) checkHost(h *fwv1.HostInfo) error {
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
	return l.checkFields(h)
}

func (l Limits) checkAgentMessage(m *fwv1.AgentMessage) error {
	var obs, fs int
	switch b := m.Body.(type) {
	case *fwv1.AgentMessage_Full:
		obs, fs = len(b.Full.GetObservations()), len(b.Full.GetFindings())
		for _, o := range b.Full.GetObservations() {
			if err := checkObservation(o); err != nil {
				return err
			}
		}
	case *fwv1.AgentMessage_Delta:
		obs, fs = len(b.Delta.GetUpserted())+len(b.Delta.GetRemoved()), len(b.Delta.GetFindings())
		for _, o := range b.Delta.GetUpserted() {
			if err := checkObservation(o); err != nil {
				return err
			}
		}
	case nil:
		return fmt.Errorf("empty message")
	}
	if obs > l.MaxObservations {
		return fmt.Errorf("%d observations, the limit is %d", obs, l.MaxObservations)
	}
	if fs > l.MaxFindings {
		return fmt.Errorf("%d findings, the limit is %d", fs, l.MaxFindings)
	}
	return l.checkFields(m)
}

func checkObservation(o *fwv1.Observation) error {
	if o.GetKey() == "" {
		return fmt.Errorf("an observation without a key")
	}
	if o.GetKind() == nil {
		return fmt.Errorf("observation %s has no kind", o.GetKey())
	}
	return nil
}

// checkFields walks every field of m and bounds strings and lists.
func (l Limits) checkFields(m proto.Message) error {
	var err error
	var walk func(protoreflect.Message, int) bool
	walk = func(pm protoreflect.Message, depth int) bool {
		if depth > 16 {
			err = fmt.Errorf("nested deeper than 16")
			return false
		}
		pm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList():
				lst := v.List()
				if lst.Len() > l.MaxListItems && fd.Message() == nil {
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
