package stream

import (
	"crypto/tls"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/farmwatch/farmwatch/internal/agentconn"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// SplitAddrs splits a list of collector addresses, "a:7443,b:7443" (white
// space around each is dropped, empty ones too).
func SplitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// pickFirstShuffled makes a name that resolves to several addresses (one
// DNS name for several collector replicas) spread the agents over them:
// each connection tries them in a random order and takes the first that
// answers.
const pickFirstShuffled = `{"loadBalancingConfig": [{"pick_first": {"shuffleAddressList": true}}]}`

// Failover dials one of several collectors (replicas of one fleet) over
// TLS: a random one first, so that agents spread over them, then, each time
// a session ends and the stream dials again, the next one in the list. A
// replica that dies costs its agents one reconnect: they go to another,
// which applies what they send again at most once. A single address may be
// a DNS name that resolves to several; the connection then tries them in a
// random order.
func Failover(addrs []string, cfg *tls.Config) Dialer {
	var (
		mu    sync.Mutex
		next  = rand.IntN(max(len(addrs), 1))
		creds = credentials.NewTLS(cfg)
	)
	return func() (*grpc.ClientConn, error) {
		mu.Lock()
		addr := addrs[next%len(addrs)]
		next++
		mu.Unlock()
		return grpc.NewClient(addr, append(agentconn.DialOptions(creds), grpc.WithDefaultServiceConfig(pickFirstShuffled))...)
	}
}
