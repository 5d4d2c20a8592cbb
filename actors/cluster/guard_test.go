package cluster

import (
	"context"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actorrtmfp/actorrtmfp/messages"
)

const testSelf = "10.0.0.1:7000"

func testGuard() *guard {
	g := newGuard("prod", &Stats{}, zap.NewNop())
	self := testSelf
	g.self.Store(&self)
	return g
}

func marshal(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGuardChecksEveryEnvelope: what remote would crash on, what would reach an actor
// other nodes must not reach, and what another actor of ours would get instead, is
// dropped and counted; the well-formed rest of the batch goes on.
func TestGuardChecksEveryEnvelope(t *testing.T) {
	status := marshal(t, &messages.NodeStatus{Cluster: "prod", FromNode: "n2"})
	changes := marshal(t, &messages.PeerChanges{FromNode: "n2"})
	self := &actor.PID{Address: testSelf, Id: "cluster"}
	p2p := &actor.PID{Address: testSelf, Id: "cluster/p2p"}
	cases := []struct {
		name string
		b    *remote.MessageBatch
		ok   bool
	}{
		{"status to cluster", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: status}}}, true},
		{"changes to cluster/p2p", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.PeerChanges"}, Targets: []*actor.PID{p2p},
			Envelopes: []*remote.MessageEnvelope{{MessageData: changes}}}, true},
		{"unknown type", &remote.MessageBatch{TypeNames: []string{"nope.Nope"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: status}}}, false},
		{"type index", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: status, TypeId: 1}}}, false},
		{"negative type index", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: status, TypeId: -1}}}, false},
		{"target index", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: status, Target: 1}}}, false},
		{"nil target", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{nil},
			Envelopes: []*remote.MessageEnvelope{{MessageData: status}}}, false},
		{"sender index", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: status, Sender: 1}}}, false},
		{"serializer", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: status, SerializerId: 1}}}, false},
		{"actor.Stop", &remote.MessageBatch{TypeNames: []string{"actor.Stop"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: marshal(t, &actor.Stop{})}}}, false},
		{"bad bytes", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: []byte{0xff, 0xff}}}}, false},
		{"another node's actor", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.NodeStatus"},
			Targets: []*actor.PID{{Address: "10.0.0.2:7000", Id: "cluster"}}, Envelopes: []*remote.MessageEnvelope{{MessageData: status}}}, false},
		{"not a cluster actor", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.NodeStatus"},
			Targets: []*actor.PID{{Address: testSelf, Id: "eventstream"}}, Envelopes: []*remote.MessageEnvelope{{MessageData: status}}}, false},
		{"another actor's message", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.PeerChanges"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: changes}}}, false},
		{"a local answer", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.LookupPeerResult"}, Targets: []*actor.PID{p2p},
			Envelopes: []*remote.MessageEnvelope{{MessageData: marshal(t, &messages.LookupPeerResult{Found: true})}}}, false},
		{"nil envelope", &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{nil}}, false},
	}
	for _, c := range cases {
		g := testGuard()
		g.filter(c.b, context.Background())
		if kept := len(c.b.Envelopes) == 1; kept != c.ok {
			t.Errorf("%s: kept %v, want %v", c.name, kept, c.ok)
		}
		if c.ok != (g.stats.Malformed.Load() == 0) {
			t.Errorf("%s: counted %d malformed", c.name, g.stats.Malformed.Load())
		}
	}
	// A mixed batch: the good envelopes go on, in order.
	g := testGuard()
	b := &remote.MessageBatch{TypeNames: []string{"actorrtmfp.messages.NodeStatus", "nope"}, Targets: []*actor.PID{self},
		Envelopes: []*remote.MessageEnvelope{{MessageData: status}, {MessageData: status, TypeId: 1}, {MessageData: status, Target: 9},
			{MessageData: marshal(t, &messages.NodeStatus{FromNode: "second"})}}}
	g.filter(b, context.Background())
	if len(b.Envelopes) != 2 || g.stats.Malformed.Load() != 2 || g.stats.Passed.Load() != 2 {
		t.Fatalf("mixed batch: kept %d, malformed %d", len(b.Envelopes), g.stats.Malformed.Load())
	}
}

// TestGuardStreams: a stream that does not name our cluster is refused before remote sees
// it, and unary calls (which panic in remote) are refused.
func TestGuardStreams(t *testing.T) {
	g := testGuard()
	handled := false
	handler := func(srv any, ss grpc.ServerStream) error { handled = true; return nil }
	for _, md := range []metadata.MD{nil, metadata.Pairs(header, "other"), metadata.Pairs(header, "prod", header, "prod")} {
		ctx := metadata.NewIncomingContext(context.Background(), md)
		err := g.serverStream(nil, fakeStream{ctx: ctx}, &grpc.StreamServerInfo{}, handler)
		if status.Code(err) != codes.PermissionDenied || handled {
			t.Errorf("metadata %v: %v (handled %v)", md, err, handled)
		}
	}
	if g.stats.Foreign.Load() != 3 {
		t.Errorf("foreign %d, want 3", g.stats.Foreign.Load())
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(header, "prod"))
	if err := g.serverStream(nil, fakeStream{ctx: ctx}, &grpc.StreamServerInfo{}, handler); err != nil || !handled {
		t.Errorf("our cluster's stream: %v (handled %v)", err, handled)
	}
	if _, err := g.unary(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/remote.Remoting/ListProcesses"}, nil); status.Code(err) != codes.Unimplemented {
		t.Errorf("unary: %v", err)
	}
}

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (f fakeStream) Context() context.Context { return f.ctx }

// FuzzGuard: whatever a peer sends, the envelopes the guard lets through are read by
// remote's own code (as its endpoint reader does) without a panic.
func FuzzGuard(f *testing.F) {
	status := marshal(f, &messages.NodeStatus{Cluster: "prod"})
	self := &actor.PID{Address: testSelf, Id: "cluster"}
	for _, b := range []*remote.MessageBatch{
		{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self}, Envelopes: []*remote.MessageEnvelope{{MessageData: status}}},
		{TypeNames: []string{"actorrtmfp.messages.StreamMediaBatch"}, Targets: []*actor.PID{{Address: testSelf, Id: "cluster/streams"}},
			Envelopes: []*remote.MessageEnvelope{{MessageData: marshal(f, &messages.StreamMediaBatch{Media: []*messages.StreamMedia{{Seq: 1, Data: []byte{9, 0, 0, 0, 0, 0x17, 1}}}})}}},
		{TypeNames: []string{"nope"}, Targets: []*actor.PID{self}, Senders: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: []byte{1}, Target: 3, Sender: 2, TypeId: 4, SerializerId: 9}}},
	} {
		f.Add(marshal(f, b))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b remote.MessageBatch
		if proto.Unmarshal(data, &b) != nil {
			return
		}
		g := testGuard()
		g.filter(&b, context.Background())
		for _, e := range b.Envelopes {
			// What remote's endpointReader.onMessageBatch does with each envelope.
			if e.Sender > 0 {
				_ = b.Senders[e.Sender-1].Id
			}
			target := b.Targets[e.Target]
			if _, err := remote.Deserialize(e.MessageData, b.TypeNames[e.TypeId], e.SerializerId); err != nil {
				t.Fatalf("an envelope that passed does not deserialize: %v", err)
			}
			if target.Address != testSelf || accepts[target.Id] == nil {
				t.Fatalf("an envelope for %v passed", target)
			}
		}
	})
}
