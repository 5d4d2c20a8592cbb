package cluster

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// Membership is a node's place in a cluster: its remote listener and its membership
// provider. Start starts remote, which must come before any actor whose PID other nodes
// use is spawned (a PID made before keeps the address "nonhost" for ever); Join then
// starts the provider, whose topology events go to the node's cluster actor.
//
// Only what protoactor's cluster needs for membership is started ("lite" start): remote,
// the member list and the provider. cluster.StartMember would also start the identity
// lookup, gossip and pub-sub, which race at the pinned version, and sleep a second.
type Membership struct {
	cfg      Config
	sys      *actor.ActorSystem
	log      *zap.Logger
	stats    *Stats
	guard    *guard
	cluster  *cluster.Cluster
	provider cluster.ClusterProvider
	sub      *eventstream.Subscription
	stopOnce sync.Once
}

// Remote settings changed from protoactor's defaults (docs/cluster.md says why): the
// writer's queue preallocates its size (1,000,000 entries, 16 MB per peer); a batch of
// 1000 messages can exceed gRPC's message size limit, which loses the whole batch; the
// writer sleeps 2 s between connection attempts, holding queued messages that long each.
const (
	writerQueue   = 4096
	writerBatch   = 64
	maxMessage    = 64 << 20
	connectTries  = 2
	keepaliveTime = 2 * time.Second
)

// Start starts the node's remote listener on cfg.Bind with the gRPC guard (and mutual TLS
// if configured). The node's member ID is the actor system's ID.
func Start(sys *actor.ActorSystem, cfg Config, stats *Stats) (m *Membership, err error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	host, portS, err := net.SplitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("cluster bind address: %w", err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return nil, fmt.Errorf("cluster bind address: bad port %q", portS)
	}
	m = &Membership{cfg: cfg, sys: sys, log: cfg.Log, stats: stats}
	m.guard = newGuard(cfg.Name, stats, cfg.Log)
	serverOpts := []grpc.ServerOption{
		grpc.ChainStreamInterceptor(m.guard.serverStream), grpc.ChainUnaryInterceptor(m.guard.unary),
		grpc.MaxRecvMsgSize(maxMessage),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveTime / 4, PermitWithoutStream: true}),
	}
	dialOpts := []grpc.DialOption{
		grpc.WithChainStreamInterceptor(m.guard.clientStream),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTime, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage)),
	}
	if cfg.TLS.Enabled() {
		srv, cli, err := cfg.TLS.load()
		if err != nil {
			return nil, err
		}
		serverOpts = append(serverOpts, grpc.Creds(countingCreds{TransportCredentials: credentials.NewTLS(srv), g: m.guard}))
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(credentials.NewTLS(cli)))
	} else {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	opts := []remote.ConfigOption{
		remote.WithServerOptions(serverOpts...), remote.WithDialOptions(dialOpts...),
		remote.WithEndpointWriterQueueSize(writerQueue), remote.WithEndpointWriterBatchSize(writerBatch),
	}
	if cfg.Advertise != "" {
		opts = append(opts, remote.WithAdvertisedHost(cfg.Advertise)) // a whole host:port, despite its name
	}
	rcfg := remote.Configure(host, port, opts...)
	rcfg.MaxRetryCount = connectTries
	m.cluster = cluster.New(sys, cluster.Configure(cfg.Name, nil, disthash.New(), rcfg))
	m.cluster.Remote = remote.NewRemote(sys, rcfg)
	if err := startRemote(m.cluster.Remote); err != nil {
		return nil, fmt.Errorf("cluster listener on %s: %w", cfg.Bind, err)
	}
	self := sys.Address()
	m.guard.self.Store(&self)
	return m, nil
}

// startRemote starts remote, which panics when it cannot listen.
func startRemote(r *remote.Remote) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	r.Start()
	return nil
}

// ID returns this node's member ID.
func (m *Membership) ID() string { return m.sys.ID }

// Address returns the address other members reach this node at.
func (m *Membership) Address() string { return m.sys.Address() }

// Join starts the membership provider; its topology events go to node (the cluster
// actor, spawned after Start).
func (m *Membership) Join(node *actor.PID) error {
	// Subscribed before the provider starts: it publishes the first topology inside
	// StartMember. Events come on the provider's goroutine while it holds the member
	// list's lock: forward them and return (a subscriber that calls back into the member
	// list deadlocks; one that blocks stalls membership).
	root := m.sys.Root
	m.sub = m.sys.EventStream.Subscribe(func(ev any) {
		if t, ok := ev.(*cluster.ClusterTopology); ok {
			root.Send(node, t)
		}
	})
	var err error
	switch {
	case len(m.cfg.Etcd) > 0:
		// A gRPC client made after remote.Start: remote replaces gRPC's global logger there,
		// which races with any gRPC activity already running.
		m.provider, err = newEtcdProvider(m.cfg, m.log, m.lost)
	case len(m.cfg.Members) > 0:
		m.provider, err = newStaticProvider(m.cfg, m.sys)
	default:
		err = errors.New("no membership: set the static members or the etcd endpoints")
	}
	if err == nil {
		m.cluster.Config.ClusterProvider = m.provider
		err = m.provider.StartMember(m.cluster)
	}
	if err != nil {
		m.sys.EventStream.Unsubscribe(m.sub)
		m.provider = nil
		return err
	}
	return nil
}

// lost reports that this node is no longer a member.
func (m *Membership) lost(reason string) {
	m.log.Error("this node is no longer a member of the cluster", zap.String("reason", reason))
	if m.cfg.OnLost != nil {
		m.cfg.OnLost(reason)
	}
}

// Stop leaves the cluster: the provider deregisters this node, remote stops.
func (m *Membership) Stop() {
	m.stopOnce.Do(func() {
		if m.provider != nil {
			if err := m.provider.Shutdown(true); err != nil {
				m.log.Warn("cluster membership did not stop cleanly", zap.Error(err))
			}
		}
		if m.sub != nil {
			m.sys.EventStream.Unsubscribe(m.sub)
		}
		// Not graceful: remote's graceful shutdown races at the pinned version, and the
		// node said goodbye (NodeLeaving) before.
		m.cluster.Remote.Shutdown(false)
		m.log.Info("cluster node stopped", m.stats.Fields()...)
	})
}

// Stats returns the counters of the node's cluster layer.
func (m *Membership) Stats() *Stats { return m.stats }
