package rules

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types/ref"
	"google.golang.org/protobuf/proto"

	exprpb "google.golang.org/genproto/googleapis/api/expr/v1alpha1"

	_ "embed"
)

// builtinAST holds the built-in rules' expressions already parsed and
// type-checked (cel's CheckedExpr), with what the load derives from them:
// whether the cost is proven bounded, and the cheap gate of one that is
// not. Parsing and checking are most of the cost of loading the rules, and
// a helpdesk scan loads them each time it starts; with this, a built-in
// expression is only planned.
//
// It is generated from the YAML by the test that checks it is current:
//
//	go test ./rules -run TestBuiltinAST -update
//
// An expression is found by its scope, result type and exact text, so an
// edited rule misses (and is compiled from its text, as any other) until
// the file is made again; the test fails meanwhile. An organisation's rule
// with the very text of a built-in one, in the same scope, is the same
// expression in the same environment, and uses it too.
//
// The format: "fwast1\n", then for each expression, sorted by key:
// uvarint key length, key (scope NUL type NUL text), a flags byte (1: the
// cost is bounded), uvarint length and a CheckedExpr, uvarint length and
// the gate's CheckedExpr (length 0: none).
//
//go:generate go test -run TestBuiltinAST -update .
//go:embed builtin.ast
var builtinAST []byte

const astMagic = "fwast1\n"

// astEntry is one cached expression; its slices point into builtinAST.
type astEntry struct {
	bounded   bool
	ast, gate []byte
}

func astKey(scope, src string, want *cel.Type) string {
	return scope + "\x00" + want.String() + "\x00" + src
}

// readASTCache indexes a cache; nil when it is malformed (every expression
// is then compiled from its text). The keys share the cache's memory,
// which the binary holds read-only.
func readASTCache(b []byte) map[string]astEntry {
	rest, ok := bytes.CutPrefix(b, []byte(astMagic))
	if !ok {
		return nil
	}
	m := map[string]astEntry{}
	for len(rest) > 0 {
		key, r, ok := field(rest)
		if !ok || len(r) == 0 || len(key) == 0 {
			return nil
		}
		flags := r[0]
		ast, r, ok1 := field(r[1:])
		gate, r, ok2 := field(r)
		if !ok1 || !ok2 {
			return nil
		}
		rest = r
		m[unsafe.String(&key[0], len(key))] = astEntry{bounded: flags&1 != 0, ast: ast, gate: gate}
	}
	return m
}

// compileCached compiles an expression of a scope from the cache when it
// holds it, else from its text. A cached expression was checked when the
// cache was made (TestBuiltinAST keeps it current), so it is only decoded
// and planned when it is first evaluated: a rule whose kind a host never
// shows, or a fleet rule in the agent, costs neither time nor memory.
func (e *envs) compileCached(env *cel.Env, scope, src string, want *cel.Type) (cel.Program, *exprError) {
	if ent, ok := e.cache[astKey(scope, src, want)]; ok {
		return &lazyProgram{plan: func() (cel.Program, error) {
			var prg cel.Program
			var ee *exprError
			if ast, err := e.decodeAST(ent.ast); err == nil {
				var gate *cel.Ast
				if len(ent.gate) > 0 {
					gate, _ = e.decodeAST(ent.gate)
				}
				prg, ee = program(env, ast, ent.bounded, gate)
			} else {
				prg, ee = compile(env, src, want) // a damaged entry: from the text, as before caching
			}
			if ee != nil {
				return nil, errors.New(ee.msg)
			}
			return prg, nil
		}}, nil
	}
	return compile(env, src, want)
}

// lazyProgram is a cached expression, planned at its first evaluation (by
// whichever goroutine comes first; the others wait for it).
type lazyProgram struct {
	once sync.Once
	plan func() (cel.Program, error) // nil once planned
	prg  cel.Program
	err  error
}

func (l *lazyProgram) get() (cel.Program, error) {
	l.once.Do(func() {
		l.prg, l.err = l.plan()
		l.plan = nil
	})
	return l.prg, l.err
}

// Eval implements cel.Program.
func (l *lazyProgram) Eval(input any) (ref.Val, *cel.EvalDetails, error) {
	p, err := l.get()
	if err != nil {
		return nil, nil, err
	}
	return p.Eval(input)
}

// ContextEval implements cel.Program.
func (l *lazyProgram) ContextEval(ctx context.Context, input any) (ref.Val, *cel.EvalDetails, error) {
	p, err := l.get()
	if err != nil {
		return nil, nil, err
	}
	return p.ContextEval(ctx, input)
}

