// Package agentconn is how an agent's connection to the collector is made:
// the agent and fleetsim, which acts as thousands of agents, dial alike.
package agentconn

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// DialOptions are how an agent's connection to the collector is made,
// with these credentials.
//
// The agent writes at most 4 KiB at a time, so that its TLS records are
// small: the collector's TLS keeps, for every connection it holds, a
// buffer as large as the largest record that came in on it, which with
// gRPC's 32 KiB writes (16 KiB records) was ~29 KiB a connection, 290 MB
// at 10,000 agents. A full state of a few hundred processes takes a few
// more writes; a delta fits in one. The agent reads the collector's small
// messages straight from TLS, and its write buffer is pooled between
// flushes: an idle agent holds neither.
func DialOptions(creds credentials.TransportCredentials) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithWriteBufferSize(4 << 10),
		grpc.WithSharedWriteBuffer(true),
		grpc.WithReadBufferSize(0),
	}
}
