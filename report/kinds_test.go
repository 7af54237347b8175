package report_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
	"github.com/farmwatch/farmwatch/rules"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// filled returns a message of kind k with every string field set to its
// own name, so that a description shows what it took.
func filled(k observation.Kind) proto.Message {
	m := k.New()
	pm := m.ProtoReflect()
	fields := pm.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Kind() == protoreflect.StringKind && !fd.IsList() {
			pm.Set(fd, protoreflect.ValueOfString(string(fd.Name())+"-v"))
		}
	}
	return m
}

// TestEveryKindIsCovered proves that each kind of the proto has a rule
// scope of the same name, a description of its own, and a place in the
// JSON: a kind added to the proto and forgotten here fails this test.
func TestEveryKindIsCovered(t *testing.T) {
	rep := &fwv1.Report{Host: &fwv1.HostInfo{Os: "linux", Hostname: "h"}}
	for _, k := range observation.Kinds().All() {
		key := k.Name + "/1"
		o := k.Wrap(key, filled(k))
		d := report.Describe(o, key)
		if d == key || d == k.Name+" "+key || !strings.Contains(d, "-v") {
			t.Errorf("kind %s has no description of its own: %q", k.Name, d)
		}
		if !slices.Contains(rules.Scopes(), k.Name) {
			t.Errorf("kind %s is not a rule scope", k.Name)
		}
		rep.Observations = append(rep.Observations, o)
	}
	b, err := report.JSON(rep)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Observations []map[string]any `json:"observations"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Observations) != len(rep.Observations) {
		t.Fatalf("JSON has %d observations, want %d", len(v.Observations), len(rep.Observations))
	}
	for i, o := range v.Observations {
		if k := observation.KindOf(rep.Observations[i]); o["kind"] != k {
			t.Errorf("observation %d: kind %v, want %s", i, o["kind"], k)
		}
	}
}
