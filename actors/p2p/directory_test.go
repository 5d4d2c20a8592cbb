package p2p

import (
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// TestDirectoryRecords: what is registered and updated comes back from lookups by peer
// ID and by public address, with its addresses as "ip:port" strings (mapped IPv4
// unmapped, malformed ones left out); a newer session replaces an older one, an
// unregistration for a session that is no longer the peer's is ignored, and a moved
// public address is found at the new address only.
func TestDirectoryRecords(t *testing.T) {
	sys := actors.NewActorSystem(zap.NewNop())
	defer sys.Shutdown()
	dir := sys.Root.Spawn(DirectoryProps(DirectoryConfig{}))
	ask := func(m any) *messages.LookupPeerResult {
		t.Helper()
		r, err := sys.Root.RequestFuture(dir, m, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		return r.(*messages.LookupPeerResult)
	}
	byID := func(id []byte) *messages.LookupPeerResult { return ask(&messages.LookupPeer{PeerId: id, RequestId: 7}) }
	byAddr := func(a string) *messages.LookupPeerResult {
		return ask(&messages.LookupAddress{Address: a, RequestId: 8})
	}

	id := make([]byte, 32)
	id[0] = 1
	sess, conn := actor.NewPID("local", "s1"), actor.NewPID("local", "c1")
	sys.Root.Send(dir, &messages.RegisterPeer{Peer: &messages.Peer{
		PeerId: id, SessionId: 11, Session: sess, Connection: conn, PublicAddress: "[::ffff:192.0.2.1]:1935", Node: "n1",
	}})
	sys.Root.Send(dir, &messages.UpdatePeerAddresses{PeerId: id, SessionId: 11, SetPrivate: true,
		PrivateAddresses: []string{"10.0.0.2:5000", "not an address", "[fe80::1]:5001"}})

	r := byID(id)
	if !r.Found || r.RequestId != 7 || r.Peer.SessionId != 11 || r.Peer.Session != sess || r.Peer.Connection != conn ||
		r.Peer.Node != "n1" || !r.Peer.HasPeerInfo || r.Peer.PublicAddress != "192.0.2.1:1935" ||
		!slices.Equal(r.Peer.PrivateAddresses, []string{"10.0.0.2:5000", "[fe80::1]:5001"}) || string(r.Peer.PeerId) != string(id) {
		t.Fatalf("lookup by ID: %v", r)
	}
	if r := byAddr("192.0.2.1:1935"); !r.Found || string(r.PeerId) != string(id) || r.RequestId != 8 {
		t.Fatalf("lookup by address: %v", r)
	}
	if r := byAddr("garbage"); r.Found {
		t.Fatalf("a malformed address found %v", r)
	}

	// The public address moves: found at the new one only.
	sys.Root.Send(dir, &messages.UpdatePeerAddresses{PeerId: id, SessionId: 11, PublicAddress: "192.0.2.1:2000"})
	if r := byAddr("192.0.2.1:1935"); r.Found {
		t.Fatalf("found at the old address: %v", r)
	}
	if r := byAddr("192.0.2.1:2000"); !r.Found {
		t.Fatal("not found at the new address")
	}
	// The answer is a copy: a later update does not change it.
	before := byID(id)
	sys.Root.Send(dir, &messages.UpdatePeerAddresses{PeerId: id, SessionId: 11, SetPrivate: true})
	if len(before.Peer.PrivateAddresses) != 2 || len(byID(id).Peer.PrivateAddresses) != 0 {
		t.Fatal("private addresses not replaced, or an earlier answer changed")
	}

	// A newer session of the same peer replaces the older one; the older one's
	// unregistration is then ignored, the newer one's is not.
	sys.Root.Send(dir, &messages.RegisterPeer{Peer: &messages.Peer{PeerId: id, SessionId: 12, PublicAddress: "192.0.2.9:1"}})
	if r := byAddr("192.0.2.1:2000"); r.Found {
		t.Fatalf("the replaced session's address still found: %v", r)
	}
	sys.Root.Send(dir, &messages.UnregisterPeer{PeerId: id, SessionId: 11})
	if r := byID(id); !r.Found || r.Peer.SessionId != 12 || r.Peer.HasPeerInfo {
		t.Fatalf("after the old session's unregistration: %v", r)
	}
	sys.Root.Send(dir, &messages.UnregisterPeer{PeerId: id, SessionId: 12})
	if r := byID(id); r.Found {
		t.Fatalf("after unregistration: %v", r)
	}
	if r := byAddr("192.0.2.9:1"); r.Found {
		t.Fatalf("unregistered address still found: %v", r)
	}
}

// recorder is an actor that hands what it receives to a channel.
type recorder struct{ got chan any }

func (r *recorder) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped:
		return
	}
	r.got <- ctx.Message()
}

