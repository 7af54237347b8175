package host

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall"
)

// Limits of the tree a snapshot holds (SNAPSHOT.md). They bound the work of
// reading a snapshot and of every lookup in it, whatever the input.
const (
	// MaxPathDepth bounds the elements of a recorded path.
	MaxPathDepth = 128
	// MaxPathLen bounds a recorded path and a link target, in bytes
	// (PATH_MAX on Linux).
	MaxPathLen = 4096
	// MaxLinkHops bounds the links that one link leads through, itself
	// included (the 40 links Linux follows in one lookup).
	MaxLinkHops = 40
)

// errLinkLoop is what a link that leads back to itself, or through more
// than MaxLinkHops links, resolves to. It is syscall.ELOOP, with the same
// words on every OS.
var errLinkLoop error = linkLoop{}

type linkLoop struct{}

func (linkLoop) Error() string {
	return fmt.Sprintf("too many levels of symbolic links (a loop, or more than %d links in a chain)", MaxLinkHops)
}

func (linkLoop) Is(target error) bool { return target == syscall.ELOOP }

type nodeKind uint8

const (
	dirNode nodeKind = iota
	fileNode
	linkNode
)

func (k nodeKind) String() string {
	return [...]string{"directory", "file", "link"}[k]
}

// node is one path of a snapshot's tree: a recorded file or link, or a
// directory that holds recorded paths.
type node struct {
	kind     nodeKind
	path     string // clean host path; "/" for the root
	parent   *node  // the root is its own parent
	children map[string]*node
	data     []byte // a file's contents
	target   string // a link's target, as stored
	// entry names the entry that recorded the path or, for a directory,
	// the first entry recorded under it.
	entry string

	// A link's resolution, filled in by tree.resolveLinks.
	state  linkState
	to     *node // where the link leads; nil when nothing is recorded there
	toErr  error // why to is nil: fs.ErrNotExist or syscall.ENOTDIR
	chain  int   // the links that resolving it went through, itself included
	onPath bool  // being resolved (a loop comes back to it)
}

type linkState uint8

const (
	unresolved linkState = iota
	resolved
)

// tree is a snapshot's files and links, held in memory: a replay never
// writes them to disk, and a link resolves only inside the tree, lexically,
// never on the machine doing the replay.
//
// Building it is linear in the size of the entries: each path is walked
// once from the root, element by element, so that a path under a recorded
// file or link is found at once (no parent is looked up by a string of its
// own); each link is resolved once and its result kept, so a lookup follows
// a link in one step.
type tree struct {
	root  *node
	links []*node // in the order recorded
	// steps counts the path elements visited while building, so that a
	// test can check the work is bounded by the input.
	steps int
}

func newTree() *tree {
	r := &node{kind: dirNode, path: "/", children: map[string]*node{}}
	r.parent = r
	return &tree{root: r}
}

// maxNameShown bounds how much of an entry's name a message shows: a name
// can be as long as the snapshot.
const maxNameShown = 200

func shorten(name string) string {
	if len(name) > maxNameShown {
		return name[:maxNameShown] + "..."
	}
	return name
}

// entryErrorf returns an error that names the entry at fault.
func entryErrorf(entry, format string, args ...any) error {
	return fmt.Errorf("entry %q: "+format, append([]any{shorten(entry)}, args...)...)
}

// checkName refuses an entry name with a NUL byte or a control character
// other than a tab: txtar cannot hold a newline in a name, no real path
// holds a NUL, and a name is printed in messages.
func checkName(name string) error {
	for _, r := range name {
		if r != '\t' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f)) {
			return fmt.Errorf("control character %q in the name", r)
		}
	}
	return nil
}

// checkPath checks a recorded path: absolute, clean, not the root, and
// within MaxPathLen and MaxPathDepth.
func checkPath(p string) error {
	switch {
	case len(p) > MaxPathLen:
		return fmt.Errorf("path longer than %d bytes", MaxPathLen)
	case p == "/" || cleanAbs(p) != p:
		return errors.New("path must be absolute and clean")
	case strings.Count(p, "/") > MaxPathDepth:
		return fmt.Errorf("path deeper than %d elements", MaxPathDepth)
	}
	return checkName(p)
}

// add records a file (link false) or a link at the host path p, for the
// entry named entry. Its error names the entry at fault.
func (t *tree) add(entry, p string, link bool, data []byte) error {
	if err := checkPath(p); err != nil {
		return entryErrorf(entry, "%w", err)
	}
	if link {
		if len(data) > MaxPathLen {
			return entryErrorf(entry, "link target longer than %d bytes", MaxPathLen)
		}
		if slices.Contains(data, 0) {
			return entryErrorf(entry, "NUL byte in the link target")
		}
	}
	cur := t.root
	for rest := p[1:]; ; {
		t.steps++
		name, more, deeper := strings.Cut(rest, "/")
		child := cur.children[name]
		if deeper {
			switch {
			case child == nil:
				end := len(p) - len(more) - 1
				child = &node{kind: dirNode, path: p[:end], parent: cur, children: map[string]*node{}, entry: entry}
				cur.children[name] = child
			case child.kind != dirNode:
				return entryErrorf(entry, "%s is recorded as a %s", child.path, child.kind)
			}
			cur, rest = child, more
			continue
		}
		switch {
		case child == nil:
		case child.kind == dirNode:
			// Reported as the entry under it would be, had it come later.
			kind := "file"
			if link {
				kind = "link"
			}
			return entryErrorf(child.entry, "%s is recorded as a %s", p, kind)
		default:
			return entryErrorf(entry, "path recorded twice")
		}
		n := &node{kind: fileNode, path: p, parent: cur, data: data, entry: entry}
		if link {
			n.kind, n.data, n.target = linkNode, nil, string(data)
			t.links = append(t.links, n)
		}
		cur.children[name] = n
		return nil
	}
}

