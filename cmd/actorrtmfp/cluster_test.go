package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// The cluster tests run three nodes of the command as separate processes on loopback,
// with the static member list and with etcd (and mutual TLS), and drive them with the
// project's client in both dialects: introductions and relays across nodes, a stream
// published on one node and played on the others, NetGroup members on different nodes,
// kill -9 of a node and its restart, and hostile cluster traffic. The load redirect has
// its own two nodes. They wait for the nodes' log lines and the clients' events, with
// generous deadlines: the machine may be loaded, and nodes may be race-detector builds.

// staticCluster starts n nodes that know each other from a static member list.
func staticCluster(t *testing.T, n int, extra func(i int) []string) []*node {
	t.Helper()
	ports := freePorts(t, n)
	var members []string
	for _, p := range ports {
		members = append(members, "127.0.0.1:"+strconv.Itoa(p))
	}
	nodes := make([]*node, n)
	for i := range n {
		env := []string{"ACTORRTMFP_LISTEN=127.0.0.1:0", "ACTORRTMFP_CLUSTER_BIND=" + members[i],
			"ACTORRTMFP_CLUSTER_MEMBERS=" + joinComma(members), "ACTORRTMFP_CLUSTER_TTL=1s"}
		if extra != nil {
			env = append(env, extra(i)...)
		}
		nodes[i] = startNode(t, string(rune('A'+i)), env...)
	}
	waitMembers(t, nodes)
	return nodes
}

