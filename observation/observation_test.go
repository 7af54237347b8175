package observation

import (
	"testing"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

func TestKindsFollowTheProto(t *testing.T) {
	tab := Kinds()
	od := (&fwv1.Observation{}).ProtoReflect().Descriptor().Oneofs().ByName("kind")
	if got, want := len(tab.All()), od.Fields().Len(); got != want || got == 0 {
		t.Fatalf("%d kinds, the oneof has %d fields", got, want)
	}
	seen := map[string]bool{}
	for _, k := range tab.All() {
		if seen[k.Plural] || seen[k.Name] {
			t.Errorf("kind %s: name or plural %s clashes", k.Name, k.Plural)
		}
		seen[k.Name], seen[k.Plural] = true, true
		o := k.Wrap("key/"+k.Name, k.New())
		got, m, ok := tab.Of(o)
		if !ok || got.Name != k.Name || KindOf(o) != k.Name {
			t.Errorf("kind %s: wrapped observation reads back as %q (%v)", k.Name, got.Name, ok)
		}
		if m.ProtoReflect().Descriptor() != k.New().ProtoReflect().Descriptor() {
			t.Errorf("kind %s: message %s", k.Name, m.ProtoReflect().Descriptor().FullName())
		}
		if b, ok := tab.ByName(k.Name); !ok || b.Plural != k.Plural {
			t.Errorf("ByName(%s) = %+v, %v", k.Name, b, ok)
		}
	}
	for name, want := range map[string]string{"process": "processes", "usb_device": "usb_devices", "neighbor": "neighbors", "dns_resolver": "dns_resolvers"} {
		if k, ok := tab.ByName(name); !ok || k.Plural != want {
			t.Errorf("%s: plural %q, want %q", name, k.Plural, want)
		}
	}
	// Concrete types: a rule engine registers them with CEL.
	p, _ := tab.ByName("process")
	if _, ok := p.New().(*fwv1.Process); !ok {
		t.Errorf("process kind makes %T", p.New())
	}
}

func TestOfWithoutKind(t *testing.T) {
	tab := Kinds()
	for _, o := range []*fwv1.Observation{nil, {Key: "x"}} {
		if _, _, ok := tab.Of(o); ok || KindOf(o) != "" {
			t.Errorf("%v: has a kind", o)
		}
	}
	// A kind unknown to this binary arrives as unknown fields: no kind.
	b, _ := proto.Marshal(&fwv1.Observation{Key: "k"})
	b = append(b, 0xfa, 0x3e, 0) // field 999, length 0
	var o fwv1.Observation
	if err := proto.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := tab.Of(&o); ok {
		t.Error("an unknown field was taken for a kind")
	}
}