// resolveLinks resolves every link inside the tree, and refuses the first
// one, in the order recorded, that loops or leads through more than
// MaxLinkHops links. A link to nothing recorded is kept: it dangles, as
// /proc/1/exe does when the program was not captured.
func (t *tree) resolveLinks() error {
	for _, l := range t.links {
		if err := t.resolve(l, 1); err != nil {
			return entryErrorf(l.entry, "%w", err)
		}
	}
	return nil
}

// resolve resolves the link l, met at depth links deep. Each link is
// resolved once; a failure aborts the whole snapshot, so it is not kept.
func (t *tree) resolve(l *node, depth int) error {
	if l.state == resolved {
		return nil
	}
	if l.onPath || depth > MaxLinkHops {
		return errLinkLoop
	}
	l.onPath = true
	to, chain, err := t.follow(l.parent, l.target, depth)
	l.onPath = false
	if err != nil && !isDangling(err) {
		return err
	}
	if chain+1 > MaxLinkHops {
		return errLinkLoop
	}
	l.state, l.to, l.toErr, l.chain = resolved, to, err, chain+1
	return nil
}

func isDangling(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// follow walks a link target from the directory dir that holds the link
// (from the root when the target is absolute), lexically: ".." is the
// parent of where the walk stands, and the root is its own parent, so no
// target leads out of the tree. It returns the node reached, or nil and
// fs.ErrNotExist or syscall.ENOTDIR when nothing is recorded there, and the
// longest chain of links that it went through.
func (t *tree) follow(dir *node, target string, depth int) (*node, int, error) {
	if target == "" {
		return nil, 0, fs.ErrNotExist // as on Linux
	}
	cur := dir
	if path.IsAbs(target) {
		cur = t.root
	}
	chain := 0
	for _, name := range strings.Split(path.Clean(target), "/") {
		t.steps++
		switch name {
		case "", ".":
			continue
		case "..":
			cur = cur.parent
			continue
		}
		if cur.kind != dirNode {
			return nil, chain, syscall.ENOTDIR
		}
		next := cur.children[name]
		if next == nil {
			return nil, chain, fs.ErrNotExist
		}
		if next.kind == linkNode {
			if err := t.resolve(next, depth+1); err != nil {
				return nil, chain, err
			}
			chain = max(chain, next.chain)
			if next.to == nil {
				return nil, chain, next.toErr
			}
			next = next.to
		}
		cur = next
	}
	return cur, chain, nil
}

// lookup finds the node at the clean host path p, following the links on
// the way, and the last element's too when follow is set. Every link is
// resolved when the tree is built, so a lookup is one step per element.
func (t *tree) lookup(p string, follow bool) (*node, error) {
	cur := t.root
	if p == "/" {
		return cur, nil
	}
	for rest := p[1:]; ; {
		name, more, deeper := strings.Cut(rest, "/")
		if cur.kind != dirNode {
			return nil, syscall.ENOTDIR
		}
		next := cur.children[name]
		if next == nil {
			return nil, fs.ErrNotExist
		}
		if next.kind == linkNode && (deeper || follow) {
			if next.state != resolved { // never: the tree was built
				return nil, errLinkLoop
			}
			if next.to == nil {
				return nil, next.toErr
			}
			next = next.to
		}
		if !deeper {
			return next, nil
		}
		cur, rest = next, more
	}
}

// buildTree builds the tree of a snapshot's files and links, in order of
// path so that an error is always the same one. The tree is returned with
// an error too, for its count of steps.
func buildTree(files map[string][]byte, links map[string]string) (*tree, error) {
	t := newTree()
	type entry struct {
		p    string
		link bool
	}
	all := make([]entry, 0, len(files)+len(links))
	for p := range files {
		all = append(all, entry{p, false})
	}
	for p := range links {
		all = append(all, entry{p, true})
	}
	slices.SortFunc(all, func(a, b entry) int {
		if c := strings.Compare(a.p, b.p); c != 0 {
			return c
		}
		if a.link == b.link {
			return 0
		}
		if a.link {
			return 1
		}
		return -1
	})
	for _, e := range all {
		var err error
		if e.link {
			err = t.add("link"+e.p, e.p, true, []byte(links[e.p]))
		} else {
			err = t.add("root"+e.p, e.p, false, files[e.p])
		}
		if err != nil {
			return t, err
		}
	}
	return t, t.resolveLinks()
}
