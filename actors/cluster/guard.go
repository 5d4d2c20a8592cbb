package cluster

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// The guard stands between the network and protoactor's remote. At the pinned version
// remote trusts what it reads: an unknown type name, an index out of range or a serializer
// it does not have panics in a gRPC goroutine and kills the process; its unary RPCs panic
// ("implement me"); and any peer may send any actor of the node anything, actor.Stop
// included. So every stream a peer opens must name our cluster in a header, and every
// envelope of every batch is checked before remote sees it: indices in range, a protobuf
// type of our own messages package that decodes, for one of the cluster's actors of this
// node. What fails is dropped and counted, the rest of the batch goes on.

// header carries the cluster name on every stream a node opens to another.
const header = "x-actorrtmfp-cluster"

// accepts lists, for each cluster actor of a node (the only actors other nodes may
// reach), the messages other nodes may send it: what it is sent from its own node (the
// directory's answers, for instance) can never come from outside.
var accepts = func() map[string]map[string]bool {
	m := map[string][]string{
		nodeName:    {"NodeStatus", "NodeLeaving", "NodeLeft"},
		p2pName:     {"PeerChanges", "DirectorySyncRequest", "DirectorySnapshot", "ForwardHello", "RelayTo"},
		streamsName: {"StreamAnnounce", "StreamSyncRequest", "StreamSubscribe", "StreamUnsubscribe", "StreamMediaBatch", "StreamAck", "StreamEnded"},
		groupsName:  {"GroupJoin", "GroupLeave", "GroupNeighbors", "GroupSync"},
	}
	out := map[string]map[string]bool{}
	for target, types := range m {
		out[target] = map[string]bool{}
		for _, t := range types {
			out[target]["actorrtmfp.messages."+t] = true
		}
	}
	return out
}()

// guard implements the gRPC interceptors and keeps their counters.
type guard struct {
	name  string
	stats *Stats
	log   *zap.Logger
	self  atomic.Pointer[string] // this node's remote address, once known

	mu     sync.Mutex
	logged map[string]time.Time // when a refusal of each kind was last logged
}

func newGuard(name string, stats *Stats, log *zap.Logger) *guard {
	return &guard{name: name, stats: stats, log: log, logged: map[string]time.Time{}}
}

// refused logs a refusal of a kind (the caller counted it), at most once a second per
// kind: a hostile or misconfigured peer must not flood the log.
func (g *guard) refused(kind string, fields ...zap.Field) {
	now := time.Now()
	g.mu.Lock()
	last, ok := g.logged[kind]
	if ok && now.Sub(last) < time.Second {
		g.mu.Unlock()
		return
	}
	g.logged[kind] = now
	g.mu.Unlock()
	g.log.Warn("cluster traffic refused (more of this kind within a second are only counted)",
		append(fields, zap.String("kind", kind), zap.Uint64("foreign", g.stats.Foreign.Load()),
			zap.Uint64("malformed", g.stats.Malformed.Load()), zap.Uint64("tls_failed", g.stats.TLSFailed.Load()))...)
}

// clientStream adds the cluster name to every stream this node opens (remote's endpoint
// writer opens one per peer) and counts what it sends.
func (g *guard) clientStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(metadata.AppendToOutgoingContext(ctx, header, g.name), desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &countingClientStream{ClientStream: cs, out: &g.stats.BytesOut}, nil
}

type countingClientStream struct {
	grpc.ClientStream
	out *atomic.Uint64
}

func (s *countingClientStream) SendMsg(m any) error {
	if pm, ok := m.(proto.Message); ok {
		s.out.Add(uint64(proto.Size(pm)))
	}
	return s.ClientStream.SendMsg(m)
}

// unary refuses every unary RPC: remote's ListProcesses and GetProcessDiagnostics panic.
func (g *guard) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	g.stats.Malformed.Add(1)
	g.refused("unary call", zap.String("method", info.FullMethod), peerField(ctx))
	return nil, status.Error(codes.Unimplemented, "not served")
}

// serverStream refuses a stream that does not name our cluster and checks every message
// of the others.
func (g *guard) serverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	md, _ := metadata.FromIncomingContext(ss.Context())
	if v := md.Get(header); len(v) != 1 || v[0] != g.name {
		g.stats.Foreign.Add(1)
		g.refused("not of this cluster", zap.Strings("cluster", v), peerField(ss.Context()))
		return status.Error(codes.PermissionDenied, "not a member of this cluster")
	}
	return handler(srv, &checkedStream{ServerStream: ss, g: g})
}

func peerField(ctx context.Context) zap.Field {
	if p, ok := peerFromContext(ctx); ok {
		return zap.String("peer", p)
	}
	return zap.Skip()
}

type checkedStream struct {
	grpc.ServerStream
	g *guard
}

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	rm, ok := m.(*remote.RemoteMessage)
	if !ok {
		return nil
	}
	s.g.stats.BytesIn.Add(uint64(proto.Size(rm)))
	if b := rm.GetMessageBatch(); b != nil {
		s.g.filter(b, s.ServerStream.Context())
	}
	return nil
}

// filter removes the envelopes remote must not see from a batch.
func (g *guard) filter(b *remote.MessageBatch, ctx context.Context) {
	keep := b.Envelopes[:0]
	for _, e := range b.Envelopes {
		if reason := g.check(b, e); reason != "" {
			g.stats.Malformed.Add(1)
			g.refused("malformed message", zap.String("reason", reason), peerField(ctx))
			continue
		}
		g.stats.Passed.Add(1)
		keep = append(keep, e)
	}
	clear(b.Envelopes[len(keep):])
	b.Envelopes = keep
}

// check returns why an envelope must be dropped, or "".
func (g *guard) check(b *remote.MessageBatch, e *remote.MessageEnvelope) string {
	if e == nil {
		return "empty envelope"
	}
	if e.TypeId < 0 || int(e.TypeId) >= len(b.TypeNames) {
		return "type index out of range"
	}
	if e.Target < 0 || int(e.Target) >= len(b.Targets) || b.Targets[e.Target] == nil {
		return "target index out of range"
	}
	if e.Sender < 0 || int(e.Sender) > len(b.Senders) || e.Sender > 0 && b.Senders[e.Sender-1] == nil {
		return "sender index out of range"
	}
	if e.SerializerId != 0 {
		return "not a protobuf message"
	}
	target := b.Targets[e.Target]
	if self := g.self.Load(); self == nil || target.Address != *self {
		return "target on another node" // remote would pass it on: no relaying through us
	}
	types := accepts[target.Id]
	if types == nil {
		return "target not a cluster actor: " + target.Id
	}
	name := b.TypeNames[e.TypeId]
	if !types[name] {
		return "type not accepted by " + target.Id + ": " + name
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		return "unknown type: " + name
	}
	if err := proto.Unmarshal(e.MessageData, mt.New().Interface()); err != nil {
		return "bad bytes for " + name
	}
	return ""
}

// countingCreds wraps the server's transport credentials to count failed handshakes (a
// peer without a certificate of our CA): gRPC only logs them, through the logger that
// remote.Start silences.
type countingCreds struct {
	credentials.TransportCredentials
	g *guard
}

func (c countingCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	nc, ai, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.g.stats.TLSFailed.Add(1)
		c.g.refused("TLS handshake failed", zap.Stringer("peer", conn.RemoteAddr()), zap.Error(err))
	}
	return nc, ai, err
}

func (c countingCreds) Clone() credentials.TransportCredentials {
	return countingCreds{TransportCredentials: c.TransportCredentials.Clone(), g: c.g}
}

func peerFromContext(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "", false
	}
	return p.Addr.String(), true
}
