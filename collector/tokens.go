package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/collector/store/sqlite"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
)

// cmdToken is `token create|list|revoke`, over the FleetService (admin
// only), or `token create --data DIR`, offline.
func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"token: want create, list or revoke"}
	}
	sub := args[0]
	fs := newFlags("token " + sub)
	var cf clientFlags
	cf.register(fs)
	role := fs.String("role", "", "create: viewer, helpdesk or admin")
	ttl := fs.String("ttl", "", "create: how long the token is valid (e.g. 720h or 90d; default: no expiry)")
	name := fs.String("name", "", "create: whose token it is, or what for")
	all := fs.Bool("all", false, "list: expired and revoked tokens too")
	data := fs.String("data", "", "create: make the token in this install's store directly, without a collector (for whoever can read the data directory)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	want := map[string]int{"create": 0, "list": 0, "revoke": 1}
	n, ok := want[sub]
	if !ok {
		return usageError{fmt.Sprintf("token: unknown subcommand %q: want create, list or revoke", sub)}
	}
	if len(pos) != n {
		return usageError{fmt.Sprintf("token %s: want %d argument(s), got %d", sub, n, len(pos))}
	}
	var life time.Duration
	if sub == "create" {
		if *role == "" {
			return usageError{"token create: --role viewer|helpdesk|admin is required"}
		}
		if life, err = parseTTL(*ttl); err != nil {
			return usageError{"token create: " + err.Error()}
		}
		if *data != "" {
			if cf.format != "table" && cf.format != "json" {
				return usageError{fmt.Sprintf("--format %q: want table or json", cf.format)}
			}
			return createOffline(ctx, *data, *role, *name, life, cf.format, stdout, stderr)
		}
	} else if *data != "" {
		return usageError{fmt.Sprintf("token %s: --data is for token create only", sub)}
	}
	cc, ctx, err := cf.dial(ctx)
	if err != nil {
		return err
	}
	defer cc.Close()
	fleet := fwv1.NewFleetServiceClient(cc)
	switch sub {
	case "create":
		r, err := fleet.CreateToken(ctx, &fwv1.CreateTokenRequest{Role: *role, Name: *name, TtlSeconds: int64(life / time.Second)})
		if err != nil {
			return rpcError("token create", err)
		}
		return printNewToken(stdout, stderr, cf.format, r.Token, r.Info)
	case "list":
		r, err := fleet.ListTokens(ctx, &fwv1.ListTokensRequest{All: *all})
		if err != nil {
			return rpcError("token list", err)
		}
		return printTokens(stdout, cf.format, r.Tokens, time.Now())
	default: // revoke
		r, err := fleet.RevokeToken(ctx, &fwv1.RevokeTokenRequest{Id: pos[0]})
		if err != nil {
			return rpcError("token revoke "+pos[0], err)
		}
		if cf.format == "json" {
			return writeJSON(stdout, tokenJSON(r.Token, time.Now()))
		}
		fmt.Fprintf(stdout, "revoked %s (%s%s)\n", r.Token.Id, r.Token.Role, nameWord(r.Token.Name))
		return nil
	}
}

// createOffline makes a token in the store of the install in data: the
// way back in when every admin token is lost. It needs no collector (one
// that is serving goes on: SQLite in WAL mode takes this one more writer,
// which waits its turn), only the right to read and write the data
// directory, which is the collector's own.
func createOffline(ctx context.Context, data, role, name string, ttl time.Duration, format string, stdout, stderr io.Writer) error {
	secret, t, err := server.NewToken(role, name, ttl, time.Now())
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	st, err := sqlite.OpenExisting(ctx, filepath.Join(data, dbFile))
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	defer st.Close()
	if err := st.PutToken(ctx, t); err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	return printNewToken(stdout, stderr, format, secret, server.TokenInfo(t))
}

// parseTTL reads a token's lifetime: a Go duration (720h) or whole days
// (90d); "" is none.
func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, perr := strconv.Atoi(days)
		d, err = time.Duration(n)*24*time.Hour, perr
		if perr == nil && n > 1<<16 {
			err = fmt.Errorf("too many days")
		}
	}
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("--ttl %q: want a duration of at least 1s, such as 720h or 90d", s)
	}
	return d, nil
}

func nameWord(name string) string {
	if name == "" {
		return ""
	}
	return ", " + strconv.Quote(printable(name))
}

// printNewToken prints a new token: in a table, the secret alone on
// stdout (for $(...)) and what it is on stderr.
func printNewToken(stdout, stderr io.Writer, format, secret string, info *fwv1.TokenInfo) error {
	if format == "json" {
		out := map[string]string{"token": secret, "role": info.Role, "id": info.Id, "name": info.Name,
			"created": when(info.Created), "expires": when(info.Expires)}
		return writeJSON(stdout, out)
	}
	fmt.Fprintln(stdout, secret)
	exp := "never expires"
	if info.Expires != nil {
		exp = "expires " + when(info.Expires)
	}
	fmt.Fprintf(stderr, "token %s (%s%s), %s; it is shown only this once\n", info.Id, info.Role, nameWord(info.Name), exp)
	return nil
}

// tokenState is valid, expired or revoked.
func tokenState(t *fwv1.TokenInfo, now time.Time) string {
	switch {
	case t.Revoked != nil:
		return "revoked"
	case t.Expires != nil && !now.Before(t.Expires.AsTime()):
		return "expired"
	}
	return "valid"
}

func tokenJSON(t *fwv1.TokenInfo, now time.Time) map[string]string {
	return map[string]string{"id": t.Id, "name": t.Name, "role": t.Role, "state": tokenState(t, now),
		"created": when(t.Created), "expires": when(t.Expires), "revoked": when(t.Revoked), "last_used": when(t.LastUsed)}
}

func printTokens(w io.Writer, format string, ts []*fwv1.TokenInfo, now time.Time) error {
	if format == "json" {
		out := []map[string]string{}
		for _, t := range ts {
			out = append(out, tokenJSON(t, now))
		}
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tSTATE\tCREATED\tEXPIRES\tLAST USED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Id, firstOf(printable(t.Name), "-"), t.Role, tokenState(t, now),
			when(t.Created), firstOf(when(t.Expires), "never"), firstOf(when(t.LastUsed), "never"))
	}
	return tw.Flush()
}

// printable is s without control characters, which a collector never
// stores in a name but a table must not pass to a terminal either way.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}
