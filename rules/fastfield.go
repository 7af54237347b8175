package rules

import (
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// cachedMsg is an observation as the rules see it during one evaluation:
// the message, plus the CEL values of the fields read so far. Every rule of
// a scope reads the same few fields (process.name, process.exe ...); the
// cache turns each into one protobuf reflection and one allocation per
// observation instead of one per rule. It is a proto.Message, so every CEL
// operation that is not a field read works on it unchanged.
type cachedMsg struct {
	proto.Message
	vals []ref.Val
}

func newCached(m proto.Message) *cachedMsg {
	return &cachedMsg{Message: m, vals: make([]ref.Val, m.ProtoReflect().Descriptor().Fields().Len())}
}

// reset points the cache at another message of the same type, so that one
// cachedMsg, and the CEL object that wraps it, serve every observation of
// a kind in turn.
func (c *cachedMsg) reset(m proto.Message) {
	c.Message = m
	clear(c.vals)
}

// provider is cel's protobuf type registry whose field getters read
// through a cachedMsg when they are given one.
type provider struct {
	*types.Registry
}

func newProvider(msgs ...proto.Message) (*provider, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := reg.RegisterMessage(m); err != nil {
			return nil, err
		}
	}
	return &provider{Registry: reg}, nil
}

// FindStructFieldType implements types.Provider.
func (p *provider) FindStructFieldType(structType, fieldName string) (*types.FieldType, bool) {
	ft, ok := p.Registry.FindStructFieldType(structType, fieldName)
	if !ok || ft.GetFrom == nil {
		return ft, ok
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(structType))
	if err != nil {
		return ft, ok
	}
	md, isMsg := d.(protoreflect.MessageDescriptor)
	if !isMsg {
		return ft, ok
	}
	fd := md.Fields().ByName(protoreflect.Name(fieldName))
	if fd == nil {
		return ft, ok
	}
	idx, orig := fd.Index(), ft.GetFrom
	out := *ft
	out.GetFrom = func(target any) (any, error) {
		c, isCached := target.(*cachedMsg)
		if !isCached || idx >= len(c.vals) {
			return orig(target)
		}
		if v := c.vals[idx]; v != nil {
			return v, nil
		}
		raw, err := orig(c.Message)
		if err != nil {
			return nil, err
		}
		v := p.NativeToValue(raw)
		c.vals[idx] = v
		return v, nil
	}
	return &out, true
}