// ConcurrentEval implements cel.Program.
func (l *lazyProgram) ConcurrentEval(ctx context.Context, input any) <-chan cel.EvalResult {
	p, err := l.get()
	if err != nil {
		ch := make(chan cel.EvalResult, 1)
		ch <- cel.EvalResult{Err: err}
		close(ch)
		return ch
	}
	return p.ConcurrentEval(ctx, input)
}

// decodeAST reads a cached expression and gives its list references their
// lists back (a CheckedExpr cannot hold them), so that it is planned as the
// checker left it: each list a constant.
func (e *envs) decodeAST(b []byte) (*cel.Ast, error) {
	var pb exprpb.CheckedExpr
	if err := proto.Unmarshal(b, &pb); err != nil {
		return nil, err
	}
	ast := cel.CheckedExprToAst(&pb)
	for _, r := range ast.NativeRep().ReferenceMap() {
		if name, ok := strings.CutPrefix(r.Name, "lists."); ok && r.Value == nil {
			l, ok := e.lists[name]
			if !ok {
				return nil, errors.New("no list " + name)
			}
			r.Value = l
		}
	}
	return ast, nil
}

// cacheExpr is one expression to put in a cache.
type cacheExpr struct {
	scope, src string
	want       *cel.Type
}

// writeASTCache compiles exprs in their scopes' environments and returns
// the cache of them.
func writeASTCache(e *envs, exprs []cacheExpr) ([]byte, error) {
	type ent struct {
		key       string
		flags     byte
		ast, gate []byte
	}
	var ents []ent
	seen := map[string]bool{}
	enc := func(a *cel.Ast) ([]byte, error) {
		// The lists are constants that a CheckedExpr cannot hold:
		// decodeAST puts them back.
		for _, r := range a.NativeRep().ReferenceMap() {
			if _, ok := r.Value.(*List); ok {
				r.Value = nil
			}
		}
		pb, err := cel.AstToCheckedExpr(a)
		if err != nil {
			return nil, err
		}
		return proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	}
	for _, x := range exprs {
		k := astKey(x.scope, x.src, x.want)
		if seen[k] {
			continue
		}
		seen[k] = true
		env := e.byScope[x.scope]
		if env == nil {
			return nil, errors.New("no scope " + x.scope)
		}
		ast, ee := check(env, x.src, x.want)
		if ee != nil {
			return nil, errors.New(ee.msg)
		}
		bounded, gate := analyse(env, ast, x.want)
		n := ent{key: k}
		if bounded {
			n.flags = 1
		}
		var err error
		if n.ast, err = enc(ast); err != nil {
			return nil, err
		}
		if gate != nil {
			if n.gate, err = enc(gate); err != nil {
				return nil, err
			}
		}
		ents = append(ents, n)
	}
	slices.SortFunc(ents, func(a, b ent) int { return cmp.Compare(a.key, b.key) })
	out := []byte(astMagic)
	for _, n := range ents {
		out = appendASTEntry(out, n.key, astEntry{bounded: n.flags&1 != 0, ast: n.ast, gate: n.gate})
	}
	return out, nil
}

// appendASTEntry encodes one cached expression (the format is in
// builtinAST's doc).
func appendASTEntry(out []byte, key string, e astEntry) []byte {
	var flags byte
	if e.bounded {
		flags = 1
	}
	out = binary.AppendUvarint(out, uint64(len(key)))
	out = append(out, key...)
	out = append(out, flags)
	out = binary.AppendUvarint(out, uint64(len(e.ast)))
	out = append(out, e.ast...)
	out = binary.AppendUvarint(out, uint64(len(e.gate)))
	return append(out, e.gate...)
}

// expressions lists every expression of a set's rules with its scope and
// type.
func (s *Set) expressions() []cacheExpr {
	var out []cacheExpr
	for _, r := range s.Rules {
		out = append(out, cacheExpr{r.Scope, r.When, cel.BoolType})
		if r.Label != "" {
			out = append(out, cacheExpr{r.Scope, r.Label, cel.StringType})
		}
		if r.Message != "" {
			out = append(out, cacheExpr{r.Scope, r.Message, cel.StringType})
		}
		if r.Evidence != "" {
			out = append(out, cacheExpr{r.Scope, r.Evidence, cel.ListType(cel.StringType)})
		}
	}
	return out
}
