package rules

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/decls"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"github.com/farmwatch/farmwatch/limits"
	"github.com/farmwatch/farmwatch/observation"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

// CostLimit bounds the cost of one evaluation of one expression, as
// Kubernetes bounds a CEL call (PerCallLimit). A rule that reaches it is
// reported as a rule error, never as "no match".
const CostLimit = 1_000_000

// scope is one kind of observation that rules can be scoped to.
type scope struct {
	name   string // "process": the rule's scope and the variable name
	plural string // "processes": the host-scope variable
	msg    proto.Message
}

// kinds are the observation kinds, derived from the proto.
var kinds = observation.Kinds()

// scopes are the observation kinds as rule scopes, in the order of the
// Observation oneof.
var scopes = func() []scope {
	var out []scope
	for _, k := range kinds.All() {
		out = append(out, scope{name: k.Name, plural: k.Plural, msg: k.New()})
	}
	return out
}()

// Scopes are the names of the observation scopes rules can have; "host"
// is the one other scope.
func Scopes() []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = s.name
	}
	return out
}

func scopeByName(n string) (scope, bool) {
	for _, s := range scopes {
		if s.name == n {
			return s, true
		}
	}
	return scope{}, false
}

func typeName(m proto.Message) string { return string(m.ProtoReflect().Descriptor().FullName()) }

// KindOf returns the scope name of an observation ("process") and the
// message it holds, or "" and nil.
func KindOf(o *fwv1.Observation) (string, proto.Message) {
	k, m, ok := kinds.Of(o)
	if !ok {
		return "", nil
	}
	return k.Name, m
}

// envs holds one CEL environment per scope, all sharing the lists.
type envs struct {
	byScope map[string]*cel.Env
	adapter types.Adapter
	cache   map[string]astEntry // while loading: the built-in expressions, checked (astcache.go)
	lists   map[string]*List
}

func newEnvs(lists map[string]*List) (*envs, error) {
	msgs := []proto.Message{&fwv1.HostInfo{}, &fwv1.OrgPolicy{}, &fwv1.Finding{}, &fwv1.Observation{}, &fwv1.Cluster{}}
	for _, s := range scopes {
		msgs = append(msgs, s.msg)
	}
	prov, err := newProvider(msgs...)
	if err != nil {
		return nil, fmt.Errorf("cel types: %w", err)
	}
	common := []cel.EnvOption{
		cel.CustomTypeAdapter(prov), cel.CustomTypeProvider(prov),
		ext.Strings(), ext.Lists(), ext.Sets(), ext.Math(), ext.Bindings(),
		cel.Variable("host", cel.ObjectType(typeName(&fwv1.HostInfo{}))),
		cel.Variable("org", cel.ObjectType(typeName(&fwv1.OrgPolicy{}))),
		listMethod("contains", cel.BoolType, func(l *List, s string) ref.Val { return types.Bool(l.Contains(s)) }),
		listMethod("lookup", cel.StringType, func(l *List, s string) ref.Val { return types.String(l.Lookup(s)) }),
		listMethod("hasLabel", cel.BoolType, func(l *List, s string) ref.Val { return types.Bool(l.HasLabel(s)) }),
	}
	for n := range lists {
		common = append(common, cel.Constant("lists."+n, ListType, lists[n]))
	}
	base, err := cel.NewEnv(common...)
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	e := &envs{byScope: map[string]*cel.Env{}, adapter: prov, lists: lists}
	for _, s := range scopes {
		env, err := base.Extend(cel.Variable(s.name, cel.ObjectType(typeName(s.msg))))
		if err != nil {
			return nil, fmt.Errorf("cel environment %s: %w", s.name, err)
		}
		e.byScope[s.name] = env
	}
	hostVars := []cel.EnvOption{cel.Variable("findings", cel.ListType(cel.ObjectType(typeName(&fwv1.Finding{}))))}
	for _, s := range scopes {
		hostVars = append(hostVars, cel.Variable(s.plural, cel.ListType(cel.ObjectType(typeName(s.msg)))))
	}
	env, err := base.Extend(hostVars...)
	if err != nil {
		return nil, fmt.Errorf("cel environment host: %w", err)
	}
	e.byScope["host"] = env
	if env, err = base.Extend(cel.Variable(FleetVar, cel.ObjectType(typeName(&fwv1.Cluster{})))); err != nil {
		return nil, fmt.Errorf("cel environment fleet: %w", err)
	}
	e.byScope[FleetScope] = env
	if env, err = base.Extend(cel.Variable(ObservationVar, cel.ObjectType(typeName(&fwv1.Observation{})))); err != nil {
		return nil, fmt.Errorf("cel environment observation: %w", err)
	}
	e.byScope[ObservationVar] = env
	return e, nil
}

