package locale

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// dconf keeps each user's settings in ~/.config/dconf/user, a GVariant
// database (GVDB): a header, then hash tables whose items name keys by a
// chain of parent items and point to serialized GVariant values. The
// layout read here is glib's gvdb-format.h:
//
//	header:    "GVariant" signature, u32 version, u32 options, root pointer (u32 start, u32 end)
//	hash:      u32 n_bloom_words (low 27 bits), u32 n_buckets, bloom words, buckets, items
//	item (24): u32 hash, u32 parent, u32 key_start, u16 key_size, u8 type, u8 unused, pointer
//
// Items of type 'v' hold a value serialized as a GVariant of type "v":
// the inner value, a NUL, then its type string. Only little-endian files
// (every machine dconf runs on here) are read.

// gvValue is one dconf value: its GVariant type and serialized bytes.
type gvValue struct {
	typ  string
	data []byte
}

var errGVDB = errors.New("not a GVariant database")

// parseGVDB returns the values of a dconf database by key
// ("/desktop/ibus/general/preload-engines"). Items that point outside the
// file are skipped.
func parseGVDB(b []byte) (map[string]gvValue, error) {
	if len(b) < 24 || string(b[:8]) != "GVariant" {
		return nil, errGVDB
	}
	le := binary.LittleEndian
	start, end := le.Uint32(b[16:]), le.Uint32(b[20:])
	if start > end || uint64(end) > uint64(len(b)) || end-start < 8 {
		return nil, fmt.Errorf("%w: bad root pointer", errGVDB)
	}
	t := b[start:end]
	nBloom := uint64(le.Uint32(t[0:]) & (1<<27 - 1))
	nBuckets := uint64(le.Uint32(t[4:]))
	off := 8 + 4*nBloom + 4*nBuckets
	if off > uint64(len(t)) {
		return nil, fmt.Errorf("%w: bad hash table", errGVDB)
	}
	items := t[off:]
	n := len(items) / 24
	const maxName = 4096
	type item struct {
		parent uint32
		key    string
		typ    byte
		ptr    [2]uint32
	}
	its := make([]item, n)
	for i := range its {
		x := items[i*24 : i*24+24]
		ks, kn := uint64(le.Uint32(x[8:])), uint64(le.Uint16(x[12:]))
		if ks+kn > uint64(len(b)) || kn > maxName {
			its[i].parent = 0xfffffffe // unusable
			continue
		}
		its[i] = item{parent: le.Uint32(x[4:]), key: string(b[ks : ks+kn]), typ: x[14], ptr: [2]uint32{le.Uint32(x[16:]), le.Uint32(x[20:])}}
	}
	// Names are built once each, from the parent's, and bounded, so that
	// a crafted file cannot make the work grow faster than its size.
	names := make([]string, n)
	state := make([]byte, n) // 0 unknown, 1 in progress, 2 done, 3 bad
	var name func(i, depth int) (string, bool)
	name = func(i, depth int) (string, bool) {
		if i < 0 || i >= n || depth > 64 || its[i].parent == 0xfffffffe {
			return "", false
		}
		switch state[i] {
		case 2:
			return names[i], true
		case 1, 3:
			return "", false
		}
		state[i] = 1
		prefix, ok := "", true
		if p := its[i].parent; p != 0xffffffff {
			prefix, ok = name(int(p), depth+1)
		}
		if !ok || len(prefix)+len(its[i].key) > maxName {
			state[i] = 3
			return "", false
		}
		names[i], state[i] = prefix+its[i].key, 2
		return names[i], true
	}
	out := map[string]gvValue{}
	for i, it := range its {
		if it.typ != 'v' || it.ptr[0] > it.ptr[1] || uint64(it.ptr[1]) > uint64(len(b)) {
			continue
		}
		k, ok := name(i, 0)
		if !ok {
			continue
		}
		v := b[it.ptr[0]:it.ptr[1]]
		// The type string after the last NUL is short: look for the NUL
		// only near the end, so overlapping values cost little each.
		tail := v[max(0, len(v)-256):]
		sep := bytes.LastIndexByte(tail, 0)
		if sep < 0 {
			continue
		}
		sep += len(v) - len(tail)
		out[k] = gvValue{typ: string(v[sep+1:]), data: v[:sep]}
	}
	return out, nil
}

