package cluster

import (
	"net"
	"net/netip"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// Config is a node's membership of a cluster. The server fills it from its own
// configuration (the CLUSTER_ variables); nothing of this package runs without it.
type Config struct {
	// Name is the cluster's name: nodes join only their own cluster.
	Name string
	// Bind is the host:port of this node's cluster (gRPC) listener.
	Bind string
	// Advertise is the host:port the other nodes reach it at ("": Bind).
	Advertise string
	// Members is the static list of the members' cluster addresses (their Advertise),
	// this node's included: protoactor's automanaged provider, each member answering its
	// health checks on the port after its cluster port.
	Members []string
	// Etcd lists etcd endpoints: membership through etcd (etcd.go) instead.
	Etcd []string
	// TTL is how soon a member that stops answering leaves the others' view: the etcd
	// lease's TTL, or how often the static list is polled.
	TTL time.Duration
	// TLS, if enabled, requires mutual TLS between nodes.
	TLS TLSFiles
	// Log receives the cluster's logs.
	Log *zap.Logger
	// OnLost is called once, from any goroutine, when the node finds it is no longer a
	// member (its etcd lease expired: the others have dropped it and its clients'
	// entries); it should exit, to rejoin as a new member when restarted. nil: the node
	// logs it and carries on alone.
	OnLost func(reason string)
}

// HealthAddr returns the address of the health endpoint of the static list's member at
// cluster address addr: the port after it.
func HealthAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65534 {
		return "", &net.AddrError{Err: "the port of a static member must be 1-65534", Addr: addr}
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}

// Unspecified reports whether the host of a host:port is empty or 0.0.0.0 or ::, which
// other nodes cannot dial.
func Unspecified(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}