// The fleet scope: rules over a cluster of hosts that share a place or a
// device (collector/fleet), which see it as the variable cluster
// (farmwatch.v1.Cluster), with org and the lists. Their ids start with
// FleetPrefix.
const (
	FleetScope  = "fleet"
	FleetVar    = "cluster"
	FleetPrefix = "farm-"
	// ObservationVar is the variable of a query over every kind (Query).
	ObservationVar = "observation"
)

// exprError is a CEL compile error at a place in an expression.
type exprError struct {
	line, col int // 1-based, within the expression
	msg       string
}

// compile type-checks one expression and checks its result type.
func compile(env *cel.Env, src string, want *cel.Type) (cel.Program, *exprError) {
	ast, ee := check(env, src, want)
	if ee != nil {
		return nil, ee
	}
	bounded, gate := analyse(env, ast, want)
	return program(env, ast, bounded, gate)
}

// check parses and type-checks one expression and checks its result type.
func check(env *cel.Env, src string, want *cel.Type) (*cel.Ast, *exprError) {
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		e := iss.Errors()[0]
		// CEL places some errors nowhere (line 0 or column -1): they are
		// placed at the start, never before it.
		return nil, &exprError{line: max(e.Location.Line(), 1), col: max(e.Location.Column()+1, 1), msg: e.Message}
	}
	if !ast.OutputType().IsExactType(want) && !(want.Kind() == types.ListKind && ast.OutputType().IsAssignableType(want)) {
		return nil, &exprError{line: 1, col: 1, msg: fmt.Sprintf("expression is %s, want %s", ast.OutputType(), want)}
	}
	return ast, nil
}

// analyse says whether an expression's worst case is proven below the cost
// limit at load (observation inputs are bounded in size), and, when it is
// not and it is a boolean that starts with a cheap conjunct
// ("process.name in ['ssh']" && <costly>), that conjunct.
func analyse(env *cel.Env, ast *cel.Ast, want *cel.Type) (bounded bool, gate *cel.Ast) {
	if est, err := env.EstimateCost(ast, sizeEstimator{}); err == nil && est.Max <= CostLimit {
		return true, nil
	}
	if want == cel.BoolType {
		gate = cheapGate(env, ast)
	}
	return false, gate
}

// program plans an expression: a bounded one runs without per-step cost
// tracking; any other is tracked and stopped at the limit. A tracked
// program pays for tracking on every evaluation, so its cheap first
// conjunct, when it has one, runs first, untracked: when it is false the
// whole is false; otherwise the tracked program decides (so an error in the
// gate keeps CEL's error semantics).
func program(env *cel.Env, ast *cel.Ast, bounded bool, gate *cel.Ast) (cel.Program, *exprError) {
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if bounded {
		prg, err := env.Program(ast, opts...)
		if err != nil {
			return nil, &exprError{line: 1, col: 1, msg: err.Error()}
		}
		return prg, nil
	}
	prg, err := env.Program(ast, append(opts, cel.CostLimit(CostLimit))...)
	if err != nil {
		return nil, &exprError{line: 1, col: 1, msg: err.Error()}
	}
	if gate != nil {
		if g, err := env.Program(gate, opts...); err == nil {
			return gatedProgram{gate: g, full: prg}, nil
		}
	}
	return prg, nil
}

