package luaapp_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// callErr calls method and returns the description of its _error (failing the test if
// it succeeds).
func callErr(t *testing.T, c *client.Conn, method string, args ...any) string {
	t.Helper()
	got, err := c.Call(ctxT(t), method, args...)
	var ce *client.CallError
	if !errors.As(err, &ce) || ce.Status.Code != flash.CodeCallFailed {
		t.Fatalf("%s: %v %v, want NetConnection.Call.Failed", method, got, err)
	}
	return ce.Status.Description
}

// TestRunawayCallsAreStopped: calls that do not end are stopped by the budget with an
// error to their client, the state serves the next call, and another application
// answers all along.
func TestRunawayCallsAreStopped(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{
		"loop/main.lua": `
function onConnection(client)
	function client:spin() while true do end end
	function client:spinInPcall() while true do pcall(function() while true do end end) end end
	function client:spinInCoroutine() coroutine.wrap(function() while true do end end)() end
	function client:backtrack() return string.find(string.rep("a", 5000), string.rep("a*", 20) .. "b") end
	function client:recurse() local function f(n) return 1 + f(n + 1) end return f(1) end
	function client:ok() return "still here" end
end`,
		"other/main.lua": `function onConnection(client) function client:echo(x) return x end end`,
	}, options{callTimeout: 300 * time.Millisecond})
	loop := f.mustDial("loop", client.Options{})
	other := f.mustDial("other", client.Options{})
	for _, m := range []string{"spin", "spinInPcall", "spinInCoroutine", "backtrack"} {
		done := make(chan string, 1)
		go func() {
			_, err := loop.Call(ctxT(t), m)
			var ce *client.CallError
			if errors.As(err, &ce) {
				done <- ce.Status.Description
			} else {
				done <- "no _error: " + errString(err)
			}
		}()
		// While the loop runs, the other application answers.
		if got := call(t, other, "echo", m); got[0] != m {
			t.Errorf("the other application answered %v", got)
		}
		select {
		case d := <-done:
			if !strings.Contains(d, "script exceeded its time budget of 300ms") {
				t.Errorf("%s: %q, want the budget's error", m, d)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s was not stopped", m)
		}
		if got := call(t, loop, "ok"); got[0] != "still here" {
			t.Errorf("after %s the application answered %v", m, got)
		}
	}
	if n := f.reg.Stats().Timeouts.Load(); n != 4 {
		t.Errorf("%d timeouts counted, want 4", n)
	}
	if d := callErr(t, loop, "recurse"); !strings.Contains(d, "stack overflow") {
		t.Errorf("endless recursion: %q", d)
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// TestForbiddenCalls: a script reaches neither the process nor files outside its
// application's folder; inside it, it may read and write.
func TestForbiddenCalls(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{
		"app/main.lua": `
function onConnection(client)
	function client:absent()
		local names = {}
		for _, n in ipairs({"os.execute", "os.exit", "os.getenv", "os.remove", "os.rename", "os.setenv", "os.tmpname",
				"io.popen", "io.tmpfile", "io.read", "io.write", "package.loadlib", "debug", "string.dump", "channel"}) do
			local v = _G
			for part in n:gmatch("[^.]+") do v = v and v[part] end
			if v ~= nil then names[#names + 1] = n end
		end
		return names
	end
	function client:open(name) local f, err = io.open(name) if f then f:close() return "opened" end return err end
	function client:execute() return os.execute("touch /tmp/pwned") end
	function client:load(name) local ok, err = pcall(dofile, name) return tostring(err) end
	function client:need(name) local ok, err = pcall(require, name) return ok and "loaded" or tostring(err) end
	function client:roundTrip()
		local f = assert(io.open("notes.txt", "w"))
		f:write("line one\n", 2, "\n")
		f:close()
		local lines = {}
		for l in io.lines("notes.txt") do lines[#lines + 1] = l end
		return table.concat(lines, "|")
	end
end`,
		"app/helper.lua": `return {}`,
		"secret.txt":     "not for scripts",
	}, options{})
	c := f.mustDial("app", client.Options{})
	if got := call(t, c, "absent"); len(got[0].([]any)) != 0 {
		t.Errorf("present: %v", got)
	}
	for _, name := range []string{"../secret.txt", "/etc/passwd", "../../../etc/passwd"} {
		if got := call(t, c, "open", name); got[0] == "opened" {
			t.Errorf("io.open(%q) opened a file outside the application's folder", name)
		}
	}
	if d := callErr(t, c, "execute"); !strings.Contains(d, "attempt to call a non-function object") {
		t.Errorf("os.execute: %q", d)
	}
	for _, name := range []string{"../../../etc/passwd", "/../etc/passwd"} {
		if got := call(t, c, "load", name); !strings.Contains(got[0].(string), "outside") && !strings.Contains(got[0].(string), "cannot open") {
			t.Errorf("dofile(%q): %v", name, got)
		}
	}
	if got := call(t, c, "need", "helper"); got[0] != "loaded" {
		t.Errorf("require of a module of the application: %v", got)
	}
	if got := call(t, c, "need", "..secret"); got[0] == "loaded" {
		t.Errorf("require reached outside: %v", got)
	}
	if got := call(t, c, "roundTrip"); got[0] != "line one|2" {
		t.Errorf("writing and reading a file of the application: %v", got)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "app", "notes.txt")); err != nil {
		t.Errorf("the file was not written in the application's folder: %v", err)
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Errorf("os.execute ran")
	}
}

