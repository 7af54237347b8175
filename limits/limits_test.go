package limits

import (
	"strings"
	"testing"
	"unicode/utf8"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// within walks m independently of checkFields and reports the first bound
// it breaks: a string or bytes field over the limit, a list over it that
// is not one of the message's own lists of observations and findings, a
// nesting too deep.
func within(l Limits, m protoreflect.Message, top map[protoreflect.FullName]bool, depth int) string {
	if depth > maxDepth {
		return "too deep"
	}
	bad := ""
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		check := func(v protoreflect.Value) {
			switch fd.Kind() {
			case protoreflect.StringKind:
				if len(v.String()) > l.MaxStringBytes {
					bad = string(fd.FullName())
				}
			case protoreflect.BytesKind:
				if len(v.Bytes()) > l.MaxStringBytes {
					bad = string(fd.FullName())
				}
			case protoreflect.MessageKind, protoreflect.GroupKind:
				if b := within(l, v.Message(), top, depth+1); b != "" {
					bad = b
				}
			}
		}
		switch {
		case fd.IsList():
			if v.List().Len() > l.MaxListItems && !top[fd.FullName()] {
				bad = string(fd.FullName())
			}
			for i := 0; i < v.List().Len() && bad == ""; i++ {
				check(v.List().Get(i))
			}
		case fd.IsMap():
			bad = "map"
		default:
			check(v)
		}
		return bad == ""
	})
	return bad
}

var tops = map[protoreflect.FullName]bool{
	"farmwatch.v1.FullState.observations": true, "farmwatch.v1.FullState.findings": true,
	"farmwatch.v1.Delta.upserted": true, "farmwatch.v1.Delta.removed": true, "farmwatch.v1.Delta.findings": true,
	"farmwatch.v1.Report.observations": true, "farmwatch.v1.Report.findings": true,
}

// FuzzCheckAgentMessage: a message the checker accepts is within every
// limit (counted again here, another way), and every observation in it has
// a key and a kind.
func FuzzCheckAgentMessage(f *testing.F) {
	seed := &fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: []*fwv1.Observation{
		{Key: "process/1", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: 1, Name: "a", Args: []string{"x", "y"}}}}}}}}
	b, _ := proto.Marshal(seed)
	f.Add(b)
	f.Add([]byte{0x08, 0x01})
	l := Limits{MaxMessageBytes: 1 << 16, MaxObservations: 8, MaxFindings: 4, MaxStringBytes: 64, MaxListItems: 3, HostObservations: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &fwv1.AgentMessage{}
		if proto.Unmarshal(data, m) != nil {
			return
		}
		if err := l.CheckAgentMessage(m); err != nil {
			return
		}
		if b := within(l, m.ProtoReflect(), tops, 0); b != "" {
			t.Fatalf("accepted, yet %s is over its limit: %v", b, m)
		}
		if proto.Size(m) > l.MaxMessageBytes {
			t.Fatalf("accepted a message of %d bytes", proto.Size(m))
		}
		var obs []*fwv1.Observation
		switch b := m.Body.(type) {
		case *fwv1.AgentMessage_Full:
			obs = b.Full.GetObservations()
			if len(b.Full.GetFindings()) > l.MaxFindings {
				t.Fatal("accepted too many findings")
			}
		case *fwv1.AgentMessage_Delta:
			obs = b.Delta.GetUpserted()
			if len(obs)+len(b.Delta.GetRemoved()) > l.MaxObservations {
				t.Fatal("accepted too many observations")
			}
		case *fwv1.AgentMessage_ScanReply:
			obs = b.ScanReply.GetReport().GetObservations()
		case *fwv1.AgentMessage_Chunk, nil:
			t.Fatalf("accepted %T", m.Body)
		}
		if len(obs) > l.MaxObservations {
			t.Fatal("accepted too many observations")
		}
		for _, o := range obs {
			if o.GetKey() == "" || o.GetKind() == nil {
				t.Fatalf("accepted an observation without a key or kind: %v", o)
			}
		}
	})
}

// FuzzClamp: whatever an observation holds, Clamp leaves it within the
// wire's limits, as valid UTF-8 where it was, marked when it cut, and
// unchanged when there was nothing to cut.
func FuzzClamp(f *testing.F) {
	f.Add("anydesk", 3, 10)
	f.Add(strings.Repeat("é", 40000), 5000, 70000)
	f.Fuzz(func(t *testing.T, name string, nargs, arglen int) {
		nargs, arglen = min(max(nargs, 0), 6000), min(max(arglen, 0), 80000)
		args := make([]string, nargs)
		for i := range args {
			args[i] = "a"
		}
		if nargs > 0 {
			args[0] = strings.Repeat("ü", arglen/2)
		}
		o := &fwv1.Observation{Key: "process/1", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Name: name, Cmdline: name + strings.Repeat("x", arglen), Args: args}}}
		before := proto.Clone(o)
		ClampObservation(o)
		full := &fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: []*fwv1.Observation{o}}}}
		if err := Default().CheckAgentMessage(full); err != nil {
			t.Fatalf("clamped, yet refused: %v", err)
		}
		p := o.GetProcess()
		if utf8.ValidString(before.(*fwv1.Observation).GetProcess().GetName()) && !utf8.ValidString(p.Name) {
			t.Fatal("a cut broke a character")
		}
		cut := !proto.Equal(before, o)
		if o.Truncated != cut {
			t.Fatalf("truncated %v, but changed %v", o.Truncated, cut)
		}
	})
}

// TestHostGoesDarkClamp: the 70 KB argument that once wedged delivery is
// cut to the limit, marked, and accepted.
func TestHostGoesDarkClamp(t *testing.T) {
	args := make([]string, 5000)
	for i := range args {
		args[i] = "-cp"
	}
	args[1] = strings.Repeat("/opt/app/lib/x.jar:", 4000) // a long Java class path
	o := &fwv1.Observation{Key: "process/9", Kind: &fwv1.Observation_Process{Process: &fwv1.Process{Pid: 9, Name: "java",
		Cmdline: strings.Repeat("a", 70_000), Args: args}}}
	full := &fwv1.AgentMessage{Seq: 1, Body: &fwv1.AgentMessage_Full{Full: &fwv1.FullState{Observations: []*fwv1.Observation{o}}}}
	if err := Default().CheckAgentMessage(full); err == nil {
		t.Fatal("the collector would take the uncut observation; the test proves nothing")
	}
	ClampObservation(o)
	if err := Default().CheckAgentMessage(full); err != nil {
		t.Fatalf("clamped, yet refused: %v", err)
	}
	p := o.GetProcess()
	if !o.Truncated || len(p.Cmdline) != StringBytes || len(p.Args) != ListItems || len(p.Args[1]) > StringBytes {
		t.Fatalf("truncated %v, cmdline %d, args %d, args[1] %d", o.Truncated, len(p.Cmdline), len(p.Args), len(p.Args[1]))
	}
}
