// Package dumpconv turns the public forms of macOS and Windows dumps into
// the forms the agent records, so that real outputs published elsewhere
// (a text `ioreg -l` pasted in an issue, a `system_profiler -xml` report, a
// `reg export` file) replay through the sensors' own parsers:
//
//   - IoregText: the text tree of `ioreg -l` into the XML plist of `ioreg -a -l`;
//   - SystemProfilerJSON: a `system_profiler -xml` report into `system_profiler -json`;
//   - ParseRegExport: a `reg export` / regedit .reg file into keys and typed values.
//
// It is used by tests only; no agent binary links it.
package dumpconv

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"howett.net/plist"
)

// maxDepth bounds the nesting of registry entries and of property values.
const maxDepth = 128

// IoregText converts the text that `ioreg -l` (or `ioreg -l -r -c CLASS`)
// prints into the XML plist that `ioreg -a` prints for the same tree: an
// array of the top entries, each a dictionary of its properties plus
// IOObjectClass, IORegistryEntryName, IORegistryEntryID and
// IORegistryEntryChildren.
//
// The text form is one line per entry, "+-o NAME  <class CLASS, id 0xID,
// ...>", indented two columns per level (with "|" where a parent has more
// children below), followed by its properties between "{" and "}", one
// `"key" = value` a line. Values are numbers, "strings", Yes/No, <hex> or
// <"text"> data, {"k"=v,...} dictionaries and (a,b) or [a,b] arrays. A value
// that does not parse (a line cut at the terminal width) is kept as its
// text.
func IoregText(text []byte) ([]byte, error) {
	type node struct {
		depth int
		props map[string]any
		kids  []any
	}
	var roots []any
	var stack []*node
	finish := func(n *node) {
		if len(n.kids) > 0 {
			n.props["IORegistryEntryChildren"] = n.kids
		}
	}
	pop := func(depth int) {
		for len(stack) > 0 && stack[len(stack)-1].depth >= depth {
			finish(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "+-o "); i >= 0 && strings.Trim(line[:i], " |\t") == "" {
			depth := i / 2
			if depth > maxDepth {
				return nil, errors.New("ioreg text: nested too deep")
			}
			pop(depth)
			n := &node{depth: depth, props: entryHeader(line[i+4:])}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n.props)
			} else {
				roots = append(roots, n.props)
			}
			stack = append(stack, n)
			found = true
			continue
		}
		t := strings.TrimSpace(strings.TrimLeft(line, " |\t"))
		if len(stack) == 0 || !strings.HasPrefix(t, `"`) {
			continue
		}
		k, v, ok := cutProperty(t)
		if !ok {
			continue
		}
		stack[len(stack)-1].props[k] = parseValueText(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ioreg text: %w", err)
	}
	if !found {
		return nil, errors.New("ioreg text: no registry entry")
	}
	pop(0)
	if roots == nil {
		roots = []any{}
	}
	return plist.MarshalIndent(roots, plist.XMLFormat, "\t")
}

// entryHeader reads `NAME  <class CLASS, id 0xID, ...>`.
func entryHeader(s string) map[string]any {
	m := map[string]any{}
	name, rest, _ := strings.Cut(s, "  <class ")
	m["IORegistryEntryName"] = strings.TrimSpace(name)
	fields := strings.Split(strings.TrimSuffix(strings.TrimSpace(rest), ">"), ",")
	if len(fields) > 0 && fields[0] != "" {
		m["IOObjectClass"] = strings.TrimSpace(fields[0])
	}
	for _, f := range fields[1:] {
		if id, ok := strings.CutPrefix(strings.TrimSpace(f), "id "); ok {
			if v, err := strconv.ParseUint(strings.TrimPrefix(id, "0x"), 16, 64); err == nil {
				m["IORegistryEntryID"] = v
			}
		}
	}
	return m
}

// cutProperty splits `"key" = value`.
func cutProperty(t string) (string, string, bool) {
	end := strings.Index(t[1:], `"`)
	if end < 0 {
		return "", "", false
	}
	k := t[1 : 1+end]
	rest := strings.TrimSpace(t[2+end:])
	v, ok := strings.CutPrefix(rest, "=")
	return k, strings.TrimSpace(v), ok
}

// parseValueText parses one property value, or keeps its text.
func parseValueText(s string) any {
	p := &valueParser{s: s}
	v, err := p.value(0)
	if err != nil || strings.TrimSpace(p.s[p.i:]) != "" {
		return s
	}
	return v
}

type valueParser struct {
	s string
	i int
}

var errValue = errors.New("bad value")

func (p *valueParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *valueParser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errValue
	}
	switch c := p.peek(); {
	case c == '"':
		return p.str()
	case c == '{':
		p.i++
		m := map[string]any{}
		for p.peek() != '}' {
			if p.peek() != '"' {
				return nil, errValue
			}
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			if p.peek() != '=' {
				return nil, errValue
			}
			p.i++
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[k] = v
			if p.peek() == ',' {
				p.i++
			} else if p.peek() != '}' {
				return nil, errValue
			}
		}
		p.i++
		return m, nil
	case c == '(' || c == '[':
		closer := byte(')')
		if c == '[' {
			closer = ']'
		}
		p.i++
		a := []any{}
		for p.peek() != closer {
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
			if p.peek() == ',' {
				p.i++
			} else if p.peek() != closer {
				return nil, errValue
			}
		}
		p.i++
		return a, nil
	case c == '<':
		end := strings.IndexByte(p.s[p.i:], '>')
		if end < 0 {
			return nil, errValue
		}
		body := p.s[p.i+1 : p.i+end]
		p.i += end + 1
		if strings.HasPrefix(body, `"`) && strings.HasSuffix(body, `"`) && len(body) >= 2 {
			return []byte(body[1 : len(body)-1]), nil
		}
		b, err := hex.DecodeString(body)
		if err != nil {
			return nil, errValue
		}
		return b, nil
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		p.i++
		for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == 'x' || p.s[p.i] >= 'a' && p.s[p.i] <= 'f') {
			p.i++
		}
		n := p.s[start:p.i]
		if u, err := strconv.ParseUint(n, 0, 64); err == nil {
			return u, nil
		}
		if v, err := strconv.ParseInt(n, 0, 64); err == nil {
			return v, nil
		}
		return nil, errValue
	case strings.HasPrefix(p.s[p.i:], "Yes"):
		p.i += 3
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "No"):
		p.i += 2
		return false, nil
	}
	return nil, errValue
}

// str reads a quoted string; ioreg prints the characters as they are.
func (p *valueParser) str() (string, error) {
	end := strings.IndexByte(p.s[p.i+1:], '"')
	if end < 0 {
		return "", errValue
	}
	s := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return s, nil
}
