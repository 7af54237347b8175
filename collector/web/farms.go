package web

import (
	"math"
	"net/http"
	"slices"
	"strings"

	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// farmView is a cluster with its graph.
type farmView struct {
	*fwv1.Cluster
	Graph *graph
}

type farmsData struct {
	All   bool
	Farms []farmView
}

func (c *Console) farmsPage(w http.ResponseWriter, r *http.Request, s *session) {
	all := r.URL.Query().Get("all") != ""
	cs, err := c.cfg.Store.Clusters(r.Context(), all)
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "farms not read", err)
		return
	}
	d := farmsData{All: all}
	for _, cl := range cs {
		d.Farms = append(d.Farms, farmView{Cluster: cl, Graph: clusterGraph(cl)})
	}
	c.render(w, http.StatusOK, "farms", c.page(s, "Farms", d))
}

// graph is a cluster drawn as SVG: its hosts on a circle, an edge for
// each pair of hosts that share something, labelled with what.
type graph struct {
	W, H  int
	Nodes []node
	Edges []edge
	Left  int // hosts not drawn (past maxGraphHosts)
}

type node struct {
	X, Y    int
	LX, LY  int    // the label's place, outside the circle
	Anchor  string // the label's text-anchor
	Name    string
	Person  string
	HostID  string
	Flagged bool // has open findings of its own
}

type edge struct {
	X1, Y1, X2, Y2 int
	MX, MY         int // the label's place
	Label          string
	Class          string // lan, device or egress
}

// maxGraphHosts bounds the hosts a graph draws; the rest are listed.
const maxGraphHosts = 16

func clusterGraph(cl *fwv1.Cluster) *graph {
	g := &graph{W: 640, H: 400}
	members := cl.GetMembers()
	if len(members) > maxGraphHosts {
		g.Left = len(members) - maxGraphHosts
		members = members[:maxGraphHosts]
	}
	cx, cy, rad := g.W/2, g.H/2, 130
	at := map[string]int{} // host id -> node
	for i, m := range members {
		a := 2*math.Pi*float64(i)/float64(len(members)) - math.Pi/2
		x, y := cx+int(float64(rad)*math.Cos(a)), cy+int(float64(rad)*math.Sin(a))
		lx, ly := cx+int(float64(rad+18)*math.Cos(a)), cy+int(float64(rad+18)*math.Sin(a))+4
		anchor := "middle"
		switch {
		case math.Cos(a) > 0.3:
			anchor = "start"
		case math.Cos(a) < -0.3:
			anchor = "end"
		}
		n := node{X: x, Y: y, LX: lx, LY: ly, Anchor: anchor, Name: m.GetHostname(), HostID: m.GetHostId(), Flagged: len(m.GetFindings()) > 0}
		if p := m.GetPerson(); p != nil {
			n.Person = p.GetName()
		}
		at[m.GetHostId()] = len(g.Nodes)
		g.Nodes = append(g.Nodes, n)
	}
	// One edge per pair of hosts, labelled with every kind they share.
	type pair struct{ a, b int }
	kinds := map[pair][]string{}
	lan := map[pair]bool{}
	var order []pair
	for _, sig := range cl.GetSignals() {
		ids := sig.GetHostIds()
		for i := 0; i < len(ids); i++ {
			for j := i + 1; j < len(ids); j++ {
				a, oka := at[ids[i]]
				b, okb := at[ids[j]]
				if !oka || !okb {
					continue
				}
				p := pair{min(a, b), max(a, b)}
				if _, seen := kinds[p]; !seen {
					order = append(order, p)
				}
				if !slices.Contains(kinds[p], sig.GetKind()) {
					kinds[p] = append(kinds[p], sig.GetKind())
				}
				lan[p] = lan[p] || sig.GetLan()
			}
		}
	}
	for _, p := range order {
		a, b := g.Nodes[p.a], g.Nodes[p.b]
		e := edge{X1: a.X, Y1: a.Y, X2: b.X, Y2: b.Y, MX: (a.X + b.X) / 2, MY: (a.Y+b.Y)/2 - 3, Label: strings.Join(kinds[p], ", "), Class: "egress"}
		switch {
		case lan[p]:
			e.Class = "lan"
		case slices.ContainsFunc(kinds[p], func(k string) bool { return strings.HasSuffix(k, "_serial") }):
			e.Class = "device"
		}
		g.Edges = append(g.Edges, e)
	}
	return g
}