// cheapGate returns the first conjunct of a top-level && whose static cost
// is within the limit, or nil.
func cheapGate(env *cel.Env, a *cel.Ast) *cel.Ast {
	native := a.NativeRep()
	e := native.Expr()
	for e.Kind() == celast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd && len(e.AsCall().Args()) > 0 {
		first := e.AsCall().Args()[0]
		pb, err := celast.ToProto(celast.NewCheckedAST(celast.NewAST(first, native.SourceInfo()), native.TypeMap(), native.ReferenceMap()))
		if err != nil {
			return nil
		}
		sub := cel.CheckedExprToAst(pb)
		if est, err := env.EstimateCost(sub, sizeEstimator{}); err == nil && est.Max <= CostLimit && sub.OutputType() == cel.BoolType {
			return sub
		}
		e = first
	}
	return nil
}

// gatedProgram evaluates gate first and the full program only when the gate
// does not rule the result out.
type gatedProgram struct {
	cel.Program
	gate, full cel.Program
}

func (g gatedProgram) Eval(input any) (ref.Val, *cel.EvalDetails, error) {
	if v, _, err := g.gate.Eval(input); err == nil && v == types.False {
		return types.False, nil, nil
	}
	return g.full.Eval(input)
}

// Bounds of observation inputs, for the static cost estimate. The sensors
// and the wire keep strings and lists within these.
const (
	MaxStringLen   = limits.StringBytes
	MaxListLen     = limits.ListItems
	MaxHostListLen = limits.HostObservations // the observations of one kind a host rule sees
	MaxLabelLen    = 1 << 10                 // a list label: a vendor name
)

// hostVariables are the list variables of host-scope rules.
var hostVariables = func() map[string]bool {
	m := map[string]bool{"findings": true}
	for _, s := range scopes {
		m[s.plural] = true
	}
	return m
}()

// sizeEstimator bounds the size of every input for cel's static cost
// estimate; list lookups cost about one hash per character.
type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if len(n.Path()) == 0 {
		return nil
	}
	switch n.Type().Kind() {
	case types.StringKind, types.BytesKind:
		return &cost.SizeEstimate{Min: 0, Max: MaxStringLen}
	case types.ListKind, types.MapKind:
		// A host rule's variables (processes, findings) are the host's
		// observations of a kind; every other list is a field of one.
		if len(n.Path()) == 1 && hostVariables[n.Path()[0]] {
			return &cost.SizeEstimate{Min: 0, Max: MaxHostListLen}
		}
		return &cost.SizeEstimate{Min: 0, Max: MaxListLen}
	}
	return nil
}

func (sizeEstimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	switch overloadID {
	case "fwlist_contains_string", "fwlist_lookup_string", "fwlist_haslabel_string":
		return &cost.CallEstimate{CostEstimate: cost.CostEstimate{Min: 1, Max: 1 + MaxStringLen/64}, ResultSize: &cost.SizeEstimate{Min: 0, Max: MaxLabelLen}}
	}
	return nil
}

// listMethod declares lists.X.NAME(string). The function runs without cel's
// runtime type guards (they cost a tenth of an evaluation), so it checks its
// receiver and argument itself.
func listMethod(name string, result *cel.Type, fn func(*List, string) ref.Val) cel.EnvOption {
	return cel.Function(name, cel.MemberOverload("fwlist_"+strings.ToLower(name)+"_string",
		[]*cel.Type{ListType, cel.StringType}, result,
		cel.BinaryBinding(func(l, s ref.Val) ref.Val {
			ll, ok1 := l.(*List)
			ss, ok2 := s.(types.String)
			if !ok1 || !ok2 {
				return types.MaybeNoSuchOverloadErr(s)
			}
			return fn(ll, string(ss))
		})),
		decls.DisableTypeGuards(true))
}
