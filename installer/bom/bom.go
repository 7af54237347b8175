// Package bom writes and reads the bill of materials ("Bom") of a macOS
// package: the BOMStore file that lists every path of the payload with
// its type, mode, owner, size and checksum, from which Installer records
// its receipt (pkgutil --files).
//
// A BOMStore file, all integers big-endian:
//
//	header (512 bytes): "BOMStore", version 1, number of non-null blocks,
//	  index offset and length (the block table), vars offset and length
//	vars: count, then per var: block index (4), name length (1), name
//	blocks: the data of each block, back to back
//	block table: count, then per block its address and length (block 0 is null)
//	free list: count 0 and two null entries
//
// The var "Paths" is a tree ("tree", version 1, child block, block size
// 4096, path count, one zero byte) whose child is a leaf (isLeaf 1, count,
// forward, backward, then count pairs of block indices): each pair points
// to a path record (id, block of its info) and a file record (parent id,
// NUL-terminated name). The info is: type (1 file, 2 directory, 3 link),
// 1, architecture (2), mode (2), uid (4), gid (4), mtime (4), size (4), 1,
// checksum (4, POSIX cksum's CRC), link name length (4), link name. The
// vars "BomInfo", "HLIndex", "VIndex" and "Size64" complete the file, with
// empty trees. Paths are listed breadth first, each directory's children
// by name, starting with "." (parent 0). This writer puts all paths in one
// leaf, so it takes at most 256.
package bom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Entry is one path of the payload.
type Entry struct {
	Path     string // ".", "./usr", "./usr/local/bin/farmwatch-agent"
	Mode     fs.FileMode
	UID, GID uint32
	MTime    uint32 // Unix seconds
	Size     uint32
	Checksum uint32 // Cksum of the content
	Link     string // a symlink's target
}

// MaxPaths is how many paths Write takes (one leaf of the tree).
const MaxPaths = 256

const (
	typeFile = 1
	typeDir  = 2
	typeLink = 3
)

type builder struct{ blocks [][]byte }

func (b *builder) add(data []byte) uint32 {
	b.blocks = append(b.blocks, data)
	return uint32(len(b.blocks) - 1)
}

type enc struct{ bytes.Buffer }

func (e *enc) u8(v uint8)   { e.WriteByte(v) }
func (e *enc) u16(v uint16) { binary.Write(e, binary.BigEndian, v) }
func (e *enc) u32(v uint32) { binary.Write(e, binary.BigEndian, v) }

func tree(child, blockSize, count uint32) []byte {
	var e enc
	e.WriteString("tree")
	e.u32(1)
	e.u32(child)
	e.u32(blockSize)
	e.u32(count)
	e.u8(0)
	return e.Bytes()
}

func emptyLeaf() []byte {
	var e enc
	e.u16(1)
	e.u16(0)
	e.u32(0)
	e.u32(0)
	return e.Bytes()
}

// order sorts the entries breadth first, children by name, and gives each
// its id (its position + 1) and its parent's id.
func order(entries []Entry) ([]Entry, []uint32, error) {
	byPath := map[string]Entry{}
	children := map[string][]string{}
	for _, e := range entries {
		p := e.Path
		if p != "." && (!strings.HasPrefix(p, "./") || "./"+path.Clean(p[2:]) != p || strings.HasPrefix(path.Clean(p[2:]), "..")) {
			return nil, nil, fmt.Errorf("bom: path %q: want . or ./relative/path", p)
		}
		if _, dup := byPath[p]; dup {
			return nil, nil, fmt.Errorf("bom: path %q twice", p)
		}
		byPath[p] = e
		if p != "." {
			children[parentOf(p)] = append(children[parentOf(p)], p)
		}
	}
	if _, ok := byPath["."]; !ok {
		return nil, nil, errors.New("bom: no root path \".\"")
	}
	var out []Entry
	var parents []uint32
	ids := map[string]uint32{}
	queue := []string{"."}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		parent := uint32(0)
		if p != "." {
			parent = ids[parentOf(p)]
		}
		out = append(out, byPath[p])
		parents = append(parents, parent)
		ids[p] = uint32(len(out))
		kids := children[p]
		sort.Strings(kids)
		queue = append(queue, kids...)
	}
	if len(out) != len(entries) {
		return nil, nil, errors.New("bom: a path's parent directory is not listed")
	}
	return out, parents, nil
}

// parentOf is the parent of "./a/b", "./a"; of "./a", ".".
func parentOf(p string) string { return p[:strings.LastIndex(p, "/")] }

