package luaapp_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

func version(v string) string {
	return `
function onStart(path) NOTE("start ` + v + `") end
function onStop(path) NOTE("stop ` + v + `") end
function onConnection(client) function client:version() return "` + v + `" end end
`
}

// logIndex returns the position of the first log entry with message msg, or -1.
func (f *fixture) logIndex(msg string) int {
	for i, e := range f.logs.All() {
		if e.Message == msg {
			return i
		}
	}
	return -1
}

func TestEditReloadsKeepingClients(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"app/main.lua": version("v1")}, options{})
	a := f.mustDial("app", client.Options{})
	f.write("app/main.lua", version("v2"))
	b := f.mustDial("app", client.Options{}) // a connect checks for changes first
	if got := call(t, b, "version"); got[0] != "v2" {
		t.Errorf("a client after the edit is served by %v", got)
	}
	if got := call(t, a, "version"); got[0] != "v1" {
		t.Errorf("a client connected before the edit is served by %v, want its own v1", got)
	}
	if stop, start := f.logIndex("stop v1"), f.logIndex("start v2"); stop < 0 || start < stop {
		t.Errorf("onStop of v1 at log %d, onStart of v2 at %d: want stop then start", stop, start)
	}
	f.waitLog("application reloaded", "app", "/app")

	// Without a connect, the manage tick notices.
	f.write("app/main.lua", version("v3"))
	f.manage()
	f.waitLog("start v3", "", "")
	if got := call(t, b, "version"); got[0] != "v2" {
		t.Errorf("b after the second edit: %v", got)
	}
	if n := f.reg.Stats().Reloads.Load(); n != 2 {
		t.Errorf("%d reloads counted, want 2", n)
	}
}

func TestLoadErrorRefusesNewClientsAndKeepsTheOthers(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": version("good")}, options{})
	a := f.mustDial("", client.Options{})

	for _, c := range []struct{ src, want string }{
		{"function onConnection(client)\n  x = = 1\nend\n", "www/main.lua:2: "},
		{"local t = nil\nlocal n = 1\nt.x = 1\n", "www/main.lua:3: "},
		{"error('broken on purpose')\n", "www/main.lua:1: broken on purpose"},
	} {
		f.write("main.lua", c.src)
		_, err := f.dial("", client.Options{})
		var ce *client.ConnectError
		if !errors.As(err, &ce) || ce.Status.Code != flash.CodeConnectRejected || !strings.HasPrefix(ce.Status.Description, c.want) {
			t.Errorf("%q: %v, want Connect.Rejected %q…", c.src, err, c.want)
		}
		if ce != nil {
			f.waitLog("application failed to load", "error", ce.Status.Description)
		}
		if got := call(t, a, "version"); got[0] != "good" {
			t.Errorf("the client of the good version is served by %v", got)
		}
	}
	if n := f.reg.Stats().LoadErrors.Load(); n != 3 {
		t.Errorf("%d load errors counted, want 3", n)
	}

	f.write("main.lua", version("fixed"))
	c := f.mustDial("", client.Options{})
	if got := call(t, c, "version"); got[0] != "fixed" {
		t.Errorf("after the fix: %v", got)
	}
}

func TestRemovedApplicationIsInvalidForNewClients(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"app/main.lua": version("here")}, options{})
	a := f.mustDial("app", client.Options{})
	if err := os.Remove(filepath.Join(f.dir, "app", "main.lua")); err != nil {
		t.Fatal(err)
	}
	_, err := f.dial("app", client.Options{})
	var ce *client.ConnectError
	if !errors.As(err, &ce) || ce.Status.Code != flash.CodeConnectInvalidApp {
		t.Errorf("a removed application: %v, want InvalidApp", err)
	}
	if got := call(t, a, "version"); got[0] != "here" {
		t.Errorf("its connected client: %v", got)
	}
	f.write("app/main.lua", version("back"))
	if got := call(t, f.mustDial("app", client.Options{}), "version"); got[0] != "back" {
		t.Errorf("the application written again: %v", got)
	}
}

func TestEditingARequiredModuleReloads(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{
		"main.lua": `
local util = require("lib.util")
function onConnection(client) function client:answer() return util.answer() end end`,
		"lib/util.lua": `return {answer = function() return 1 end}`,
	}, options{})
	if got := call(t, f.mustDial("", client.Options{}), "answer"); got[0] != 1.0 {
		t.Fatalf("answer %v", got)
	}
	f.write("lib/util.lua", `return {answer = function() return 2 end}`)
	if got := call(t, f.mustDial("", client.Options{}), "answer"); got[0] != 2.0 {
		t.Errorf("after editing the module: %v", got)
	}
	// A broken module refuses new clients; fixing it (the module alone) reloads.
	f.write("lib/util.lua", `return {answer = function() return 3 end`)
	if _, err := f.dial("", client.Options{}); err == nil || !strings.Contains(err.Error(), "www/lib/util.lua") {
		t.Errorf("with a broken module: %v", err)
	}
	f.write("lib/util.lua", `return {answer = function() return 4 end}`)
	if got := call(t, f.mustDial("", client.Options{}), "answer"); got[0] != 4.0 {
		t.Errorf("after fixing the module: %v", got)
	}
}

// TestParentEditReloadsChild: a child application loads its parent's script; editing the
// parent reloads the child.
func TestParentEditReloadsChild(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{
		"main.lua":       `motd = "one"`,
		"child/main.lua": `function onConnection(client) function client:motd() return motd end end`,
	}, options{})
	if got := call(t, f.mustDial("child", client.Options{}), "motd"); got[0] != "one" {
		t.Fatalf("motd %v", got)
	}
	f.write("main.lua", `motd = "two"`)
	if got := call(t, f.mustDial("child", client.Options{}), "motd"); got[0] != "two" {
		t.Errorf("after editing the parent: %v", got)
	}
}
