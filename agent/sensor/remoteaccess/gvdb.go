package remoteaccess

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// GVDB is the file format of dconf's databases: a user's settings in
// ~/.config/dconf/user, and the system databases compiled by
// `dconf compile` into /etc/dconf/db/NAME. Layout (glib's gvdb-format.h,
// little endian as dconf writes it):
//
//	header   "GVariant" (8 bytes), version u32, options u32, root {start, end u32}
//	table    bloom words (u32: count in the low 27 bits), buckets (u32), then
//	         24-byte items: hash u32, parent u32 (0xffffffff: none), key start
//	         u32, key size u16, type byte ('v' value, 'L' list, 'H' table),
//	         unused byte, value {start, end u32}
//
// An item's key is the tail of its full key; the parent holds the part
// before it ("/", "org/", "gnome/", ..., "enable"). A 'v' value is a
// serialised GVariant variant: the child's bytes, a zero byte, the child's
// type string.

// gvdbValue is a value of a dconf database: its GVariant type string and
// serialised bytes.
type gvdbValue struct {
	Type string
	Data []byte
}

// Bool returns a boolean value ("b": one byte, 0 or 1).
func (v gvdbValue) Bool() (b, ok bool) {
	if v.Type != "b" || len(v.Data) != 1 || v.Data[0] > 1 {
		return false, false
	}
	return v.Data[0] == 1, true
}

// maxGVDBItems bounds the items read from one database (a user's settings
// hold a few hundred keys).
const maxGVDBItems = 1 << 16

// parseGVDB returns the values of a dconf database's root table by full
// key ("/org/gnome/desktop/remote-desktop/rdp/enable"). Lists and nested
// tables (dconf's locks) are not values and are left out.
func parseGVDB(b []byte) (map[string]gvdbValue, error) {
	le := binary.LittleEndian
	if len(b) < 24 {
		return nil, fmt.Errorf("gvdb: %d bytes, shorter than the header", len(b))
	}
	switch string(b[:8]) {
	case "GVariant":
	case "raVGtnai":
		return nil, fmt.Errorf("gvdb: big-endian database not read")
	default:
		return nil, fmt.Errorf("gvdb: signature %q, not GVariant", b[:8])
	}
	start, end := le.Uint32(b[16:]), le.Uint32(b[20:])
	if start > end || uint64(end) > uint64(len(b)) || end-start < 8 {
		return nil, fmt.Errorf("gvdb: root table %d-%d outside the %d bytes", start, end, len(b))
	}
	t := b[start:end]
	nBloom := uint64(le.Uint32(t) & (1<<27 - 1))
	nBuckets := uint64(le.Uint32(t[4:]))
	itemsAt := 8 + 4*nBloom + 4*nBuckets
	if itemsAt > uint64(len(t)) {
		return nil, fmt.Errorf("gvdb: %d bloom words and %d buckets overrun the table of %d bytes", nBloom, nBuckets, len(t))
	}
	n := (uint64(len(t)) - itemsAt) / 24
	if n > maxGVDBItems {
		return nil, fmt.Errorf("gvdb: %d items, more than %d", n, maxGVDBItems)
	}
	type item struct {
		parent uint32
		key    []byte
		typ    byte
		value  []byte
	}
	items := make([]item, n)
	for i := range items {
		r := t[itemsAt+24*uint64(i):]
		ks, kn := uint64(le.Uint32(r[8:])), uint64(le.Uint16(r[12:]))
		if ks+kn > uint64(len(b)) {
			return nil, fmt.Errorf("gvdb: item %d: key %d+%d outside the file", i, ks, kn)
		}
		it := item{parent: le.Uint32(r[4:]), key: b[ks : ks+kn], typ: r[14]}
		if it.typ == 'v' {
			vs, ve := le.Uint32(r[16:]), le.Uint32(r[20:])
			if vs > ve || uint64(ve) > uint64(len(b)) {
				return nil, fmt.Errorf("gvdb: item %d: value %d-%d outside the file", i, vs, ve)
			}
			it.value = b[vs:ve]
		}
		items[i] = it
	}
	out := map[string]gvdbValue{}
	var key []byte
	for i, it := range items {
		if it.typ != 'v' {
			continue
		}
		// The full key, from the item up through its parents; a chain
		// longer than the items is a loop.
		key = append(key[:0], it.key...)
		for p, hops := it.parent, 0; p != 0xffffffff; p, hops = items[p].parent, hops+1 {
			if uint64(p) >= n || hops >= len(items) {
				return nil, fmt.Errorf("gvdb: item %d: parent %d is not an item or loops", i, p)
			}
			key = append(append([]byte(nil), items[p].key...), key...)
		}
		v, err := parseVariant(it.value)
		if err != nil {
			return nil, fmt.Errorf("gvdb: %s: %w", key, err)
		}
		out[string(key)] = v
	}
	return out, nil
}

// parseVariant splits a serialised variant into its child's type and
// bytes.
func parseVariant(b []byte) (gvdbValue, error) {
	i := bytes.LastIndexByte(b, 0)
	if i < 0 || i == len(b)-1 {
		return gvdbValue{}, fmt.Errorf("variant of %d bytes without a type", len(b))
	}
	return gvdbValue{Type: string(b[i+1:]), Data: b[:i]}, nil
}