// gvOffsetSize is the size of the framing offsets of a GVariant container
// of n bytes.
func gvOffsetSize(n int) int {
	switch {
	case n == 0:
		return 0
	case n <= 0xff:
		return 1
	case n <= 0xffff:
		return 2
	case uint64(n) <= 0xffffffff:
		return 4
	}
	return 8
}

func gvReadOffset(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// gvElements splits a GVariant array of variable-size elements with
// alignment 1 (strings, tuples of strings).
func gvElements(d []byte) ([][]byte, error) {
	if len(d) == 0 {
		return nil, nil
	}
	osz := gvOffsetSize(len(d))
	if len(d) < osz {
		return nil, errors.New("short array")
	}
	last := gvReadOffset(d[len(d)-osz:])
	if last > uint64(len(d)) || (uint64(len(d))-last)%uint64(osz) != 0 {
		return nil, errors.New("bad array framing")
	}
	n := (uint64(len(d)) - last) / uint64(osz)
	var out [][]byte
	start := uint64(0)
	for i := uint64(0); i < n; i++ {
		end := gvReadOffset(d[last+i*uint64(osz) : last+(i+1)*uint64(osz)])
		if end < start || end > last {
			return nil, errors.New("bad array offset")
		}
		out = append(out, d[start:end])
		start = end
	}
	return out, nil
}

// gvString reads a serialized GVariant string: its bytes and a NUL.
func gvString(d []byte) (string, bool) {
	if len(d) == 0 || d[len(d)-1] != 0 {
		return "", false
	}
	s := string(d[:len(d)-1])
	if strings.IndexByte(s, 0) >= 0 {
		return "", false
	}
	return s, true
}

// gvStrings reads a value of type "as".
func gvStrings(v gvValue) []string {
	if v.typ != "as" {
		return nil
	}
	els, err := gvElements(v.data)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range els {
		if s, ok := gvString(e); ok {
			out = append(out, s)
		}
	}
	return out
}

// gvStringPairs reads a value of type "a(ss)": each tuple is the first
// string, the second string, and the end of the first as a framing offset.
func gvStringPairs(v gvValue) [][2]string {
	if v.typ != "a(ss)" {
		return nil
	}
	els, err := gvElements(v.data)
	if err != nil {
		return nil
	}
	var out [][2]string
	for _, e := range els {
		osz := gvOffsetSize(len(e))
		if osz == 0 || len(e) < osz {
			continue
		}
		end1 := gvReadOffset(e[len(e)-osz:])
		if end1 > uint64(len(e)-osz) {
			continue
		}
		a, ok1 := gvString(e[:end1])
		b, ok2 := gvString(e[end1 : len(e)-osz])
		if ok1 && ok2 {
			out = append(out, [2]string{a, b})
		}
	}
	return out
}

// dconfKeyboards reads the input sources of a user's dconf database: the
// GNOME input sources (org.gnome.desktop.input-sources sources, the most
// recently used first in mru-sources) and ibus's own engine list
// (org.freedesktop.ibus.general preload-engines).
func dconfKeyboards(user, p string, db map[string]gvValue) []*fwv1.KeyboardLayout {
	var out []*fwv1.KeyboardLayout
	mru := gvStringPairs(db["/org/gnome/desktop/input-sources/mru-sources"])
	for i, s := range gvStringPairs(db["/org/gnome/desktop/input-sources/sources"]) {
		active := len(mru) > 0 && mru[0] == s || len(mru) == 0 && i == 0
		switch {
		case s[0] == "ibus":
			if k := ibusEngine(user, p, s[1], active); k != nil {
				out = append(out, k)
			}
		case s[0] == "xkb" && s[1] != "" && s[1][0] != '+':
			l, v, _ := strings.Cut(s[1], "+")
			out = append(out, &fwv1.KeyboardLayout{Username: user, Source: "gnome", Path: p, Layout: l, Variant: v, Language: xkbLanguage(l), Active: active})
		}
	}
	gnome := len(out)
	for i, e := range gvStrings(db["/desktop/ibus/general/preload-engines"]) {
		if k := ibusEngine(user, p, e, i == 0 && gnome == 0); k != nil {
			out = append(out, k)
		}
	}
	return out
}