// TestMemoryIsBounded: a script that grabs memory in a call is stopped with an error to
// its client, and the server goes on.
func TestMemoryIsBounded(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{
		"hog/main.lua": `
function onConnection(client)
	function client:grab() local t = {} while true do t[#t + 1] = string.rep("x", 1e6) end end
	function client:double() local s = "x" while true do s = s .. s end end
	function client:tables() local t = {} for i = 1, 1e9 do t[i] = {i} end end
	function client:sparse() local t = {} t[1e8] = 1 return #t end
	function client:unpackAll() return unpack({}, 1, 1e7) end
	function client:ok() return "alive" end
end`,
		"other/main.lua": `function onConnection(client) function client:echo(x) return x end end`,
	}, options{memory: 4 << 20, callTimeout: time.Minute}) // the memory limit, not the budget, must stop them (slow under -race)
	hog := f.mustDial("hog", client.Options{})
	other := f.mustDial("other", client.Options{})
	for m, want := range map[string]string{
		"grab":      "memory limit exceeded",
		"double":    "string too long",
		"tables":    "memory limit exceeded",
		"unpackAll": "too many results to unpack",
	} {
		if d := callErr(t, hog, m); !strings.Contains(d, want) {
			t.Errorf("%s: %q, want %q", m, d, want)
		}
		if got := call(t, hog, "ok"); got[0] != "alive" {
			t.Errorf("after %s: %v", m, got)
		}
		if got := call(t, other, "echo", m); got[0] != m {
			t.Errorf("the other application after %s: %v", m, got)
		}
	}
	if got := call(t, hog, "sparse"); got[0] != 0.0 {
		t.Errorf("a sparse index made an array: #t = %v", got)
	}
	if n := f.reg.Stats().MemoryStops.Load(); n != 2 {
		t.Errorf("%d memory stops counted, want 2 (grab and tables)", n)
	}
}

