// Package observation names the kinds of observation. They are derived once
// from the oneof "kind" of farmwatch.v1.Observation, so the proto is the one
// source of truth: a kind added there is a rule scope, a store kind and a
// described line of evidence without being written anywhere else. The
// name of a kind is its oneof field ("usb_device"), which is also the
// variable a rule of that scope sees; its plural ("usb_devices") is the list
// a host-scope rule sees.
package observation

import (
	"strings"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Kind is one kind of observation.
type Kind struct {
	Name   string // "usb_device": the oneof field, a rule scope and its variable
	Plural string // "usb_devices": the variable of host-scope rules
	field  protoreflect.FieldDescriptor
}

// New returns an empty message of the kind (a *fwv1.UsbDevice).
func (k Kind) New() proto.Message {
	return (&fwv1.Observation{}).ProtoReflect().NewField(k.field).Message().Interface()
}

// Wrap makes an observation of this kind holding m, which must be of the
// kind's message type.
func (k Kind) Wrap(key string, m proto.Message) *fwv1.Observation {
	o := &fwv1.Observation{Key: key}
	o.ProtoReflect().Set(k.field, protoreflect.ValueOfMessage(m.ProtoReflect()))
	return o
}

// Table is every kind, in the order of the oneof.
type Table struct {
	kinds  []Kind
	oneof  protoreflect.OneofDescriptor
	byName map[string]int
}

// Kinds derives the table of kinds from the proto. It is cheap; callers
// that look kinds up often keep one.
func Kinds() *Table {
	od := (&fwv1.Observation{}).ProtoReflect().Descriptor().Oneofs().ByName("kind")
	t := &Table{oneof: od, byName: map[string]int{}}
	fields := od.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := string(fd.Name())
		t.byName[name] = len(t.kinds)
		t.kinds = append(t.kinds, Kind{Name: name, Plural: plural(name), field: fd})
	}
	return t
}

// All returns the kinds in the order of the oneof.
func (t *Table) All() []Kind { return t.kinds }

// ByName returns the kind named n ("process").
func (t *Table) ByName(n string) (Kind, bool) {
	i, ok := t.byName[n]
	if !ok {
		return Kind{}, false
	}
	return t.kinds[i], true
}

// Of returns the kind of o and the message it holds; ok is false for an
// observation without a kind (or of a kind newer than this binary).
func (t *Table) Of(o *fwv1.Observation) (k Kind, m proto.Message, ok bool) {
	if o == nil {
		return Kind{}, nil, false
	}
	pm := o.ProtoReflect()
	fd := pm.WhichOneof(t.oneof)
	if fd == nil {
		return Kind{}, nil, false
	}
	return t.kinds[t.byName[string(fd.Name())]], pm.Get(fd).Message().Interface(), true
}

// KindOf is the name of o's kind ("process"), or "" when it has none.
func KindOf(o *fwv1.Observation) string {
	if o == nil {
		return ""
	}
	pm := o.ProtoReflect()
	fd := pm.WhichOneof(pm.Descriptor().Oneofs().ByName("kind"))
	if fd == nil {
		return ""
	}
	return string(fd.Name())
}

// plural is the English plural of a kind's name: process → processes,
// usb_device → usb_devices.
func plural(n string) string {
	if strings.HasSuffix(n, "s") {
		return n + "es"
	}
	return n + "s"
}