// TestDirectoryReplicas: with a replicator, the peers served here go out as numbered
// changes without their PIDs, and a sync request as a snapshot of them; other nodes'
// changes and snapshots make replicas that lookups find (by ID and by address) with their
// origin, the newest registration of a peer served twice wins, and a departed node's
// replicas go at once.
func TestDirectoryReplicas(t *testing.T) {
	sys := actors.NewActorSystem(zap.NewNop())
	defer sys.Shutdown()
	rec := &recorder{got: make(chan any, 64)}
	repl := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return rec }))
	dir := sys.Root.Spawn(DirectoryProps(DirectoryConfig{Replicator: repl}))
	next := func() any {
		t.Helper()
		select {
		case m := <-rec.got:
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("the replicator got nothing")
			return nil
		}
	}
	ask := func(m any) *messages.LookupPeerResult {
		t.Helper()
		r, err := sys.Root.RequestFuture(dir, m, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		return r.(*messages.LookupPeerResult)
	}
	id := func(b byte) []byte { x := make([]byte, 32); x[0] = b; return x }

	sys.Root.Send(dir, &messages.RegisterPeer{Peer: &messages.Peer{PeerId: id(1), SessionId: 5, PublicAddress: "192.0.2.1:1000",
		Session: actor.NewPID("local", "s"), Connection: actor.NewPID("local", "c")}})
	sys.Root.Send(dir, &messages.UpdatePeerAddresses{PeerId: id(1), SessionId: 5, SetPrivate: true, PrivateAddresses: []string{"10.0.0.1:1000"}})
	sys.Root.Send(dir, &messages.UnregisterPeer{PeerId: id(1), SessionId: 4}) // not its session: nothing
	reg := next().(*Changed).Change
	upd := next().(*Changed).Change
	if reg.Seq != 1 || upd.Seq != 2 {
		t.Fatalf("changes numbered %d, %d", reg.Seq, upd.Seq)
	}
	if p := reg.GetRegister(); p == nil || p.Session != nil || p.Connection != nil || p.PublicAddress != "192.0.2.1:1000" || p.RegisteredUnixMs == 0 {
		t.Fatalf("registration replicated as %v", reg)
	}
	if u := upd.GetUpdate(); !u.SetPrivate || !slices.Equal(u.PrivateAddresses, []string{"10.0.0.1:1000"}) {
		t.Fatalf("update replicated as %v", upd)
	}
	sys.Root.Send(dir, &messages.DirectorySyncRequest{FromNode: "n2"})
	snap := next().(*Snapshot).Snapshot
	if snap.ToNode != "n2" || snap.Seq != 2 || len(snap.Peers) != 1 || snap.Peers[0].Session != nil {
		t.Fatalf("snapshot %v", snap)
	}

	// Another node's peers.
	sys.Root.Send(dir, &messages.DirectorySnapshot{FromNode: "n2", Seq: 7, Peers: []*messages.Peer{
		{PeerId: id(2), SessionId: 9, PublicAddress: "198.51.100.2:2000", RegisteredUnixMs: 1},
		{PeerId: []byte{1, 2}, SessionId: 1}, // malformed: skipped
	}})
	sys.Root.Send(dir, &messages.PeerChanges{FromNode: "n2", Changes: []*messages.PeerChange{
		{Seq: 8, Change: &messages.PeerChange_Update{Update: &messages.UpdatePeerAddresses{PeerId: id(2), SessionId: 9, SetPrivate: true, PrivateAddresses: []string{"10.1.0.2:2000"}}}},
		{Seq: 9, Change: &messages.PeerChange_Register{Register: &messages.Peer{PeerId: id(3), SessionId: 3, PublicAddress: "198.51.100.3:3000", RegisteredUnixMs: 1}}},
	}})
	r := ask(&messages.LookupPeer{PeerId: id(2)})
	if !r.Found || r.Peer.Origin != "n2" || r.Peer.Session != nil || r.Peer.PublicAddress != "198.51.100.2:2000" ||
		!slices.Equal(r.Peer.PrivateAddresses, []string{"10.1.0.2:2000"}) {
		t.Fatalf("replica lookup: %v", r)
	}
	if r := ask(&messages.LookupAddress{Address: "198.51.100.3:3000"}); !r.Found || r.Peer.Origin != "n2" {
		t.Fatalf("replica lookup by address: %v", r)
	}
	if r := ask(&messages.LookupPeer{PeerId: id(1)}); !r.Found || r.Peer.Origin != "" || r.Peer.Session == nil {
		t.Fatalf("a peer served here: %v", r)
	}
	c, err := sys.Root.RequestFuture(dir, &messages.CountPeers{}, 5*time.Second).Result()
	if err != nil || c.(*messages.PeerCount).Count != 1 || c.(*messages.PeerCount).Replicas != 2 {
		t.Fatalf("count %v %v", c, err)
	}

	// The same peer served by n3 too, registered later (a client that moved): n3's wins,
	// here as everywhere; the older registration at n2 does not.
	sys.Root.Send(dir, &messages.PeerChanges{FromNode: "n3", Changes: []*messages.PeerChange{
		{Seq: 1, Change: &messages.PeerChange_Register{Register: &messages.Peer{PeerId: id(1), SessionId: 70, PublicAddress: "203.0.113.1:1", RegisteredUnixMs: 1 << 60}}},
		{Seq: 2, Change: &messages.PeerChange_Register{Register: &messages.Peer{PeerId: id(2), SessionId: 71, RegisteredUnixMs: 0}}},
	}})
	if r := ask(&messages.LookupPeer{PeerId: id(1)}); r.Peer.Origin != "n3" || r.Peer.SessionId != 70 {
		t.Fatalf("the newer registration elsewhere did not win: %v", r)
	}
	if r := ask(&messages.LookupPeer{PeerId: id(2)}); r.Peer.Origin != "n2" {
		t.Fatalf("an older registration won: %v", r)
	}

	// n2 leaves: its peers go.
	d, err := sys.Root.RequestFuture(dir, &DropNode{Node: "n2"}, 5*time.Second).Result()
	if err != nil || d.(*NodeDropped).Peers != 2 {
		t.Fatalf("dropped %v %v", d, err)
	}
	if r := ask(&messages.LookupAddress{Address: "198.51.100.3:3000"}); r.Found {
		t.Fatalf("a replica of the departed node found: %v", r)
	}
	if r := ask(&messages.LookupPeer{PeerId: id(2)}); !r.Found || r.Peer.Origin != "n3" {
		t.Fatalf("n3's registration of the peer not found after n2 left: %v", r)
	}
}

// TestPeerEntrySize: the entry every connected client costs the directory stays in its
// allocation size class (96 bytes).
func TestPeerEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(peerEntry{}); n > 96 {
		t.Fatalf("peerEntry is %d bytes, over the 96-byte size class", n)
	}
}
