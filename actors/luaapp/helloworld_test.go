package luaapp_test

import (
	"testing"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
)

// TestHelloWorld runs both generations of the HelloWorld of Cumulus' wiki ("Server
// Application", communication between server and client) unchanged.
func TestHelloWorld(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{
		// 2013 and later (also MonaServer's documentation).
		"main.lua": `function onConnection(client,...)
	function client:test(name,firstname)
		return "Hello "..firstname.." "..name
	end
end
`,
		// 2012: Lua 5.1's implicit arg table, onConnection(client, response, ...).
		"old/main.lua": `function onConnection(client,response,...)
  function client:test(...)
    name,firstname = unpack(arg)
    return "Hello "..firstname.." "..name
  end
end
`,
	}, options{})
	for _, c := range []struct{ path, name, first, want string }{
		{"", "Client", "Test", "Hello Test Client"},
		{"old", "OpenRTMFP/Cumulus", "World", "Hello World OpenRTMFP/Cumulus"},
	} {
		for _, d := range []client.Dialect{client.Flash, client.RFC7425} {
			conn := f.mustDial(c.path, client.Options{Dialect: d})
			got := call(t, conn, "test", c.name, c.first)
			if len(got) != 1 || got[0] != c.want {
				t.Errorf("%q (%v): test answered %#v, want %q", c.path, d, got, c.want)
			}
		}
	}
}
