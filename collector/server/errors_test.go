package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestToStatus(t *testing.T) {
	secret := errors.New("disk I/O error at /var/lib/farmwatch/farmwatch.db")
	cases := []struct {
		name   string
		err    error
		code   codes.Code
		msg    string // the message contains it
		notMsg string // the message must not contain it
		logged bool
	}{
		{"refusal", notFound("no host %q", "x"), codes.NotFound, `no host "x"`, "", false},
		{"wrapped refusal", fmt.Errorf("lookup: %w", denied("no")), codes.PermissionDenied, "no", "", false},
		{"failure", internal("hosts", secret), codes.Internal, "hosts: the collector failed", "disk I/O", true},
		{"bare error", secret, codes.Internal, "the collector failed", "/var/lib", true},
		{"cancelled", fmt.Errorf("apply: %w", context.Canceled), codes.Canceled, "", "", false},
		{"expired", context.DeadlineExceeded, codes.DeadlineExceeded, "", "", false},
		{"a status already", status.Error(codes.ResourceExhausted, "too big"), codes.ResourceExhausted, "too big", "", false},
	}
	for _, c := range cases {
		var logs bytes.Buffer
		got := toStatus(zerolog.New(&logs), "/farmwatch.v1.FleetService/ListHosts", c.err)
		st, _ := status.FromError(got)
		if st.Code() != c.code || !strings.Contains(st.Message(), c.msg) || (c.notMsg != "" && strings.Contains(st.Message(), c.notMsg)) {
			t.Errorf("%s: %v", c.name, got)
		}
		if logged := strings.Contains(logs.String(), "internal error"); logged != c.logged {
			t.Errorf("%s: logged %v, want %v: %s", c.name, logged, c.logged, logs.String())
		}
		if c.logged && (!strings.Contains(logs.String(), "disk I/O") || !strings.Contains(logs.String(), "ListHosts")) {
			t.Errorf("%s: the log lacks the cause or the method: %s", c.name, logs.String())
		}
	}
	if toStatus(zerolog.Nop(), "m", nil) != nil {
		t.Error("nil became an error")
	}
}