// TestMemoryIsBoundedAcrossCalls: a state that grows by a little in each of many short
// calls — strings it makes, values its client sends — has a call stopped before it holds
// much more than its limit, with no manage tick in between; and once it is over its limit,
// the next manage tick makes the application refuse new clients.
func TestMemoryIsBoundedAcrossCalls(t *testing.T) {
	t.Parallel()
	const limit, size = 4 << 20, 256 << 10 // each call keeps a sixteenth of the limit
	script := `
keep = {}
function onConnection(client)
	function client:hoard() keep[#keep + 1] = string.rep("y", 256 * 1024) return #keep end
	function client:store(x) keep[#keep + 1] = x return #keep end
	function client:count() return #keep end
end`
	f := start(t, map[string]string{"made/main.lua": script, "sent/main.lua": script},
		options{memory: limit, callTimeout: time.Minute}) // the memory limit, not the budget, must stop them
	sent := strings.Repeat("z", size)
	// A call is stopped before the state kept 1.5 times its limit: what it can hold beyond
	// the limit is what was made since it was last measured (a quarter of the limit) and one
	// value.
	const most = limit * 3 / 2 / size
	conns := map[string]*client.Conn{"made": f.mustDial("made", client.Options{}), "sent": f.mustDial("sent", client.Options{})}
cases:
	for _, c := range []struct {
		app, method string
		args        []any
	}{{"made", "hoard", nil}, {"sent", "store", []any{sent}}} {
		conn := conns[c.app]
		stopped := false
		for i := 0; i < 2*most && !stopped; i++ {
			got, err := conn.Call(ctxT(t), c.method, c.args...)
			var ce *client.CallError
			switch {
			case errors.As(err, &ce):
				if !strings.Contains(ce.Status.Description, "memory limit exceeded") {
					t.Fatalf("%s: %q", c.method, ce.Status.Description)
				}
				stopped = true
			case err != nil:
				t.Fatalf("%s: %v", c.method, err)
			case got[0].(float64) > most:
				t.Errorf("%s: the state keeps %v × %d KB, its limit is %d KB", c.method, got[0], size>>10, limit>>10)
				continue cases
			}
		}
		if !stopped {
			t.Errorf("%s: %d calls kept %d KB each and none was stopped (the limit is %d KB)", c.method, 2*most, size>>10, limit>>10)
		}
	}

	// Between calls. The state a stopped call left may be just within its limit: it is
	// driven over it (count is stopped too if the state is walked and found over it). The
	// manage tick runs on its own too (the clock runs at real speed): the refusal may come
	// from it.
	hog := conns["made"]
	over := func() bool {
		got, err := hog.Call(ctxT(t), "count")
		var ce *client.CallError
		if errors.As(err, &ce) && strings.Contains(ce.Status.Description, "memory limit exceeded") {
			return true
		}
		if err != nil {
			t.Fatalf("count: %v", err)
		}
		return got[0].(float64)*size > limit
	}
	for i := 0; !over(); i++ {
		if i == most {
			t.Fatalf("%d more calls did not put the state over its limit", i)
		}
		_, _ = hog.Call(ctxT(t), "hoard")
	}
	// The manage tick finds it. A skip of the clock fires the tick only once the
	// application re-armed it after the last one: skip until the check has run (the event).
	eventually(t, "the manage tick's memory check", func() bool {
		f.manage()
		return f.logs.FilterMessageSnippet("application exceeded its memory limit").FilterField(zap.String("app", "/made")).Len() > 0
	})
	_, err := f.dial("made", client.Options{})
	var ce *client.ConnectError
	if !errors.As(err, &ce) || !strings.Contains(ce.Status.Description, "memory limit") {
		t.Errorf("a state over its memory limit: a new client got %v", err)
	}
}

// TestNoScriptRunsOutsideACall: what the host reads of a script between calls (events to
// call, an error's message) never runs the script's own functions, which no budget would
// stop there.
func TestNoScriptRunsOutsideACall(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": `
setmetatable(_G, {__index = function() while true do end end})
function onConnection(client)
	function client:fail() error(setmetatable({}, {__tostring = function() while true do end end})) end
	function client:ok() return "ok" end
end`}, options{callTimeout: 200 * time.Millisecond})
	c := f.mustDial("", client.Options{}) // onConnection is looked up; onStart, onManage… are not there
	if d := callErr(t, c, "fail"); d != "script error (a table value)" {
		t.Errorf("an error object: %q", d)
	}
	f.manage() // onManage is looked up
	if got := call(t, c, "ok"); got[0] != "ok" {
		t.Errorf("ok: %v", got)
	}
}
