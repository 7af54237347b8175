package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/farmwatch/farmwatch/collector/output"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/farmwatch/farmwatch/report"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type clientFlags struct {
	collector, ca, tokenFile, format string
}

func (c *clientFlags) register(fs interface {
	StringVar(*string, string, string, string)
}) {
	fs.StringVar(&c.collector, "collector", os.Getenv("FARMWATCH_COLLECTOR"), "collector address (FARMWATCH_COLLECTOR)")
	fs.StringVar(&c.ca, "ca", os.Getenv("FARMWATCH_CA"), "CA certificate file (FARMWATCH_CA)")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding a fleet API token (or FARMWATCH_TOKEN holds the token)")
	fs.StringVar(&c.format, "format", "table", "table or json; findings also ocsf (OCSF Detection Finding objects, as the webhooks send)")
}

func (c *clientFlags) dial(ctx context.Context) (*grpc.ClientConn, context.Context, error) {
	if c.collector == "" {
		c.collector = "127.0.0.1:7443"
	}
	if c.ca == "" {
		return nil, nil, usageError{"--ca FILE (or FARMWATCH_CA) is required: the collector's CA certificate"}
	}
	tok := os.Getenv("FARMWATCH_TOKEN")
	if c.tokenFile != "" {
		t, err := credential.ReadSecret(c.tokenFile)
		if err != nil {
			return nil, nil, err
		}
		tok = t
	}
	if tok == "" {
		return nil, nil, usageError{"--token-file FILE (or FARMWATCH_TOKEN) is required"}
	}
	if c.format != "table" && c.format != "json" && c.format != "ocsf" {
		return nil, nil, usageError{fmt.Sprintf("--format %q: want table or json (or ocsf, for findings)", c.format)}
	}
	cfg, err := credential.ClientTLS(c.ca)
	if err != nil {
		return nil, nil, err
	}
	// A host's state or history can be larger than gRPC's default 4 MiB.
	cc, err := grpc.NewClient(c.collector, grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
	if err != nil {
		return nil, nil, fmt.Errorf("collector %s: %w", c.collector, err)
	}
	return cc, metadata.AppendToOutgoingContext(ctx, credential.MDAuthorization, credential.Bearer(tok)), nil
}

// rpcError words a refused call for people.
func rpcError(what string, err error) error {
	if st, ok := status.FromError(err); ok {
		// The collector's message may quote what agents sent: line by line,
		// nothing reaches the terminal raw.
		lines := strings.Split(st.Message(), "\n")
		for i, l := range lines {
			lines[i] = report.Clean(l)
		}
		return fmt.Errorf("%s: %s (%s)", report.Clean(what), strings.Join(lines, "\n"), strings.ToLower(st.Code().String()))
	}
	return fmt.Errorf("%s: %w", what, err)
}

func cmdClient(ctx context.Context, cmd string, args []string, stdout io.Writer) error {
	fs := newFlags(cmd)
	var cf clientFlags
	cf.register(fs)
	host := fs.String("host", "", "findings: only this host")
	all := fs.Bool("all", false, "findings, farms: resolved ones too")
	minSev := fs.String("severity", "", "findings: only this severity and above (info, low, medium, high, critical)")
	timeout := fs.Duration("timeout", 30*time.Second, "scan, hunt: how long to wait for the agents")
	kind := fs.String("kind", "", "history, query, hunt: only this kind of observation (process, usb_device, display, ...)")
	since := fs.Duration("since", 0, "history: only changes this recent (e.g. 24h)")
	limit := fs.Int("limit", 200, "history: at most this many of the newest changes; query: at most this many rows")
	request := fs.String("request", "", "host approve: which waiting enrolment, when there are several")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	want := map[string]int{"hosts": 0, "host": 1, "findings": 0, "scan": 1, "history": 1, "farms": 0, "roster": 1, "query": 1, "hunt": 1}[cmd]
	if cmd == "roster" && len(pos) == 1 && pos[0] != "show" {
		return usageError{fmt.Sprintf("roster %s: the one roster command is roster show", pos[0])}
	}
	if cmd == "host" && len(pos) > 0 && (pos[0] == "approve" || pos[0] == "reset") {
		want = 2
	}
	if len(pos) != want {
		return usageError{fmt.Sprintf("%s: want %d argument(s), got %d", cmd, want, len(pos))}
	}
	if cf.format == "ocsf" && cmd != "findings" {
		return usageError{fmt.Sprintf("%s: --format ocsf is for findings; want table or json", cmd)}
	}
	cc, ctx, err := cf.dial(ctx)
	if err != nil {
		return err
	}
	defer cc.Close()
	fleet := fwv1.NewFleetServiceClient(cc)
	switch cmd {
	case "hosts":
		r, err := fleet.ListHosts(ctx, &fwv1.ListHostsRequest{})
		if err != nil {
			return rpcError("hosts", err)
		}
		return printHosts(stdout, cf.format, r.Hosts)
	case "host":
		if len(pos) == 2 {
			return hostAdmin(ctx, fleet, stdout, cf.format, pos[0], pos[1], *request)
		}
		r, err := fleet.GetHost(ctx, &fwv1.GetHostRequest{Hostname: pos[0]})
		if err != nil {
			return rpcError("host "+pos[0], err)
		}
		rep := r.State
		rep.Verdict = report.Verdict(rep)
		if cf.format == "json" {
			b, err := report.JSON(rep)
			if err != nil {
				return err
			}
			_, err = stdout.Write(b)
			return err
		}
		if err := printHosts(stdout, "table", []*fwv1.HostSummary{r.Host}); err != nil {
			return err
		}
		rv := r.Host.RulesVersion
		if rv == "" {
			rv = "built-in only"
		}
		fmt.Fprintf(stdout, "host id %s, agent %s, rules %s\n", report.Clean(r.Host.HostId), report.Clean(firstOf(r.Host.AgentVersion, "unknown")), report.Clean(rv))
		if e := r.Host.RulesError; e != "" {
			fmt.Fprintf(stdout, "the agent refused the collector's rules: %s\n", report.Clean(e))
		}
		if p := r.Host.Person; p != nil {
			fmt.Fprintf(stdout, "person: %s\n", report.Clean(personLine(p)))
		} else {
			fmt.Fprintln(stdout, "person: not on the roster")
		}
		for i, e := range r.Host.EgressHistory {
			if i == 0 {
				fmt.Fprintln(stdout, "egress IPs (newest first):")
			}
			if i == 10 {
				fmt.Fprintf(stdout, "  ... and %d more\n", len(r.Host.EgressHistory)-10)
				break
			}
			fmt.Fprintf(stdout, "  %s  first %s, last %s\n", report.Clean(e.Ip), when(e.FirstSeen), when(e.LastSeen))
		}
		if n := r.Host.Refused; n > 0 {
			fmt.Fprintf(stdout, "messages refused by the collector: %d (the agent dropped them and sent a full state)\n", n)
		}
		for _, p := range r.Host.Pending {
			fmt.Fprintf(stdout, "enrolment waiting for approval: request %s as %q from %s at %s\n",
				report.Clean(p.RequestId), report.Clean(p.Hostname), report.Clean(p.Peer), when(p.Requested))
		}
		fmt.Fprintln(stdout)
		return report.Table(stdout, rep, report.TableOptions{})
	case "findings":
		req := &fwv1.ListFindingsRequest{Hostname: *host, All: *all}
		if *minSev != "" {
			sev, err := report.ParseSeverity(*minSev)
			if err != nil {
				return usageError{"findings: --severity: " + err.Error()}
			}
			req.MinSeverity = sev
		}
		r, err := fleet.ListFindings(ctx, req)
		if err != nil {
			return rpcError("findings", err)
		}
		if cf.format == "ocsf" {
			return printOCSF(stdout, r.Findings, time.Now())
		}
		return printFindings(stdout, cf.format, r.Findings)
	case "history":
		if *limit < 1 || *since < 0 {
			return usageError{"history: --limit must be at least 1 and --since positive"}
		}
		req := &fwv1.ListChangesRequest{Hostname: pos[0], Kind: *kind, Limit: int32(*limit)}
		if *since > 0 {
			req.Since = timestamppb.New(time.Now().Add(-*since))
		}
		r, err := fleet.ListChanges(ctx, req)
		if err != nil {
			return rpcError("history "+pos[0], err)
		}
		return printChanges(stdout, cf.format, r)
	case "farms":
		r, err := fleet.ListClusters(ctx, &fwv1.ListClustersRequest{All: *all})
		if err != nil {
			return rpcError("farms", err)
		}
		return printFarms(stdout, cf.format, r.Clusters)
	case "roster":
		r, err := fleet.GetRoster(ctx, &fwv1.GetRosterRequest{})
		if err != nil {
			return rpcError("roster", err)
		}
		return printRoster(stdout, cf.format, r)
	case "query":
		if *limit < 1 {
			return usageError{"query: --limit must be at least 1"}
		}
		r, err := fleet.QueryObservations(ctx, &fwv1.QueryObservationsRequest{Kind: *kind, Filter: pos[0], Limit: int32(*limit)})
		if err != nil {
			return rpcError("query", err)
		}
		return printQuery(stdout, cf.format, r)
	case "hunt":
		st, err := fleet.Hunt(ctx, &fwv1.HuntFleetRequest{Kind: *kind, Filter: pos[0], TimeoutMs: timeout.Milliseconds()})
		if err != nil {
			return rpcError("hunt", err)
		}
		return printHunt(stdout, cf.format, st)
	case "scan":
		r, err := fleet.ScanHost(ctx, &fwv1.ScanHostRequest{Hostname: pos[0], TimeoutMs: timeout.Milliseconds()})
		if err != nil {
			return rpcError("scan "+pos[0], err)
		}
		if cf.format == "json" {
			b, err := report.JSON(r.Report)
			if err != nil {
				return err
			}
			_, err = stdout.Write(b)
			return err
		}
		return report.Table(stdout, r.Report, report.TableOptions{})
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func when(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

func printHosts(w io.Writer, format string, hs []*fwv1.HostSummary) error {
	if format == "json" {
		out := []map[string]any{}
		for _, h := range hs {
			worst := "none"
			if h.Worst > 0 {
				worst = report.SeverityName(h.Worst)
			}
			out = append(out, map[string]any{
				"host_id": h.HostId, "hostname": h.Hostname, "os": h.Os, "last_seen": when(h.LastSeen),
				"online": h.Online, "findings": h.Findings, "worst": worst, "egress_ip": h.EgressIp, "spool_dropped": h.SpoolDropped,
				"agent_version": h.AgentVersion, "rules_version": h.RulesVersion, "rules_error": h.RulesError,
				"refused": h.Refused, "person": personJSON(h.Person), "egress_country": h.EgressCountry,
			})
		}
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOSTNAME\tOS\tONLINE\tFINDINGS\tWORST\tEGRESS IP\tLAST SEEN\tRULES")
	for _, h := range hs {
		worst := "-"
		if h.Worst > 0 {
			worst = report.SeverityName(h.Worst)
		}
		online := "no"
		if h.Online {
			online = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", report.Clean(h.Hostname), report.Clean(h.Os), online, h.Findings, worst, report.Clean(h.EgressIp), when(h.LastSeen), report.Clean(rulesWord(h)))
	}
	return tw.Flush()
}

// printOCSF prints findings as the OCSF Detection Findings the webhooks
// send: an open one as created, a resolved one as closed.
func printOCSF(w io.Writer, fs []*fwv1.FleetFinding, now time.Time) error {
	out := []output.OCSF{}
	for _, f := range fs {
		e := output.Event{Kind: output.Opened, At: now, HostID: f.HostId, Hostname: f.Hostname, FindingID: store.FindingID(f.Finding),
			Finding: f.Finding, FirstSeen: f.FirstSeen.AsTime(), LastSeen: f.LastSeen.AsTime()}
		if f.State == string(store.Resolved) {
			e.Kind = output.Resolved
		}
		out = append(out, output.ToOCSF(e, version))
	}
	return writeJSON(w, out)
}

func printFindings(w io.Writer, format string, fs []*fwv1.FleetFinding) error {
	if format == "json" {
		out := []map[string]any{}
		for _, f := range fs {
			ev := f.Finding.GetEvidence()
			if ev == nil {
				ev = []string{}
			}
			out = append(out, map[string]any{
				"hostname": f.Hostname, "host_id": f.HostId, "rule": f.Finding.GetRule(), "severity": report.SeverityName(f.Finding.GetSeverity()),
				"title": f.Finding.GetTitle(), "label": f.Finding.GetLabel(), "state": f.State,
				"first_seen": when(f.FirstSeen), "last_seen": when(f.LastSeen), "evidence": ev, "suppressed_by": f.Finding.GetSuppressedBy(),
			})
		}
		return writeJSON(w, out)
	}
	// One line per host, rule and label, with how many findings (one per
	// process, service or device) it stands for; the evidence is in
	// `host NAME` and --format json.
	type line struct {
		sev, host, rule, what, state, first string
		n                                   int
	}
	var lines []*line
	idx := map[string]*line{}
	for _, f := range fs {
		what := f.Finding.GetTitle()
		if l := f.Finding.GetLabel(); l != "" {
			what += ": " + l
		}
		state := f.State
		if sb := f.Finding.GetSuppressedBy(); sb != "" {
			state += ", sanctioned by " + sb
		}
		l := &line{sev: strings.ToUpper(report.SeverityName(f.Finding.GetSeverity())), host: f.Hostname, rule: f.Finding.GetRule(),
			what: what, state: state, first: when(f.FirstSeen), n: 1}
		k := strings.Join([]string{l.sev, f.HostId, l.rule, l.what, l.state}, "\x00")
		if prev := idx[k]; prev != nil {
			prev.n++
			if l.first < prev.first {
				prev.first = l.first
			}
			continue
		}
		idx[k] = l
		lines = append(lines, l)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tHOSTNAME\tRULE\tWHAT\tSTATE\tFIRST SEEN")
	for _, l := range lines {
		if l.n > 1 {
			l.what += fmt.Sprintf(" (%d)", l.n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", l.sev, report.Clean(l.host), report.Clean(l.rule), report.Clean(l.what), report.Clean(l.state), l.first)
	}
	return tw.Flush()
}

var opWords = map[fwv1.ObservationChange_Op]string{
	fwv1.ObservationChange_OP_ADDED: "added", fwv1.ObservationChange_OP_CHANGED: "changed", fwv1.ObservationChange_OP_REMOVED: "removed",
}

func printChanges(w io.Writer, format string, r *fwv1.ListChangesResponse) error {
	if format == "json" {
		out := []map[string]any{}
		for _, c := range r.Changes {
			obs, err := protoJSON(c.Observation)
			if err != nil {
				return err
			}
			out = append(out, map[string]any{
				"hostname": r.Hostname, "seq": c.Seq, "at": when(c.At), "op": opWords[c.Op], "kind": c.Kind, "key": c.Key,
				"what": report.Describe(c.Observation, c.Key), "observation": obs,
			})
		}
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tCHANGE\tKIND\tWHAT")
	for _, c := range r.Changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", when(c.At), opWords[c.Op], report.Clean(c.Kind), report.Clean(report.Describe(c.Observation, c.Key)))
	}
	return tw.Flush()
}

// protoJSON is a message as JSON, for embedding in a JSON document.
func protoJSON(m proto.Message) (json.RawMessage, error) {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(b), nil
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// rulesWord says which rules a host's agent uses, short: the first digits
// of its bundle, "built-in" without one, and "REFUSED" when it could not
// load the last bundle it was sent (host NAME says why).
func rulesWord(h *fwv1.HostSummary) string {
	v := strings.TrimPrefix(h.RulesVersion, "sha256:")
	if len(v) > 12 {
		v = v[:12]
	}
	if v == "" {
		v = "built-in"
	}
	if h.RulesError != "" {
		v += " (REFUSED the newest)"
	}
	return v
}

// hostAdmin is host approve NAME and host reset NAME.
func hostAdmin(ctx context.Context, fleet fwv1.FleetServiceClient, stdout io.Writer, format, op, name, request string) error {
	switch op {
	case "approve":
		r, err := fleet.ApproveHost(ctx, &fwv1.ApproveHostRequest{Hostname: name, RequestId: request})
		if err != nil {
			return rpcError("host approve "+name, err)
		}
		if format == "json" {
			return writeJSON(stdout, map[string]any{"host_id": r.HostId, "request_id": r.Approved.GetRequestId(), "peer": r.Approved.GetPeer()})
		}
		fmt.Fprintf(stdout, "approved: host %s may enrol again with request %s (from %s); its agent does at its next try\n",
			report.Clean(r.HostId), report.Clean(r.Approved.GetRequestId()), report.Clean(r.Approved.GetPeer()))
	case "reset":
		r, err := fleet.ResetHost(ctx, &fwv1.ResetHostRequest{Hostname: name})
		if err != nil {
			return rpcError("host reset "+name, err)
		}
		if format == "json" {
			return writeJSON(stdout, map[string]any{"host_id": r.HostId})
		}
		fmt.Fprintf(stdout, "reset: host %s has no node key now; the next enrolment under its id is taken as the host's\n", report.Clean(r.HostId))
	}
	return nil
}
