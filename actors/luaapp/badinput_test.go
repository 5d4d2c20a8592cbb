package luaapp_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// TestMalformedAMFFromAClient: a call whose arguments are not valid AMF is answered with
// an error naming it, counted and logged; the client and the others go on.
func TestMalformedAMFFromAClient(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": `
function onConnection(client) function client:echo(x) return x end end`}, options{})
	bad := f.mustDial("", client.Options{})
	good := f.mustDial("", client.Options{})
	before := f.srv.Stats().NetConn.BadMessages.Load()
	for _, garbage := range [][]byte{
		{amf.AMF0Object, 0x00, 0x05, 'a'},         // an object cut in its first key
		{amf.AMF0String, 0xFF, 0xFF, 'x'},         // a string longer than the message
		{0x42},                                    // no such marker
		{amf.AMF0AVMPlus, 0x0A, 0xFF, 0xFF, 0xFF}, // an AMF3 object with a bad reference
	} {
		_, err := bad.CallRaw(ctxT(t), func(txn float64) []byte {
			b := flash.AppendMessageHeader(nil, flash.TypeCommandAMF0, 0)
			b = amf.AppendAMF0String(b, "echo")
			b = amf.AppendAMF0Number(b, txn)
			b = amf.AppendAMF0Null(b)
			return append(b, garbage...)
		})
		var ce *client.CallError
		if !errors.As(err, &ce) || ce.Status.Code != flash.CodeCallFailed || !strings.Contains(ce.Status.Description, "malformed AMF in the arguments of 'echo'") {
			t.Errorf("% x: %v, want Call.Failed naming the malformed arguments", garbage, err)
		}
	}
	if n := f.srv.Stats().NetConn.BadMessages.Load() - before; n != 4 {
		t.Errorf("%d bad messages counted, want 4", n)
	}
	f.waitLog("malformed message from a client", "command", "echo")
	for _, c := range []*client.Conn{bad, good} {
		if got := call(t, c, "echo", "fine"); got[0] != "fine" {
			t.Errorf("after the malformed calls: %v", got)
		}
	}
}

// TestValuesAMFCannotCarry: what a script returns or sends that AMF cannot carry is an
// error to the client, counted and logged, and nothing else.
func TestValuesAMFCannotCarry(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": `
function onConnection(client)
	function client:fn() return function() end end
	function client:cycle() local t = {} t.self = t return t end
	function client:thread() return coroutine.create(function() end) end
	function client:deep() local t = {} local cur = t for i = 1, 200 do cur.next = {} cur = cur.next end return t end
	function client:send() client.writer:writeAMFMessage("x", print) end
	function client:fine() return "fine" end
	return {ok = true, notThis = function() end}
end`}, options{})
	c := f.mustDial("", client.Options{})
	extra := map[string]bool{}
	for _, p := range c.Result().Extra {
		extra[p.Key] = true
	}
	if !extra["ok"] || extra["notThis"] {
		t.Errorf("connect properties %v: want ok, without the function", c.Result().Extra)
	}
	for m, want := range map[string]string{
		"fn":     "a function cannot be sent as AMF",
		"cycle":  "a table that contains itself",
		"thread": "a thread cannot be sent as AMF",
		"deep":   "nested more than",
		"send":   "writeAMFMessage: argument 1: a function cannot be sent as AMF",
	} {
		if d := callErr(t, c, m); !strings.Contains(d, want) {
			t.Errorf("%s: %q, want %q", m, d, want)
		}
	}
	if n := f.reg.Stats().BadValues.Load(); n != 5 {
		t.Errorf("%d bad values counted, want 5 (connect field, fn, cycle, thread, deep)", n)
	}
	f.waitLog("a method returned a value that cannot be sent", "method", "fn")
	if got := call(t, c, "fine"); got[0] != "fine" {
		t.Errorf("after the bad values: %v", got)
	}
}

// TestScriptFailingEverywhere: an application whose every event raises an error hurts
// only itself: its clients get the errors, the log and counters have them, another
// application serves on.
func TestScriptFailingEverywhere(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{
		"broken/main.lua": `
function onStart() error("onStart fails") end
function onConnection(client)
	if client.reject then error("onConnection fails") end
	function client:m() error("method fails") end
end
function onDisconnection() error("onDisconnection fails") end
function onPublish() error("onPublish fails") end
function onSubscribe() error("onSubscribe fails") end
function onJoinGroup() error("onJoinGroup fails") end
function onManage() error("onManage fails") end
function onStop() error("onStop fails") end`,
		"fine/main.lua": `function onConnection(client) function client:echo(x) return x end end`,
	}, options{})
	fine := f.mustDial("fine", client.Options{})
	if _, err := f.dial("broken?reject=1", client.Options{}); err == nil || !strings.Contains(err.Error(), "onConnection fails") {
		t.Errorf("onConnection: %v", err)
	}
	c := f.mustDial("broken", client.Options{})
	if d := callErr(t, c, "m"); !strings.Contains(d, "method fails") {
		t.Errorf("method: %q", d)
	}
	if _, err := c.Publish(ctxT(t), "x"); err == nil || !strings.Contains(err.Error(), "onPublish fails") {
		t.Errorf("publish: %v", err)
	}
	if _, err := c.Play(ctxT(t), "x"); err == nil || !strings.Contains(err.Error(), "onSubscribe fails") {
		t.Errorf("play: %v", err)
	}
	g, err := c.JoinGroup(ctxT(t), [32]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.Rejected():
	case <-ctxT(t).Done():
		t.Error("the group join was not refused")
	}
	f.manage()
	f.waitLog("script error", "error", "onManage fails")
	c.Close()
	f.waitLog("script error", "error", "onDisconnection fails")
	for _, e := range []string{"onStart fails", "method fails", "onPublish fails", "onSubscribe fails", "onJoinGroup fails"} {
		f.waitLog("script error", "error", e)
	}
	if n := f.reg.Stats().Errors.Load(); n < 8 {
		t.Errorf("%d script errors counted, want at least 8", n)
	}
	if got := call(t, fine, "echo", "still"); got[0] != "still" {
		t.Errorf("the other application: %v", got)
	}
}
