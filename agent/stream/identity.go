package stream

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/farmwatch/farmwatch/agent/statefile"
	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The identity files of the state directory. A damaged one is set aside
// as NAME.bad and the agent recovers: a new host id, or an enrolment that
// waits for an admin's approval.
const (
	hostIDFile  = "host-id"        // the host's id, a UUID chosen at first enrolment
	nodeKeyFile = "node.key"       // the node key the collector gave at enrolment
	requestFile = "enroll-request" // the id of an enrolment waiting for approval
)

// errPending is an enrolment the collector keeps waiting for an admin.
var errPending = errors.New("enrolment waits for an admin's approval")

// readLine reads a one-line state file; a damaged one is set aside and
// reported through s.c.Log, and reads as "".
func (s *Stream) readLine(name string, valid func(string) error) string {
	var v string
	_, bad, err := statefile.Read(filepath.Join(s.c.StateDir, name), func(b []byte) error {
		line := strings.TrimSpace(string(b))
		if line == "" || len(line) > 256 || strings.ContainsAny(line, "\r\n") {
			return fmt.Errorf("not one short line")
		}
		if err := valid(line); err != nil {
			return err
		}
		v = line
		return nil
	})
	if bad {
		s.c.Log.Error().Err(err).Msg("state file damaged: set aside, the agent recovers")
	}
	return v
}

func anyLine(string) error { return nil }

func isUUID(v string) error {
	_, err := uuid.Parse(v)
	return err
}

// identity returns the host id and node key, enrolling first when the
// state directory has no key, or when the collector refused it (reenrol).
// Enrolling again under the host's id presents the key the agent holds;
// when the collector keeps the request waiting for an admin, identity
// fails with errPending and the same request is made again next time.
func (s *Stream) identity(ctx context.Context, cc *grpc.ClientConn, hi *fwv1.HostInfo) (string, string, error) {
	hostID := s.readLine(hostIDFile, isUUID)
	key := s.readLine(nodeKeyFile, anyLine)
	if hostID != "" && key != "" && !s.reenrol {
		return hostID, key, nil
	}
	again := hostID != "" // this host id may be enrolled already
	if hostID == "" {
		hostID = uuid.NewString()
		if err := statefile.Write(filepath.Join(s.c.StateDir, hostIDFile), []byte(hostID+"\n")); err != nil {
			return "", "", err
		}
		key = "" // a key of another host id proves nothing
	}
	req := &fwv1.EnrollRequest{Host: hi, HostId: hostID, NodeKey: key}
	if again {
		// Enrolling again: name the request, so that an admin can approve
		// this one and no other; the id is kept until it succeeds.
		req.RequestId = s.readLine(requestFile, isUUID)
		if req.RequestId == "" {
			req.RequestId = uuid.NewString()
			if err := statefile.Write(filepath.Join(s.c.StateDir, requestFile), []byte(req.RequestId+"\n")); err != nil {
				return "", "", err
			}
		}
	}
	ectx := metadata.AppendToOutgoingContext(ctx, credential.MDAuthorization, credential.Enroll(s.c.EnrollSecret))
	r, err := fwv1.NewAgentServiceClient(cc).Enroll(ectx, req)
	if status.Code(err) == codes.FailedPrecondition {
		if !s.pendingLogged {
			s.c.Log.Error().Str("host_id", hostID).Str("request_id", req.RequestId).Str("collector_says", status.Convert(err).Message()).
				Msg("the collector keeps this agent's enrolment waiting for an admin: farmwatch-collector host approve " + hostID)
			s.pendingLogged = true
		}
		return "", "", fmt.Errorf("enroll as %s: %w", hostID, errPending)
	}
	if err != nil {
		return "", "", fmt.Errorf("enroll: %w", err)
	}
	if r.GetHostId() != hostID || r.GetNodeKey() == "" {
		return "", "", fmt.Errorf("enroll: the collector answered for host %q without a key", r.GetHostId())
	}
	if err := statefile.Write(filepath.Join(s.c.StateDir, nodeKeyFile), []byte(r.NodeKey+"\n")); err != nil {
		return "", "", err
	}
	statefile.Remove(filepath.Join(s.c.StateDir, requestFile))
	s.reenrol, s.pendingLogged = false, false
	s.c.Log.Info().Str("host_id", r.HostId).Msg("enrolled")
	return r.HostId, r.NodeKey, nil
}