// etcdCluster starts n nodes that find each other through etcd, with mutual TLS.
func etcdCluster(t *testing.T, etcd *etcdServer, n int) []*node {
	t.Helper()
	endpoint := etcd.endpoint
	ca, certs, keys := clusterCerts(t, t.TempDir(), n)
	ports := freePorts(t, n)
	nodes := make([]*node, n)
	for i := range n {
		nodes[i] = startNode(t, string(rune('A'+i)), "ACTORRTMFP_LISTEN=127.0.0.1:0",
			"ACTORRTMFP_CLUSTER_BIND=127.0.0.1:"+strconv.Itoa(ports[i]), "ACTORRTMFP_CLUSTER_ETCD="+endpoint,
			"ACTORRTMFP_CLUSTER_TLS_CA="+ca, "ACTORRTMFP_CLUSTER_TLS_CERT="+certs[i], "ACTORRTMFP_CLUSTER_TLS_KEY="+keys[i])
	}
	waitMembers(t, nodes)
	return nodes
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

// waitMembers waits until every node has seen every other join.
func waitMembers(t *testing.T, nodes []*node) {
	t.Helper()
	for _, n := range nodes {
		for _, o := range nodes {
			if o != n {
				n.waitLog("that "+o.name+" joined", 60*time.Second, msg("cluster member joined", "member", o.member))
			}
		}
	}
}

func TestClusterStaticMembers(t *testing.T) {
	nodes := staticCluster(t, 3, nil)
	runCluster(t, nodes)
	hostileTraffic(t, nodes[0], nodes)
}

func TestClusterEtcdWithTLS(t *testing.T) {
	etcd := startEtcd(t)
	nodes := etcdCluster(t, etcd, 3)
	runCluster(t, nodes)
	etcdOutage(t, etcd, nodes)
	rogueCertificate(t, nodes[0])
}

// etcdOutage stops etcd for longer than the nodes' lease TTL: they keep their membership
// (no node leaves, none exits) and are members still once it is back.
func etcdOutage(t *testing.T, etcd *etcdServer, nodes []*node) {
	marks := make([]int, len(nodes))
	for i, n := range nodes {
		marks[i] = n.mark()
	}
	etcd.stop()
	for i, n := range nodes {
		n.waitLogAfter(marks[i], "that etcd is unreachable", 60*time.Second, msg("etcd unreachable; the membership stays as it was until it is back"))
	}
	etcd.start()
	for i, n := range nodes {
		n.waitLogAfter(marks[i], "that etcd is back", 60*time.Second, msg("etcd reachable again; this node is still a member"))
		if k := n.count(marks[i], msg("cluster member left")); k != 0 {
			t.Errorf("%s saw %d members leave while etcd was down", n.name, k)
		}
	}
	checkStillServing(t, nodes[2], nodes[0])
}

// runCluster is what every membership must give: introductions, relays, streams and
// groups across nodes, then the failure of a node and its return.
func runCluster(t *testing.T, nodes []*node) {
	a, b, c := nodes[0], nodes[1], nodes[2]
	sys := actors.NewActorSystem(zap.NewNop())
	defer sys.Shutdown()
	dial := func(n *node, o client.Options) *client.Conn {
		t.Helper()
		conn, err := client.Dial(ctxT(t, 30*time.Second), sys, n.url("app"), o)
		if err != nil {
			t.Fatalf("connecting to %s: %v", n.name, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}

	// Introductions: a peer connected to B is found by lookups that reach A, and the
	// two connect directly (a P2P stream between them).
	target := dial(b, client.Options{AcceptPeers: true})
	direct := target.PublishDirect("cam")
	defer direct.Close()
	for _, d := range []client.Dialect{client.Flash, client.RFC7425} {
		in := dial(a, client.Options{Dialect: d})
		playDirect(t, in, target, direct)
	}

	// relay reaches a client of another node.
	relayed := make(chan []any, 4)
	relayTarget := dial(b, client.Options{Dialect: client.RFC7425, Handler: func(method string, args []any) {
		if method == "onRelay" {
			relayed <- args
		}
	}})
	relayer := dial(a, client.Options{})
	retryUntil(t, "relay across nodes", 30*time.Second, func() error {
		_, err := relayer.Call(ctxT(t, 10*time.Second), "relay", relayTarget.PeerID().String(), "hello")
		return err
	})
	select {
	case args := <-relayed:
		if len(args) != 2 || args[0] != relayer.PeerID().String() || args[1] != "hello" {
			t.Fatalf("relayed %v", args)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the relay did not reach the client on B")
	}

	// A stream published on A, played on C (and B): every frame, one subscription per
	// node, late joiners start on a key frame.
	markA := a.mark()
	c1conn := dial(c, client.Options{Dialect: client.RFC7425})
	c1, err := c1conn.Play(ctxT(t, 30*time.Second), "live")
	if err != nil {
		t.Fatal(err)
	}
	b1conn := dial(b, client.Options{})
	b1, err := b1conn.Play(ctxT(t, 30*time.Second), "live")
	if err != nil {
		t.Fatal(err)
	}
	pubConn := dial(a, client.Options{})
	pub, err := pubConn.Publish(ctxT(t, 30*time.Second), "live")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{c, b} {
		a.waitLogAfter(markA, "the link to "+n.name, 30*time.Second, msg("stream link opened", "name", "live", "member", n.member))
	}
	waitStatus(t, c1, flash.CodePlayPublishNotify, 30*time.Second)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if err := pub.Write(videoFrame(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range []client.Media{audioConfig, videoConfig} {
		if err := pub.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	write(0, 35)
	expectFrames(t, c1, 0, 35)
	expectFrames(t, b1, 0, 35)
	// A late joiner on C starts at the last key frame, from C's own cache.
	c2conn := dial(c, client.Options{})
	c2, err := c2conn.Play(ctxT(t, 30*time.Second), "live")
	if err != nil {
		t.Fatal(err)
	}
	first := nextFrame(t, c2, 30*time.Second)
	if !isKey(first) || frameNumber(first) != 30 {
		t.Fatalf("the late joiner on C started on frame %d (key %v), want key frame 30", frameNumber(first), isKey(first))
	}
	expectFrames(t, c2, 31, 35)
	write(35, 60)
	expectFrames(t, c1, 35, 60)
	expectFrames(t, c2, 35, 60)
	expectFrames(t, b1, 35, 60)
	for _, n := range []*node{b, c} {
		if k := a.count(markA, msg("stream link opened", "name", "live", "member", n.member)); k != 1 {
			t.Errorf("A opened %d links of the stream to %s, want one for all its players", k, n.name)
		}
	}

	// Unpublish reaches every player; the publisher comes back on B: players on C
	// follow it there.
	pub.Close()
	waitStatus(t, c1, flash.CodePlayUnpublishNotify, 30*time.Second)
	waitStatus(t, c2, flash.CodePlayUnpublishNotify, 30*time.Second)
	waitStatus(t, b1, flash.CodePlayUnpublishNotify, 30*time.Second)
	pub2conn := dial(b, client.Options{Dialect: client.RFC7425})
	pub2, err := pub2conn.Publish(ctxT(t, 30*time.Second), "live")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c1, flash.CodePlayPublishNotify, 30*time.Second)
	waitStatus(t, b1, flash.CodePlayPublishNotify, 30*time.Second)
	for _, m := range []client.Media{audioConfig, videoConfig, videoFrame(100), videoFrame(101)} {
		if err := pub2.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	expectFrames(t, c1, 100, 102)
	expectFrames(t, b1, 100, 102)

	// NetGroup members on different nodes are handed each other.
	group := sha256.Sum256([]byte("cluster group"))
	var members []*client.Conn
	for _, n := range []*node{a, b, c} {
		m := dial(n, client.Options{})
		g, err := m.JoinGroup(ctxT(t, 30*time.Second), group)
		if err != nil {
			t.Fatal(err)
		}
		want := map[cryptoutil.PeerID]bool{}
		for _, o := range members {
			want[o.PeerID()] = true
		}
		expectNeighbors(t, n.name, g, want)
		members = append(members, m)
	}

	// kill -9 of B: A and C keep their sessions; B's peers leave their directories; the
	// stream published on B ends for the players on C; no introduction to B's peers.
	markA, markC := a.mark(), c.mark()
	killed := time.Now()
	b.kill()
	for _, n := range []*node{a, c} {
		from := markA
		if n == c {
			from = markC
		}
		left := n.waitLogAfter(from, "that B left", 30*time.Second, msg("cluster member left", "member", b.member))
		t.Logf("%s saw B leave %v after kill -9", n.name, logTime(left).Sub(killed).Round(time.Millisecond))
		dropped := n.waitLogAfter(from, "B's peers dropped", 30*time.Second, msg("peers of a departed member dropped", "member", b.member))
		if k, _ := dropped["peers"].(float64); k < 4 {
			t.Errorf("%s dropped %v peers of B, want at least 4 (its clients)", n.name, dropped["peers"])
		}
	}
	waitStatus(t, c1, flash.CodePlayUnpublishNotify, 30*time.Second)
	for _, conn := range []*client.Conn{relayer, pubConn, c1conn, c2conn, members[0], members[2]} {
		var ce *client.CallError
		if _, err := conn.Call(ctxT(t, 20*time.Second), "noSuchMethod"); !errors.As(err, &ce) {
			t.Fatalf("a client of A or C did not get its answer after B was killed: %v", err)
		}
	}
	// The target's own endpoint is still up in this process: had A still known it, the
	// lookup would have connected us.
	late := dial(a, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if p, err := late.PlayPeer(ctx, target.PeerID(), "cam"); err == nil {
		p.Close()
		t.Error("A still introduced a peer of the killed node")
	}
	cancel()

	// B comes back (a new member): it rejoins and its peers are found again.
	b.start()
	for _, n := range []*node{a, c} {
		n.waitLog("that B rejoined", 60*time.Second, msg("cluster member joined", "member", b.member))
	}
	target2 := dial(b, client.Options{AcceptPeers: true})
	direct2 := target2.PublishDirect("cam")
	defer direct2.Close()
	playDirect(t, dial(c, client.Options{Dialect: client.RFC7425}), target2, direct2)
}

// playDirect plays target's direct stream from in through the server's introduction and
// checks that media flows between them.
func playDirect(t *testing.T, in, target *client.Conn, direct *client.Publisher) {
	t.Helper()
	hellos := target.Endpoint().Stats.ForwardedHellos.Load()
	var player *client.Player
	retryUntil(t, "an introduction across nodes", 60*time.Second, func() error {
		var err error
		player, err = in.PlayPeer(ctxT(t, 20*time.Second), target.PeerID(), "cam")
		return err
	})
	defer player.Close()
	// On loopback the initiator's own IHello may reach the target first: the forwarded
	// hello, sent by the target's node once the initiator's node told it, may come after
	// the session is open. Wait for it while the media flows.
	forwarded := func() bool { return target.Endpoint().Stats.ForwardedHellos.Load() != hellos }
	deadline := time.After(30 * time.Second)
	media := false
	for i := 0; ; i++ {
		if err := direct.Write(videoFrame(i)); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-player.C:
			if frameNumber(m) >= 0 {
				media = true
			}
		case <-time.After(100 * time.Millisecond): // the next frame, as a camera would send it
		case <-deadline:
			if !media {
				t.Fatal("no media over the direct session")
			}
			t.Fatal("the target was never sent the forwarded hello by its own node")
		}
		if media && forwarded() {
			return
		}
	}
}

// expectFrames checks that a player receives the test frames [from, to) in order.
func expectFrames(t *testing.T, p *client.Player, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		m := nextFrame(t, p, 30*time.Second)
		if n := frameNumber(m); n != i {
			t.Fatalf("player of %s got frame %d, want %d", p.Name, n, i)
		}
	}
}

// expectNeighbors waits until a member has been handed every peer of want.
func expectNeighbors(t *testing.T, name string, g *client.Group, want map[cryptoutil.PeerID]bool) {
	t.Helper()
	got := map[cryptoutil.PeerID]bool{}
	deadline := time.After(30 * time.Second)
	for len(got) < len(want) {
		select {
		case p := <-g.Neighbors:
			if want[p] {
				got[p] = true
			}
		case <-g.Rejected():
			t.Fatalf("the join on %s was refused", name)
		case <-deadline:
			t.Fatalf("the member on %s was handed %d of the %d members of other nodes", name, len(got), len(want))
		}
	}
}

// retryUntil calls f until it succeeds (an answer that depends on replication).
func retryUntil(t *testing.T, what string, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

func logTime(l map[string]any) time.Time {
	ts, _ := l["ts"].(string)
	at, _ := time.Parse("2006-01-02T15:04:05.000Z0700", ts)
	return at
}

// TestClusterLoadRedirect: a node over its share of its capacity sends new clients of
// either dialect to a less-loaded node, with no change on their side.
func TestClusterLoadRedirect(t *testing.T) {
	nodes := staticCluster(t, 2, func(i int) []string {
		if i == 0 {
			return []string{"ACTORRTMFP_CLUSTER_CAPACITY=2", "ACTORRTMFP_CLUSTER_REDIRECT_LOAD=50"}
		}
		return nil
	})
	a, b := nodes[0], nodes[1]
	sys := actors.NewActorSystem(zap.NewNop())
	defer sys.Shutdown()
	mark := a.mark()
	first, err := client.Dial(ctxT(t, 30*time.Second), sys, a.url("app"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if first.ServerPeerID().String() != a.peerID {
		t.Fatal("the first client was not served by A")
	}
	a.waitLogAfter(mark, "that it redirects", 30*time.Second, msg("redirecting new clients to less-loaded nodes"))
	for _, d := range []client.Dialect{client.Flash, client.RFC7425} {
		c, err := client.Dial(ctxT(t, 30*time.Second), sys, a.url("app"), client.Options{Dialect: d})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ServerPeerID().String(); got != b.peerID {
			t.Errorf("a %v client dialing A was served by %s, want B (%s)", d, got, b.peerID)
		}
		c.Close()
	}
}

// checkStillServing publishes on n and plays on other: the stream crosses.
func checkStillServing(t *testing.T, n, other *node) {
	t.Helper()
	sys := actors.NewActorSystem(zap.NewNop())
	defer sys.Shutdown()
	pc, err := client.Dial(ctxT(t, 30*time.Second), sys, n.url("app"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pub, err := pc.Publish(ctxT(t, 30*time.Second), "after")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	cc, err := client.Dial(ctxT(t, 30*time.Second), sys, other.url("app"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var p *client.Player
	retryUntil(t, "playing across nodes after hostile traffic", 30*time.Second, func() error {
		var err error
		p, err = cc.Play(ctxT(t, 10*time.Second), "after")
		return err
	})
	defer p.Close()
	waitStatus(t, p, flash.CodePlayPublishNotify, 30*time.Second)
	for i := 0; i < 3; i++ {
		if err := pub.Write(videoFrame(i * keyEvery)); err != nil {
			t.Fatal(err)
		}
	}
	nextFrame(t, p, 30*time.Second)
}
