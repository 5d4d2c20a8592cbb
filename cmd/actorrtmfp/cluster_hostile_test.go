package main

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actorrtmfp/actorrtmfp/messages"
)

// hostileTraffic speaks remote's gRPC protocol to a node the way no node does: streams
// without our cluster's name, and, with it, batches that would crash remote at the pinned
// version (unknown types, indices out of range, another serializer), actor.Stop for its
// cluster actor, bad bytes, messages for actors or addresses no other node may reach, and
// a unary call. The node drops and counts them all and goes on serving its cluster.
func hostileTraffic(t *testing.T, n *node, nodes []*node) {
	conn, err := grpc.Dial(n.cluster, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rc := remote.NewRemotingClient(conn)

	for _, name := range []string{"", "other"} {
		ctx := context.Background()
		if name != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "x-actorrtmfp-cluster", name)
		}
		st, err := rc.Receive(ctx)
		if err == nil {
			_, err = st.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("a stream naming cluster %q: %v, want PermissionDenied", name, err)
		}
	}
	if _, err := rc.ListProcesses(metadata.AppendToOutgoingContext(context.Background(), "x-actorrtmfp-cluster", "actorrtmfp"),
		&remote.ListProcessesRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("ListProcesses: %v, want Unimplemented", err)
	}

	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-actorrtmfp-cluster", "actorrtmfp")
	st, err := rc.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "evil", Address: "127.0.0.1:1"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("connect: %v", err)
	}
	status, _ := proto.Marshal(&messages.NodeStatus{Cluster: "actorrtmfp", FromNode: "evil"})
	stop, _ := proto.Marshal(&actor.Stop{})
	lookup, _ := proto.Marshal(&messages.LookupPeerResult{Found: true, RequestId: 1})
	self := &actor.PID{Address: n.cluster, Id: "cluster"}
	batches := []*remote.MessageBatch{
		{TypeNames: []string{"nope.Nope"}, Targets: []*actor.PID{self}, Envelopes: []*remote.MessageEnvelope{{MessageData: status}}},
		{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self}, Envelopes: []*remote.MessageEnvelope{{MessageData: status, Target: 5}}},
		{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self}, Envelopes: []*remote.MessageEnvelope{{MessageData: status, TypeId: 3}}},
		{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self}, Envelopes: []*remote.MessageEnvelope{{MessageData: status, SerializerId: 7}}},
		{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self}, Envelopes: []*remote.MessageEnvelope{{MessageData: status, Sender: 4}}},
		{TypeNames: []string{"actor.Stop"}, Targets: []*actor.PID{self}, Envelopes: []*remote.MessageEnvelope{{MessageData: stop}}},
		{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self}, Envelopes: []*remote.MessageEnvelope{{MessageData: []byte{0xff, 0xff, 0xff}}}},
		{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{{Address: n.cluster, Id: "eventstream"}}, Envelopes: []*remote.MessageEnvelope{{MessageData: status}}},
		{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{{Address: nodes[1].cluster, Id: "cluster"}}, Envelopes: []*remote.MessageEnvelope{{MessageData: status}}},
		{TypeNames: []string{"actorrtmfp.messages.LookupPeerResult"}, Targets: []*actor.PID{{Address: n.cluster, Id: "cluster/p2p"}}, Envelopes: []*remote.MessageEnvelope{{MessageData: lookup}}},
		// Well formed, from a node that is not a member: passes the guard, dropped after.
		{TypeNames: []string{"actorrtmfp.messages.NodeStatus"}, Targets: []*actor.PID{self}, Envelopes: []*remote.MessageEnvelope{{MessageData: status}}},
	}
	const malformed = 10 // the batches above but the last
	for _, b := range batches {
		if err := st.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: b}}); err != nil {
			t.Fatalf("sending a batch: %v", err)
		}
	}
	// Once the node ends the stream, it has read (and checked) every batch.
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := st.Recv(); err != nil {
			break
		}
	}

	// The node still serves its cluster: a stream published on it reaches another node.
	checkStillServing(t, n, nodes[2])
	mark := n.mark()
	n.stop()
	stats := n.waitLogAfter(mark, "its counters", 30*time.Second, msg("cluster node stopped"))
	if got, _ := stats["malformed"].(float64); got < malformed+1 { // and the unary call
		t.Errorf("the node counted %v malformed messages, want at least %d", stats["malformed"], malformed+1)
	}
	if got, _ := stats["foreign"].(float64); got < 2 {
		t.Errorf("the node counted %v foreign streams, want 2", stats["foreign"])
	}
	if got, _ := stats["not_member"].(float64); got < 1 {
		t.Errorf("the node counted %v messages from non-members, want at least 1", stats["not_member"])
	}
}

// rogueCertificate opens a connection to a node with a certificate of another CA: the
// node refuses the TLS handshake and counts it.
func rogueCertificate(t *testing.T, n *node) {
	_, certs, keys := clusterCerts(t, t.TempDir(), 1)
	cert, err := tls.LoadX509KeyPair(certs[0], keys[0])
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.Dial(n.cluster, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-actorrtmfp-cluster", "actorrtmfp"), 10*time.Second)
	defer cancel()
	if st, err := remote.NewRemotingClient(conn).Receive(ctx); err == nil {
		if _, err := st.Recv(); err == nil {
			t.Fatal("a node accepted a certificate of another CA")
		}
	}
	mark := n.mark()
	n.stop()
	stats := n.waitLogAfter(mark, "its counters", 30*time.Second, msg("cluster node stopped"))
	if got, _ := stats["tls_failed"].(float64); got < 1 {
		t.Errorf("the node counted %v failed TLS handshakes, want at least 1", stats["tls_failed"])
	}
}