// Write returns the BOMStore file listing entries.
func Write(entries []Entry) ([]byte, error) {
	if len(entries) > MaxPaths {
		return nil, fmt.Errorf("bom: %d paths: this writer takes at most %d", len(entries), MaxPaths)
	}
	sorted, parents, err := order(entries)
	if err != nil {
		return nil, err
	}
	b := &builder{blocks: [][]byte{nil}}
	type variable struct {
		name  string
		block uint32
	}
	var vars []variable

	var info enc
	info.u32(1)
	info.u32(uint32(len(sorted) + 1))
	info.u32(1)
	info.Write(make([]byte, 16))
	vars = append(vars, variable{"BomInfo", b.add(info.Bytes())})

	var leaf enc
	leaf.u16(1)
	leaf.u16(uint16(len(sorted)))
	leaf.u32(0)
	leaf.u32(0)
	for i, e := range sorted {
		var pi enc
		switch {
		case e.Mode&fs.ModeDir != 0:
			pi.u8(typeDir)
		case e.Mode&fs.ModeSymlink != 0:
			pi.u8(typeLink)
		default:
			pi.u8(typeFile)
		}
		pi.u8(1)
		pi.u16(3)
		pi.u16(uint16(unixMode(e.Mode)))
		pi.u32(e.UID)
		pi.u32(e.GID)
		pi.u32(e.MTime)
		pi.u32(e.Size)
		pi.u8(1)
		pi.u32(e.Checksum)
		if e.Link != "" {
			pi.u32(uint32(len(e.Link) + 1))
			pi.WriteString(e.Link)
			pi.u8(0)
		} else {
			pi.u32(0)
		}
		var p1 enc
		p1.u32(uint32(i + 1))
		p1.u32(b.add(pi.Bytes()))
		var file enc
		file.u32(parents[i])
		file.WriteString(path.Base(e.Path))
		file.u8(0)
		leaf.u32(b.add(p1.Bytes()))
		leaf.u32(b.add(file.Bytes()))
	}
	vars = append(vars, variable{"Paths", b.add(tree(b.add(leaf.Bytes()), 4096, uint32(len(sorted))))})
	vars = append(vars, variable{"HLIndex", b.add(tree(b.add(emptyLeaf()), 4096, 0))})
	var vindex enc
	vindex.u32(1)
	vindex.u32(b.add(tree(b.add(emptyLeaf()), 128, 0)))
	vindex.u32(0)
	vindex.u8(0)
	vars = append(vars, variable{"VIndex", b.add(vindex.Bytes())})
	vars = append(vars, variable{"Size64", b.add(tree(b.add(emptyLeaf()), 4096, 0))})

	var vs enc
	vs.u32(uint32(len(vars)))
	for _, v := range vars {
		vs.u32(v.block)
		vs.u8(uint8(len(v.name)))
		vs.WriteString(v.name)
	}
	const headerSize = 512
	var data enc
	addr := make([]uint32, len(b.blocks))
	at := uint32(headerSize + vs.Len())
	for i, blk := range b.blocks[1:] {
		addr[i+1] = at + uint32(data.Len())
		data.Write(blk)
	}
	var index enc
	index.u32(uint32(len(b.blocks)))
	for i, blk := range b.blocks {
		index.u32(addr[i])
		index.u32(uint32(len(blk)))
	}
	index.u32(0) // the free list: empty, with two null entries
	index.Write(make([]byte, 16))

	var out enc
	out.WriteString("BOMStore")
	out.u32(1)
	out.u32(uint32(len(b.blocks) - 1))
	out.u32(uint32(headerSize + vs.Len() + data.Len()))
	out.u32(uint32(index.Len()))
	out.u32(headerSize)
	out.u32(uint32(vs.Len()))
	out.Write(make([]byte, headerSize-out.Len()))
	out.Write(vs.Bytes())
	out.Write(data.Bytes())
	out.Write(index.Bytes())
	return out.Bytes(), nil
}

func unixMode(m fs.FileMode) uint32 {
	t := uint32(0o100000)
	switch {
	case m&fs.ModeDir != 0:
		t = 0o040000
	case m&fs.ModeSymlink != 0:
		t = 0o120000
	}
	return t | uint32(m.Perm())
}

