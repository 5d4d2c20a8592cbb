package luaapp_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/luaapp"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

func TestGroupEvents(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": probe + `
function onConnection(client)
	probeMethods(client)
	function client:groupinfo(id)
		local g = cumulus.groups(id)
		if not g then return "none" end
		local members = {}
		for i, c in g:ipairs() do members[i] = c.id end
		return {id = g.id, raw = #g.rawId, size = g.size, members = members, count = cumulus.groups.count}
	end
end
function onJoinGroup(client, group) record("join", group.id == client.wanted, group.size) end
function onUnjoinGroup(client, group) record("unjoin", group.size) end
`}, options{})
	gid := sha256.Sum256([]byte("G:0101010c0b0e"))
	hexID := hex.EncodeToString(gid[:])
	a := f.mustDial("?wanted="+hexID, client.Options{})
	g, err := a.JoinGroup(ctxT(t), gid)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, "join true 1")
	b := f.mustDial("?wanted="+hexID, client.Options{})
	if _, err := b.JoinGroup(ctxT(t), gid); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, "join true 2")
	info, _ := call(t, a, "groupinfo", hexID)[0].(*amf.Object)
	if info == nil {
		t.Fatal("no group info")
	}
	if v, _ := info.Get("size"); v != 2.0 {
		t.Errorf("group.size = %v", v)
	}
	if v, _ := info.Get("raw"); v != 32.0 {
		t.Errorf("#group.rawId = %v", v)
	}
	if v, _ := info.Get("members"); len(v.([]any)) != 2 {
		t.Errorf("group:ipairs() gave %v", v)
	}
	g.Leave()
	waitEvent(t, a, "unjoin 1")
}

// TestCirrusRelay runs the Cirrus sample's relay as Cumulus and MonaServer users write it
// (the MonaServer FAQ's recipe, in Cumulus' names): the script's relay is reached before
// the server's own.
func TestCirrusRelay(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{
		"main.lua": `function onConnection(client,...)
	function client:relay(targetId,...)
		local target = cumulus.clients(targetId)
		if not target then error("client '"..targetId.."' not found") end
		target.writer:writeAMFMessage("onRelay",self.id,...)
	end
end
`,
		"native/main.lua": `function onConnection(client) end`,
	}, options{})
	for _, path := range []string{"", "native"} {
		got := make(chan []any, 1)
		target := f.mustDial(path, client.Options{Handler: func(method string, args []any) {
			if method == "onRelay" {
				got <- args
			}
		}})
		sender := f.mustDial(path, client.Options{})
		tid, sid := target.PeerID(), sender.PeerID()
		call(t, sender, "relay", hex.EncodeToString(tid[:]), "hi", 2.0)
		select {
		case args := <-got:
			if len(args) != 3 || args[0] != hex.EncodeToString(sid[:]) || args[1] != "hi" || args[2] != 2.0 {
				t.Errorf("%q: onRelay%v", path, args)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: the target got no onRelay", path)
		}
	}
	sender := f.mustDial("", client.Options{})
	_, err := sender.Call(ctxT(t), "relay", strings.Repeat("ab", 32), "hi")
	var ce *client.CallError
	if !errors.As(err, &ce) || !strings.Contains(ce.Status.Description, "not found") {
		t.Errorf("relay to nobody: %v", err)
	}
}

func TestCumulusObject(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": `
function onConnection(client)
	function client:misc()
		local a, b, c = cumulus:fromAMF(cumulus:toAMF("s", 2, {k = "v"}))
		local blob = cumulus:fromAMF(cumulus:toAMF({__raw = "\001\002"}))
		return {
			same = mona == cumulus,
			epoch = cumulus.epochTime,
			listen = cumulus.configs.listen,
			nested = cumulus.configs.a.b,
			off = cumulus.configs.off == false,
			roundTrip = a .. b .. c.k,
			raw = blob.__raw == "\001\002",
		}
	end
	function client:log()
		INFO("info ", 1, " ", true, " ", nil)
		NOTE("note") WARN("warn") ERROR("error") DEBUG("debug") CRITIC("critic") TRACE("trace")
	end
	function client:ban(ip) cumulus:addToBlacklist(ip) end
	function client:unban(ip) cumulus:removeFromBlacklist(ip) end
end`}, options{configs: map[string]string{"listen": "127.0.0.1:0", "a.b": "c", "off": "false"}})
	c := f.mustDial("", client.Options{})
	before := f.clock.Now().UnixMilli()
	info, _ := call(t, c, "misc")[0].(*amf.Object)
	if info == nil {
		t.Fatal("no answer")
	}
	for k, want := range map[string]any{"same": true, "listen": "127.0.0.1:0", "nested": "c", "off": true, "roundTrip": "s2v", "raw": true} {
		if v, _ := info.Get(k); v != want {
			t.Errorf("%s = %#v, want %#v", k, v, want)
		}
	}
	if v, _ := info.GetNumber("epoch"); int64(v) < before-1000 || int64(v) > before+10000 {
		t.Errorf("epochTime %v, clock %d", v, before)
	}

	call(t, c, "log")
	e := f.waitLog("info 1 (true) (null)", "", "")
	if e.ContextMap()["app"] != "/" || !strings.HasPrefix(fmt.Sprint(e.ContextMap()["script"]), "www/main.lua:") {
		t.Errorf("log entry %+v: want the application and the script line", e.ContextMap())
	}
	for _, m := range []string{"note", "warn", "error", "debug", "critic", "trace"} {
		f.waitLog(m, "fn", strings.ToUpper(m))
	}

	// The blacklist: a client on 127.0.0.2 is refused once banned, served once not.
	ip := netip.MustParseAddr("127.0.0.2")
	call(t, c, "ban", "127.0.0.2")
	if !f.srv.Banned().Banned(ip) {
		t.Fatal("addToBlacklist did not ban")
	}
	ep, err := client.NewEndpoint(f.sys, client.EndpointConfig{Listen: "127.0.0.2:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ep.Close(ctxT(t)) })
	// The server drops a banned client's datagrams without a word: once it counted one,
	// the connect can only wait in vain, and is ended.
	ctx, cancel := contextWithTimeout(15 * time.Second)
	defer cancel()
	refused := make(chan error, 1)
	go func() {
		_, err := ep.Connect(ctx, f.url(""), client.Options{})
		refused <- err
	}()
	eventually(t, "a datagram counted as banned", func() bool { return f.srv.Endpoints()[0].Stats.DropBanned.Load() > 0 })
	cancel()
	if err := <-refused; err == nil {
		t.Fatal("a banned client connected")
	}
	call(t, c, "unban", "127.0.0.2")
	if _, err := ep.Connect(ctxT(t), f.url(""), client.Options{}); err != nil {
		t.Fatalf("an unbanned client: %v", err)
	}
}

// TestApplicationInheritance: a child application sees its parent's globals, has super
// and its parent by name, uses its parent's events in its own environment, and overrides.
func TestApplicationInheritance(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{
		"main.lua": `
greeting = "hello from www"
where = "www"
function onConnection(client)
	function client:where() return where end
end`,
		"games/main.lua": `
where = "games"
shadow = "games' own"
function hello() return greeting .. " via " .. super.where .. "/" .. www.where end`,
		"games/chess/main.lua": `
where = "chess"
function onConnection(client)
	super.onConnection(client)
	function client:climb()
		local before = shadow
		shadow = "chess' own"
		local mine = shadow
		shadow = nil
		return {before, mine, shadow, games.where, super.super.where, hello()}
	end
end`,
	}, options{})
	root := f.mustDial("", client.Options{})
	if got := call(t, root, "where"); got[0] != "www" {
		t.Errorf("root where = %v", got)
	}
	games := f.mustDial("games", client.Options{})
	if got := call(t, games, "where"); got[0] != "games" {
		t.Errorf("an inherited onConnection runs in the child's environment: where = %v", got)
	}
	chess := f.mustDial("games/chess", client.Options{})
	if got := call(t, chess, "where"); got[0] != "www" {
		t.Errorf("a parent's function called through super runs in the parent's environment: where = %v", got)
	}
	got := call(t, chess, "climb")
	want := []any{"games' own", "chess' own", "games' own", "games", "www", "hello from www via www/www"}
	list, _ := got[0].([]any)
	if fmt.Sprint(list) != fmt.Sprint(want) {
		t.Errorf("climb = %v, want %v", list, want)
	}
}

// TestHandshakeRedirect: onHandshake sends a client to another server before it has a
// session there.
func TestHandshakeRedirect(t *testing.T) {
	t.Parallel()
	other := start(t, map[string]string{"main.lua": `
function onConnection(client) function client:which() return "other" end end`}, options{})
	f := start(t, map[string]string{"main.lua": probe + `
function onHandshake(address, path, properties, attempts)
	record("handshake", path, properties.go, attempts)
	if properties.go == "away" then return {"not an address", "` + other.srv.Addrs()[0].String() + `"} end
end
function onConnection(client)
	probeMethods(client)
	function client:which() return "this" end
end`}, options{})
	stay := f.mustDial("?go=stay", client.Options{})
	if got := call(t, stay, "which"); got[0] != "this" {
		t.Errorf("a client not redirected is served by %v", got)
	}
	away := f.mustDial("?go=away", client.Options{})
	if got := call(t, away, "which"); got[0] != "other" {
		t.Errorf("a redirected client is served by %v", got)
	}
	evs := eventsOf(t, stay)
	if len(evs) == 0 || evs[0] != "handshake  stay 1" {
		t.Errorf("events %q", evs)
	}
	f.waitLog("not an address", "value", "not an address")
}

// TestRendezvousUnknown: a client asks to meet a peer that is not connected here;
// onRendezVousUnknown names where to look.
func TestRendezvousUnknown(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": probe + `
function onConnection(client) probeMethods(client) end
function onRendezVousUnknown(peerId)
	record("unknown", #peerId)
	return "127.0.0.1:9"
end`}, options{})
	c := f.mustDial("", client.Options{})
	unknown := cryptoutil.PeerID(sha256.Sum256([]byte("nobody")))
	// Nobody answers at 127.0.0.1:9: once redirected there, the play can only wait in vain,
	// and is ended.
	ctx, cancel := contextWithTimeout(15 * time.Second)
	defer cancel()
	played := make(chan struct{})
	go func() {
		defer close(played)
		_, _ = c.PlayPeer(ctx, unknown, "x")
	}()
	waitEvent(t, c, "unknown 32")
	eventually(t, "the redirect", func() bool { return f.srv.RendezvousStats().Redirected.Load() > 0 })
	cancel()
	<-played
}

// TestGoAndLuaApplicationsShareAServer: a Go application serves one path, the Lua
// applications the others.
func TestGoAndLuaApplicationsShareAServer(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": `
function onConnection(client) function client:who() return "lua" end end`}, options{
		apps: func(reg *luaapp.Registry) app.Registry {
			return luaapp.Overlay{Registry: reg, Apps: map[string]app.Application{"go": goApp{}}}
		},
	})
	if got := call(t, f.mustDial("go", client.Options{}), "who"); got[0] != "go" {
		t.Errorf("/go answered %v", got)
	}
	if got := call(t, f.mustDial("", client.Options{}), "who"); got[0] != "lua" {
		t.Errorf("/ answered %v", got)
	}
	_, err := f.dial("nothing", client.Options{})
	var ce *client.ConnectError
	if !errors.As(err, &ce) || ce.Status.Code != flash.CodeConnectInvalidApp {
		t.Errorf("/nothing: %v", err)
	}
}

type goApp struct{}

func (goApp) OnConnect(app.Client, []any) ([]amf.Property, error) { return nil, nil }
func (goApp) OnCall(_ app.Client, method string, _ []any) ([]any, error) {
	if method == "who" {
		return []any{"go"}, nil
	}
	return nil, app.ErrMethodNotFound
}
