package luaapp

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// luaClient is a client as one state knows it.
type luaClient struct {
	c       app.Client
	st      *state
	table   *lua.LTable
	id      string // the peer ID in hex
	query   map[string][]string
	results []lua.LValue // writeAMFResult during a call, sent with its _result
	inCall  bool
	// groups and streams of the client, to leave them when it disconnects
	groups map[*luaGroup]struct{}
}

// newClient makes the table of a client: its fixed fields set, the others answered by
// the client metatable.
func (st *state) newClient(c app.Client) *luaClient {
	L := st.L
	peer := c.PeerID()
	lc := &luaClient{c: c, st: st, id: hex.EncodeToString(peer[:]), query: c.Query()}
	t := L.CreateTable(0, 12)
	t.RawSetString("id", lua.LString(lc.id))
	t.RawSetString("rawId", lua.LString(peer[:]))
	t.RawSetString("path", lua.LString(pathName(c.Path())))
	t.RawSetString("protocol", lua.LString(strings.ToUpper(c.Protocol()))) // MonaServer's "RTMFP", "RTMP"
	obj := c.ConnectObject()
	for field, key := range map[string]string{"swfUrl": "swfUrl", "pageUrl": "pageUrl", "flashVersion": "flashVer"} {
		if s, ok := obj.GetString(key); ok {
			t.RawSetString(field, lua.LString(s))
		}
	}
	w := L.NewUserData()
	w.Value = lc
	w.Metatable = st.meta.writer
	t.RawSetString("writer", w)
	t.Metatable = st.meta.client
	lc.table = t
	st.clients.add(t, lc)
	return lc
}

// pathName is an application path as scripts see it: "" for the root, "/a/b" otherwise
// (Cumulus' form).
func pathName(p string) string {
	if p == "" {
		return ""
	}
	return "/" + p
}

// clientMetatable answers what changes (address, ping) and the URL query's properties.
func (st *state) clientMetatable() *lua.LTable {
	L := st.L
	mt := L.CreateTable(0, 2)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		lc := st.clients.byTable[L.CheckTable(1)]
		key, _ := L.Get(2).(lua.LString)
		if lc == nil || key == "" {
			return 0
		}
		switch key {
		case "address":
			L.Push(lua.LString(lc.c.Address().String()))
		case "ping":
			var ms float64
			if p, ok := lc.c.(app.Pinger); ok {
				ms = float64(p.Ping()) / float64(time.Millisecond)
			}
			L.Push(lua.LNumber(ms))
		default:
			if vs := lc.query[string(key)]; len(vs) > 0 {
				L.Push(lua.LString(vs[0]))
			} else {
				L.Push(lua.LNil)
			}
		}
		return 1
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		if lc := st.clients.byTable[L.CheckTable(1)]; lc != nil {
			L.Push(lua.LString("client " + lc.id))
			return 1
		}
		L.Push(lua.LString("client"))
		return 1
	}))
	return mt
}

// writerMetatable is the metatable of client.writer: what a script sends its client.
func (st *state) writerMetatable() *lua.LTable {
	L := st.L
	methods := L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"writeAMFMessage":     st.writeAMFMessage,
		"writeInvocation":     st.writeAMFMessage, // MonaServer's name
		"writeAMFResult":      st.writeAMFResult,
		"writeMessage":        st.writeAMFResult, // MonaServer's name
		"writeStatusResponse": st.writeStatusResponse,
		"flush":               func(*lua.LState) int { return 0 }, // every message is sent at once
		"close": func(L *lua.LState) int {
			st.writerClient(L).c.Close()
			return 0
		},
		"newFlowWriter": func(L *lua.LState) int {
			// One writer per client: messages keep their order on its NetConnection.
			L.Push(L.Get(1))
			return 1
		},
	})
	mt := L.CreateTable(0, 2)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		key := L.CheckString(2)
		if key == "reliable" {
			L.Push(lua.LTrue)
			return 1
		}
		L.Push(methods.RawGetString(key))
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		// writer.reliable = false is accepted: every message of a NetConnection is sent
		// reliably (a server's calls and statuses must not be lost).
		if L.CheckString(2) != "reliable" {
			L.RaiseError("a writer has no field '%s' to set", L.CheckString(2))
		}
		return 0
	}))
	return mt
}

func (st *state) writerClient(L *lua.LState) *luaClient {
	ud := L.CheckUserData(1)
	lc, ok := ud.Value.(*luaClient)
	if !ok {
		L.ArgError(1, "writer expected (call it with ':')")
	}
	return lc
}

// argsToAMF converts the arguments from n on for sending.
func argsToAMF(L *lua.LState, n int, what string) []any {
	out := make([]any, 0, max(L.GetTop()-n+1, 0))
	for i := n; i <= L.GetTop(); i++ {
		v, err := toAMF(L.Get(i))
		if err != nil {
			L.RaiseError("%s: argument %d: %s", what, i-n+1, err.Error())
		}
		out = append(out, v)
	}
	return out
}

// writeAMFMessage(name, …) calls name(…) on the client's NetConnection.client.
func (st *state) writeAMFMessage(L *lua.LState) int {
	lc := st.writerClient(L)
	name := L.CheckString(2)
	if err := lc.c.Call(name, argsToAMF(L, 3, "writeAMFMessage")...); err != nil {
		L.RaiseError("writeAMFMessage: %s", err.Error())
	}
	return 0
}

// writeAMFResult(…) adds values to the _result of the call being answered.
func (st *state) writeAMFResult(L *lua.LState) int {
	lc := st.writerClient(L)
	if !lc.inCall {
		L.RaiseError("writeAMFResult: no call of this client is being answered")
	}
	for i := 2; i <= L.GetTop(); i++ {
		lc.results = append(lc.results, L.Get(i))
	}
	return 0
}

// writeStatusResponse(code, description[, key, value…]) sends the client an onStatus
// with level "status" and code "NetConnection.<code>", as Cumulus does.
func (st *state) writeStatusResponse(L *lua.LState) int {
	lc := st.writerClient(L)
	code := L.CheckString(2)
	if !strings.HasPrefix(code, "NetConnection.") {
		code = "NetConnection." + code
	}
	props := []amf.Property{{Key: "level", Value: "status"}, {Key: "code", Value: code}, {Key: "description", Value: L.OptString(3, "")}}
	for i := 4; i+1 <= L.GetTop(); i += 2 {
		v, err := toAMF(L.Get(i + 1))
		if err != nil {
			L.RaiseError("writeStatusResponse: %s", err.Error())
		}
		props = append(props, amf.Property{Key: lua.LVAsString(L.Get(i)), Value: v})
	}
	if err := lc.c.Call("onStatus", amf.NewObject(props...)); err != nil {
		L.RaiseError("writeStatusResponse: %s", err.Error())
	}
	return 0
}

// String names the client in logs.
func (lc *luaClient) String() string { return fmt.Sprintf("%s (%s)", lc.id[:16], lc.c.Address()) }
