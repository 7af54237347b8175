package store

import (
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/encoding/protowire"
)

// ChangeLog is one message's changes, encoded as an ObservationChanges as
// they are found: the observations are already encoded, so each change is
// framed around their bytes rather than decoded and encoded again. Every
// backend stores these bytes, so migrate copies them unchanged.
type ChangeLog struct {
	b []byte
	n int
}

// Add appends one change; obs is nil for an addition (its observation is
// the key's next change, or the current one).
func (h *ChangeLog) Add(op fwv1.ObservationChange_Op, key, kind string, obs []byte) {
	var c []byte
	c = protowire.AppendTag(c, 3, protowire.VarintType)
	c = protowire.AppendVarint(c, uint64(op))
	c = protowire.AppendTag(c, 4, protowire.BytesType)
	c = protowire.AppendString(c, key)
	c = protowire.AppendTag(c, 5, protowire.BytesType)
	c = protowire.AppendString(c, kind)
	if obs != nil {
		c = protowire.AppendTag(c, 6, protowire.BytesType)
		c = protowire.AppendBytes(c, obs)
	}
	h.b = protowire.AppendTag(h.b, 1, protowire.BytesType)
	h.b = protowire.AppendBytes(h.b, c)
	h.n++
}

// Len is how many changes were added.
func (h *ChangeLog) Len() int { return h.n }

// Bytes is the encoded ObservationChanges.
func (h *ChangeLog) Bytes() []byte { return h.b }
