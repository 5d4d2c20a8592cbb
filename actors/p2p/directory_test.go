package p2p

import (
	"slices"
	"testing"
	"time"

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
	dir := sys.Root.Spawn(DirectoryProps())
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
