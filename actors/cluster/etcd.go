package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// etcdProvider is membership through etcd: one key per member under
// /actorrtmfp/<cluster>/, attached to a lease of the configured TTL that the member keeps
// alive; a watch of the prefix tells every member who joined and who left. Written for
// this project instead of protoactor's etcd provider, which at the pinned version lets
// cluster "a" see the members of cluster "ab" (its prefix has no trailing slash), has a
// fixed 3 s lease, races on its shutdown flag, and re-registers a member whose lease
// expired — a member the others have dropped for good (docs/cluster.md).
//
// One goroutine owns the member map and publishes the topology; the watch starts at the
// revision of the initial read (nothing is missed between them) and is started again
// from a fresh read after an error (compaction); Shutdown revokes the lease, so the key
// goes at once; losing the lease (not etcd: see keepAlive) calls lost.
type etcdProvider struct {
	client *clientv3.Client
	ttl    time.Duration
	log    *zap.Logger
	lost   func(reason string)

	cancel   context.CancelFunc
	lease    clientv3.LeaseID
	done     chan struct{}
	stopOnce sync.Once
}

type etcdMember struct {
	ID   string `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

const etcdTimeout = 10 * time.Second

func newEtcdProvider(cfg Config, log *zap.Logger, lost func(string)) (*etcdProvider, error) {
	elog := log.Named("etcd").WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
	// gRPC's reconnection backoff grows to minutes: after an etcd restart the client would
	// come back later than the leases, which etcd extends by only their TTL and an election
	// timeout when it starts. Reconnecting every half second at most keeps them.
	reconnect := grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 2 * time.Second,
		Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond}})
	c, err := clientv3.New(clientv3.Config{Endpoints: cfg.Etcd, DialTimeout: 5 * time.Second, Logger: elog,
		DialOptions: []grpc.DialOption{reconnect}})
	if err != nil {
		return nil, err
	}
	return &etcdProvider{client: c, ttl: cfg.TTL, log: log, lost: lost}, nil
}

func etcdPrefix(name string) string { return "/actorrtmfp/" + name + "/" }

func (p *etcdProvider) StartMember(c *cluster.Cluster) error {
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return err
	}
	prefix := etcdPrefix(c.Config.Name)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	fail := func(err error) error {
		cancel()
		_ = p.client.Close()
		return err
	}
	octx, ocancel := context.WithTimeout(ctx, etcdTimeout)
	defer ocancel()
	ttl := int64((p.ttl + time.Second - 1) / time.Second)
	g, err := p.client.Grant(octx, max(ttl, 1))
	if err != nil {
		return fail(err)
	}
	p.lease = g.ID
	self, _ := json.Marshal(etcdMember{ID: c.ActorSystem.ID, Host: host, Port: int32(port)})
	if _, err := p.client.Put(octx, prefix+c.ActorSystem.ID, string(self), clientv3.WithLease(g.ID)); err != nil {
		return fail(err)
	}
	ka, err := p.client.KeepAlive(ctx, g.ID)
	if err != nil {
		return fail(err)
	}
	go p.keepAlive(ctx, ka)
	members, rev, err := p.read(octx, prefix)
	if err != nil {
		return fail(err)
	}
	c.MemberList.UpdateClusterTopology(list(members))
	go p.watch(ctx, c, prefix, members, rev)
	return nil
}

// keepAlive follows the lease's keep-alive channel. The client closes it when etcd has not
// answered for a TTL — etcd down, or this node cut off or paused — or when the lease is
// gone. Only the latter means the others have dropped this node: while etcd cannot be
// reached the lease is kept alive again as soon as it can (an etcd that restarts keeps its
// leases), and a lease that expired meanwhile is lost.
func (p *etcdProvider) keepAlive(ctx context.Context, ka <-chan *clientv3.LeaseKeepAliveResponse) {
	for {
		for range ka {
		}
		warned := false
		for {
			if ctx.Err() != nil {
				return // Shutdown
			}
			rctx, cancel := context.WithTimeout(ctx, etcdTimeout)
			ttl, err := p.client.TimeToLive(rctx, p.lease)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, rpctypes.ErrLeaseNotFound) || err == nil && ttl.TTL <= 0 {
				if p.lost != nil {
					p.lost("the etcd lease expired: the other members have dropped this one")
				}
				return
			}
			if err == nil {
				if ka, err = p.client.KeepAlive(ctx, p.lease); err == nil {
					if warned {
						p.log.Info("etcd reachable again; this node is still a member")
					}
					break
				}
			}
			if !warned {
				warned = true
				p.log.Warn("etcd unreachable; the membership stays as it was until it is back", zap.Error(err))
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// read returns the members under prefix and the revision of the read.
func (p *etcdProvider) read(ctx context.Context, prefix string) (map[string]*cluster.Member, int64, error) {
	resp, err := p.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	members := map[string]*cluster.Member{}
	for _, kv := range resp.Kvs {
		if m := decodeMember(kv.Value); m != nil {
			members[string(kv.Key)] = m
		}
	}
	return members, resp.Header.Revision, nil
}

// watch follows the changes under prefix from revision rev and publishes each new
// topology, until ctx ends.
func (p *etcdProvider) watch(ctx context.Context, c *cluster.Cluster, prefix string, members map[string]*cluster.Member, rev int64) {
	defer close(p.done)
	for ctx.Err() == nil {
		wch := p.client.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for wr := range wch {
			if err := wr.Err(); err != nil {
				p.log.Warn("etcd watch failed; reading the members again", zap.Error(err))
				break
			}
			for _, ev := range wr.Events {
				switch ev.Type {
				case clientv3.EventTypePut:
					if m := decodeMember(ev.Kv.Value); m != nil {
						members[string(ev.Kv.Key)] = m
					}
				case clientv3.EventTypeDelete:
					delete(members, string(ev.Kv.Key))
				}
			}
			rev = wr.Header.Revision
			c.MemberList.UpdateClusterTopology(list(members))
		}
		// The watch ended: an error, or etcd unreachable. Read afresh and watch from there.
		for ctx.Err() == nil {
			rctx, cancel := context.WithTimeout(ctx, etcdTimeout)
			fresh, r, err := p.read(rctx, prefix)
			cancel()
			if err == nil {
				members, rev = fresh, r
				c.MemberList.UpdateClusterTopology(list(members))
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func decodeMember(b []byte) *cluster.Member {
	var v etcdMember
	if json.Unmarshal(b, &v) != nil || v.ID == "" || strings.ContainsAny(v.ID, "/") || v.Host == "" || v.Port <= 0 {
		return nil
	}
	return &cluster.Member{Id: v.ID, Host: v.Host, Port: v.Port, Kinds: []string{}}
}

func list(members map[string]*cluster.Member) []*cluster.Member {
	out := make([]*cluster.Member, 0, len(members))
	for _, m := range members {
		out = append(out, m)
	}
	return out
}

func (p *etcdProvider) StartClient(*cluster.Cluster) error {
	return errors.New("cluster: the etcd provider serves members only")
}

// Shutdown revokes the lease (the others see this member leave at once) and stops.
func (p *etcdProvider) Shutdown(bool) error {
	var err error
	p.stopOnce.Do(func() {
		if p.cancel == nil {
			_ = p.client.Close()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = p.client.Revoke(ctx, p.lease)
		p.cancel()
		<-p.done
		_ = p.client.Close()
	})
	return err
}