// Read lists the paths of a BOMStore file, in its order.
func Read(bom []byte) ([]Entry, error) {
	be := binary.BigEndian
	if len(bom) < 512 || string(bom[:8]) != "BOMStore" || be.Uint32(bom[8:]) != 1 {
		return nil, errors.New("bom: not a BOMStore file")
	}
	indexOff, varsOff := be.Uint32(bom[16:]), be.Uint32(bom[24:])
	if int(indexOff)+4 > len(bom) || int(varsOff)+4 > len(bom) {
		return nil, errors.New("bom: header points outside the file")
	}
	nblocks := be.Uint32(bom[indexOff:])
	if uint64(indexOff)+4+uint64(nblocks)*8 > uint64(len(bom)) {
		return nil, errors.New("bom: block table outside the file")
	}
	block := func(i uint32) ([]byte, error) {
		if i == 0 || i >= nblocks {
			return nil, fmt.Errorf("bom: block %d of %d", i, nblocks)
		}
		at := indexOff + 4 + i*8
		a, n := be.Uint32(bom[at:]), be.Uint32(bom[at+4:])
		if uint64(a)+uint64(n) > uint64(len(bom)) {
			return nil, fmt.Errorf("bom: block %d outside the file", i)
		}
		return bom[a : a+n], nil
	}
	var pathsTree uint32
	nvars, at := be.Uint32(bom[varsOff:]), varsOff+4
	for range nvars {
		if int(at)+5 > len(bom) {
			return nil, errors.New("bom: vars outside the file")
		}
		idx, n := be.Uint32(bom[at:]), uint32(bom[at+4])
		if int(at+5+n) > len(bom) {
			return nil, errors.New("bom: vars outside the file")
		}
		if string(bom[at+5:at+5+n]) == "Paths" {
			pathsTree = idx
		}
		at += 5 + n
	}
	t, err := block(pathsTree)
	if err != nil || len(t) < 21 || string(t[:4]) != "tree" {
		return nil, fmt.Errorf("bom: no Paths tree: %v", err)
	}
	node, err := block(be.Uint32(t[8:]))
	if err != nil {
		return nil, err
	}
	for depth := 0; len(node) >= 12 && be.Uint16(node) == 0; depth++ { // a branch: go to its first child
		if depth > 32 || len(node) < 20 {
			return nil, errors.New("bom: bad Paths tree")
		}
		if node, err = block(be.Uint32(node[12:])); err != nil {
			return nil, err
		}
	}
	names := map[uint32]string{}
	var out []Entry
	for seen := 0; ; seen++ {
		if len(node) < 12 || seen > 1<<16 {
			return nil, errors.New("bom: bad Paths leaf")
		}
		count := int(be.Uint16(node[2:]))
		if len(node) < 12+8*count {
			return nil, errors.New("bom: Paths leaf too short")
		}
		for i := range count {
			p1, err := block(be.Uint32(node[12+8*i:]))
			if err != nil || len(p1) < 8 {
				return nil, fmt.Errorf("bom: path record: %v", err)
			}
			file, err := block(be.Uint32(node[16+8*i:]))
			if err != nil || len(file) < 5 {
				return nil, fmt.Errorf("bom: file record: %v", err)
			}
			pi, err := block(be.Uint32(p1[4:]))
			if err != nil || len(pi) < 31 {
				return nil, fmt.Errorf("bom: path info: %v", err)
			}
			id, parent := be.Uint32(p1), be.Uint32(file)
			name := string(bytes.TrimRight(file[4:], "\x00"))
			full := name
			if parent != 0 {
				pp, ok := names[parent]
				if !ok {
					return nil, fmt.Errorf("bom: %s: parent %d not listed before it", name, parent)
				}
				full = pp + "/" + name
			}
			names[id] = full
			mode := fs.FileMode(be.Uint16(pi[4:]) & 0o777)
			e := Entry{Path: full, UID: be.Uint32(pi[6:]), GID: be.Uint32(pi[10:]), MTime: be.Uint32(pi[14:]), Size: be.Uint32(pi[18:]), Checksum: be.Uint32(pi[23:])}
			switch pi[0] {
			case typeDir:
				mode |= fs.ModeDir
			case typeLink:
				mode |= fs.ModeSymlink
				if n := be.Uint32(pi[27:]); n > 0 && int(31+n) <= len(pi) {
					e.Link = string(bytes.TrimRight(pi[31:31+n], "\x00"))
				}
			}
			e.Mode = mode
			out = append(out, e)
		}
		next := be.Uint32(node[4:])
		if next == 0 {
			return out, nil
		}
		if node, err = block(next); err != nil {
			return nil, err
		}
	}
}
