package stream

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/farmwatch/farmwatch/agent/statefile"
	"github.com/farmwatch/farmwatch/credential"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// The identity files of the state directory.
const (
	hostIDFile  = "host-id"  // the host's id, a UUID chosen at first enrolment
	nodeKeyFile = "node.key" // the node key the collector gave at enrolment
)

// identity returns the host id and node key, enrolling first when the
// state directory has none.
func (s *Stream) identity(ctx context.Context, cc *grpc.ClientConn, hi *fwv1.HostInfo) (string, string, error) {
	idFile, keyFile := filepath.Join(s.c.StateDir, hostIDFile), filepath.Join(s.c.StateDir, nodeKeyFile)
	id, _ := os.ReadFile(idFile)
	key, _ := os.ReadFile(keyFile)
	if len(id) > 0 && len(key) > 0 {
		return strings.TrimSpace(string(id)), strings.TrimSpace(string(key)), nil
	}
	hostID := strings.TrimSpace(string(id))
	if hostID == "" {
		hostID = uuid.NewString()
		if err := statefile.Write(idFile, []byte(hostID+"\n")); err != nil {
			return "", "", err
		}
	}
	ectx := metadata.AppendToOutgoingContext(ctx, credential.MDAuthorization, credential.Enroll(s.c.EnrollSecret))
	r, err := fwv1.NewAgentServiceClient(cc).Enroll(ectx, &fwv1.EnrollRequest{Host: hi, HostId: hostID})
	if err != nil {
		return "", "", fmt.Errorf("enroll: %w", err)
	}
	if err := statefile.Write(keyFile, []byte(r.NodeKey+"\n")); err != nil {
		return "", "", err
	}
	s.c.Log.Info().Str("host_id", r.HostId).Msg("enrolled")
	return r.HostId, r.NodeKey, nil
}
