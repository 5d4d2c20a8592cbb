package luaapp_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/internal/netsim"
	"github.com/actorrtmfp/actorrtmfp/actors/rtmp/rtmpclient"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// probe is Lua that records events in a list the test reads with client:events() (or
// the probe application's `events` method of any client).
const probe = `
events = {}
function record(...)
	local parts = {}
	for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
	events[#events + 1] = table.concat(parts, " ")
end
function probeMethods(client)
	function client:events() return events end
end
`

// eventsOf reads the probe's events through c.
func eventsOf(t *testing.T, c *client.Conn) []string {
	t.Helper()
	got := call(t, c, "events")
	if len(got) == 0 {
		return nil
	}
	var out []string
	list, _ := got[0].([]any)
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// waitEvent waits until the probe recorded want (read through c).
func waitEvent(t *testing.T, c *client.Conn, want string) []string {
	t.Helper()
	var evs []string
	eventually(t, "event "+want, func() bool {
		evs = eventsOf(t, c)
		for _, e := range evs {
			if e == want {
				return true
			}
		}
		return false
	})
	return evs
}

func TestConnectionDecidesAndAddsProperties(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": `
function onConnection(client, user, key)
	if user == "nobody" then error("who are you?") end
	if user == "false" then return false end
	if user == "2012" then return "Invalid developer key" end
	if user == "quiet" then error("just this", 0) end
	return {motd = "hello " .. user, level = key, list = {1, 2}}
end`}, options{})
	c := f.mustDial("", client.Options{Args: []any{"ada", 42.0}})
	res := c.Result()
	if res.Code != flash.CodeConnectSuccess {
		t.Fatalf("connect: %+v", res)
	}
	extra := map[string]any{}
	for _, p := range res.Extra {
		extra[p.Key] = p.Value
	}
	if extra["motd"] != "hello ada" || extra["level"] != 42.0 {
		t.Errorf("success info extra %+v, want motd and level", res.Extra)
	}
	for user, want := range map[string]string{
		"nobody": "www/main.lua:3: who are you?",
		"false":  "client rejected",
		"2012":   "Invalid developer key",
		"quiet":  "just this",
	} {
		_, err := f.dial("", client.Options{Args: []any{user}})
		var ce *client.ConnectError
		if !errors.As(err, &ce) || ce.Status.Code != flash.CodeConnectRejected || ce.Status.Description != want {
			t.Errorf("user %q: %v, want Connect.Rejected %q", user, err, want)
		}
	}
}

func TestMissingApplicationIsInvalidApp(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"a/main.lua": `function onConnection() end`}, options{})
	for _, path := range []string{"", "b", "a/x", "../a", "a/../a"} {
		_, err := f.dial(path, client.Options{})
		var ce *client.ConnectError
		if !errors.As(err, &ce) || ce.Status.Code != flash.CodeConnectInvalidApp {
			t.Errorf("%q: %v, want Connect.InvalidApp", path, err)
		}
	}
	f.mustDial("a", client.Options{})
}

func TestMethodsAnswerResultsAndErrors(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": `
function onConnection(client)
	function client:sum(a, b) return a + b end
	function client:two() return "x", {k = "v"} end
	function client:nothing() end
	function client:fail(why) error(why) end
	function client:extra() client.writer:writeAMFResult("more") return "first" end
	function client:echo(...) return ... end
end`}, options{})
	c := f.mustDial("", client.Options{})
	if got := call(t, c, "sum", 2.0, 3.0); len(got) != 1 || got[0] != 5.0 {
		t.Errorf("sum: %v", got)
	}
	if got := call(t, c, "two"); len(got) != 2 || got[0] != "x" {
		t.Errorf("two: %#v", got)
	}
	if got := call(t, c, "nothing"); len(got) != 0 {
		t.Errorf("nothing: %v", got)
	}
	if got := call(t, c, "extra"); len(got) != 2 || got[0] != "first" || got[1] != "more" {
		t.Errorf("extra: %v", got)
	}
	obj := amf.NewObject(amf.Property{Key: "name", Value: "x"}, amf.Property{Key: "list", Value: []any{1.0, "two"}})
	got := call(t, c, "echo", "s", 1.5, true, nil, obj)
	if len(got) != 5 || got[0] != "s" || got[1] != 1.5 || got[2] != true || got[3] != nil {
		t.Errorf("echo: %#v", got)
	} else if o, ok := got[4].(*amf.Object); !ok || len(o.Props) != 2 || o.Props[0].Key != "name" {
		t.Errorf("echo of an object: %#v", got[4])
	}
	_, err := c.Call(ctxT(t), "fail", "as asked")
	var ce *client.CallError
	if !errors.As(err, &ce) || ce.Status.Code != flash.CodeCallFailed || ce.Status.Description != "www/main.lua:6: as asked" {
		t.Errorf("fail: %v", err)
	}
	_, err = c.Call(ctxT(t), "nowhere")
	if !errors.As(err, &ce) || ce.Status.Description != "Method 'nowhere' not found" {
		t.Errorf("nowhere: %v", err)
	}
}

func TestClientObject(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"app/main.lua": `
function onConnection(client)
	function client:fields()
		return {id = client.id, rawId = client.rawId, path = client.path, address = client.address,
			swfUrl = client.swfUrl, pageUrl = client.pageUrl, flashVersion = client.flashVersion,
			ping = type(client.ping), color = client.color, missing = client.missing == nil,
			protocol = client.protocol, count = cumulus.clients.count, me = cumulus.clients(client.id) == client,
			meRaw = cumulus.clients(client.rawId) == client}
	end
end`}, options{})
	c := f.mustDial("app?color=blue", client.Options{ConnectObject: []amf.Property{
		{Key: "swfUrl", Value: "http://example.com/a.swf"}, {Key: "pageUrl", Value: "http://example.com/"}, {Key: "flashVer", Value: "WIN 32,0,0,100"},
	}})
	got := call(t, c, "fields")
	o, ok := got[0].(*amf.Object)
	if !ok {
		t.Fatalf("fields: %#v", got)
	}
	m := map[string]any{}
	for _, p := range o.Props {
		m[p.Key] = p.Value
	}
	id := c.PeerID()
	for k, want := range map[string]any{
		"id": hex.EncodeToString(id[:]), "path": "/app", "swfUrl": "http://example.com/a.swf", "pageUrl": "http://example.com/",
		"flashVersion": "WIN 32,0,0,100", "ping": "number", "color": "blue", "missing": true, "protocol": "RTMFP",
		"count": 1.0, "me": true, "meRaw": true,
	} {
		if m[k] != want {
			t.Errorf("client.%s = %#v, want %#v", k, m[k], want)
		}
	}
	if raw, _ := m["rawId"].(string); raw != string(id[:]) {
		t.Errorf("client.rawId = %q", raw)
	}
	if addr, _ := m["address"].(string); !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("client.address = %q", addr)
	}
}

// TestClientProtocolOverRTMP: an RTMP client meets the same script, which tells it apart
// by client.protocol (MonaServer's "RTMP").
func TestClientProtocolOverRTMP(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"app/main.lua": `
function onConnection(client)
	function client:which() return client.protocol end
end`}, options{})
	ctx, cancel := contextWithTimeout(10 * time.Second)
	defer cancel()
	c, err := rtmpclient.Dial(ctx, fmt.Sprintf("rtmp://%s/app", f.srv.RTMPAddrs()[0]), rtmpclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := c.Call(ctx, "which"); err != nil || len(got) != 1 || got[0] != "RTMP" {
		t.Fatalf("client.protocol over RTMP: %v %v", got, err)
	}
}

func TestWriterReachesTheClient(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": `
function onConnection(client)
	function client:poke(n)
		client.writer:writeAMFMessage("poked", n, {ok = true})
		client.writer:writeInvocation("pokedToo", n)
		client.writer:writeStatusResponse("Custom.Event", "something happened", "detail", 7)
		client.writer:flush()
	end
	function client:bye() client.writer:close() end
end`}, options{})
	calls := make(chan string, 8)
	c := f.mustDial("", client.Options{Handler: func(method string, args []any) {
		switch method {
		case "poked", "pokedToo":
			calls <- fmt.Sprint(method, " ", args[0])
		case "onStatus":
			st, err := flash.ParseStatus(args[0])
			if err == nil {
				calls <- fmt.Sprintf("status %s %s %v", st.Code, st.Description, st.Extra)
			}
		}
	}})
	call(t, c, "poke", 3.0)
	for _, want := range []string{"poked 3", "pokedToo 3", "status NetConnection.Custom.Event something happened [{detail 7}]"} {
		select {
		case got := <-calls:
			if got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
	c.Send("bye")
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("writer:close did not close the connection")
	}
}

func TestLifeCycleEvents(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": probe + `
function onStart(path) record("start", path) NOTE("started '", path, "'") end
function onStop(path) NOTE("stopped '", path, "'") end
function onConnection(client)
	probeMethods(client)
	record("connect")
	function client:onManage() record("client manage") end
end
function onDisconnection(client) record("disconnect") end
function onFailed(client, why) record("failed", why) end
function onManage() record("manage") end
`,
		"child/main.lua": `function onStart(path) NOTE("started '", path, "'") end`,
	}, options{})
	// The root application starts with the server, before any client; others with their
	// first client.
	f.waitLog("started ''", "", "")
	if f.logIndex("started '/child'") >= 0 {
		t.Error("a child application started before any client")
	}
	f.mustDial("child", client.Options{})
	f.waitLog("started '/child'", "", "")
	watcher := f.mustDial("", client.Options{})
	// The manage tick runs every 2 s on the clock from the server's start: on a busy
	// machine one can come before the watcher connects (issue 26: "start", "manage",
	// "connect"). The order checked is the root's start, then connect.
	evs := slices.DeleteFunc(eventsOf(t, watcher), func(e string) bool { return e == "manage" })
	if len(evs) < 2 || evs[0] != "start " || evs[1] != "connect" {
		t.Fatalf("events %q (manage ticks aside), want the root's start (with the server) then connect", evs)
	}
	f.manage()
	eventually(t, "a manage tick after the connection", func() bool {
		evs := eventsOf(t, watcher)
		i := slices.Index(evs, "connect")
		return i >= 0 && slices.Contains(evs[i+1:], "manage")
	})
	waitEvent(t, watcher, "client manage")

	other := f.mustDial("", client.Options{})
	other.Close()
	waitEvent(t, watcher, "disconnect")

	// Stopping the server stops the applications.
	ctx := ctxT(t)
	if err := f.srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	f.waitLog("stopped ''", "", "")
	f.waitLog("stopped '/child'", "", "")
}

func TestFailedClientIsReportedThenDisconnected(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": probe + `
function onConnection(client) probeMethods(client) end
function onDisconnection(client) record("disconnect", client.color) end
function onFailed(client, why) record("failed", client.color, why) end
`}, options{})
	// A client that vanishes without a word: the relay it talks through is cut.
	relay, err := netsim.New(f.srv.Addrs()[0], netsim.Link{}, netsim.Link{}, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	if _, err := f.dial(fmt.Sprintf("rtmfp://%s/?color=red", relay.Addr()), client.Options{}); err != nil {
		t.Fatal(err)
	}
	relay.Cut(true)
	f.clock.Skip(100 * time.Second) // beyond the idle timeout
	watcher := f.mustDial("", client.Options{})
	evs := waitEvent(t, watcher, "disconnect red")
	var failed string
	for _, e := range evs {
		if strings.HasPrefix(e, "failed red") {
			failed = e
		}
		if e == "disconnect red" && failed == "" {
			t.Fatalf("events %q: disconnection before the failure", evs)
		}
	}
	if !strings.Contains(failed, "session") {
		t.Errorf("failure %q does not say why", failed)
	}
}
