package luaapp

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// newCumulus makes the global object of the server, `cumulus`, also named `mona`
// (MonaServer's name).
func (st *state) newCumulus() *lua.LTable {
	L := st.L
	t := L.CreateTable(0, 16)
	t.RawSetString("clients", st.newCollection(collection{
		count: func() int { return len(st.clients.byTable) },
		lookup: func(L *lua.LState, key lua.LValue) lua.LValue {
			id, ok := peerKey(key)
			if !ok {
				return lua.LNil
			}
			for _, lc := range st.clients.byTable {
				if lc.id == id && st.app.connected(lc) {
					return lc.table
				}
			}
			return lua.LNil
		},
		items: func() []item {
			m := map[string]*luaClient{}
			for _, lc := range st.clients.byTable {
				if st.app.connected(lc) {
					m[lc.id] = lc
				}
			}
			return sortedItems(m, func(lc *luaClient) lua.LValue { return lc.table })
		},
	}))
	t.RawSetString("publications", st.newCollection(collection{
		count: func() int { return len(st.publishedNow()) },
		lookup: func(L *lua.LState, key lua.LValue) lua.LValue {
			name, ok := key.(lua.LString)
			if !ok {
				return lua.LNil
			}
			if p := st.publishedNow()[string(name)]; p != nil {
				return p.table
			}
			return lua.LNil
		},
		items: func() []item {
			return sortedItems(st.publishedNow(), func(p *luaPublication) lua.LValue { return p.table })
		},
	}))
	t.RawSetString("groups", st.newCollection(collection{
		count: func() int { return len(st.groupsNow()) },
		lookup: func(L *lua.LState, key lua.LValue) lua.LValue {
			id, ok := peerKey(key)
			if !ok {
				return lua.LNil
			}
			if g := st.groupsNow()[id]; g != nil {
				return g.table
			}
			return lua.LNil
		},
		items: func() []item {
			return sortedItems(st.groupsNow(), func(g *luaGroup) lua.LValue { return g.table })
		},
	}))
	t.RawSetString("configs", st.configsTable())
	methods := map[string]lua.LGFunction{
		"publish":             st.publish,
		"toAMF":               st.toAMFFn,
		"toAMF0":              st.toAMFFn,
		"fromAMF":             st.fromAMF,
		"addToBlacklist":      func(L *lua.LState) int { return st.blacklist(L, true) },
		"removeFromBlacklist": func(L *lua.LState) int { return st.blacklist(L, false) },
		"joinGroup":           st.joinGroup,
		"postToGroup":         st.postToGroup,
		"multicast":           st.multicast,
	}
	for name, fn := range methods {
		t.RawSetString(name, L.NewFunction(fn))
	}
	mt := L.CreateTable(0, 1)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		switch L.CheckString(2) {
		case "epochTime":
			L.Push(lua.LNumber(st.app.clock.Now().UnixMilli()))
		default:
			L.Push(lua.LNil)
		}
		return 1
	}))
	t.Metatable = mt
	L.G.Global.RawSetString("cumulus", t)
	L.G.Global.RawSetString("mona", t)
	return t
}

// publishedNow is the publications being published (by a client or the server).
func (st *state) publishedNow() map[string]*luaPublication {
	m := map[string]*luaPublication{}
	for _, p := range st.publications.byTable {
		if p.stream != nil || p.server != nil {
			m[p.name] = p
		}
	}
	return m
}

// groupsNow is the groups with members, by hex ID.
func (st *state) groupsNow() map[string]*luaGroup {
	m := map[string]*luaGroup{}
	for _, g := range st.groups.byTable {
		if len(g.members) > 0 {
			m[hex.EncodeToString(g.id[:])] = g
		}
	}
	return m
}

// firstArg skips the cumulus object when a method is called with ':'.
func (st *state) firstArg(L *lua.LState) int {
	if L.Get(1) == st.cumulus {
		return 2
	}
	return 1
}

// publish is cumulus:publish(name): a publication of the server's own, whose pushed
// packets reach every player. It returns nil (and logs why) when the name is published.
func (st *state) publish(L *lua.LState) int {
	name := L.CheckString(st.firstArg(L))
	if name == "" {
		L.ArgError(st.firstArg(L), "a publication needs a name")
	}
	if st.app.published[name] > 0 && !st.app.orphaned(name) {
		st.log.Error("cumulus:publish: the name is already published", zap.String("name", name), zap.String("script", L.Where(1)))
		L.Push(lua.LNil)
		return 1
	}
	pub, err := st.app.serverPublication(name)
	if err != nil {
		st.log.Error("cumulus:publish failed", zap.String("name", name), zap.Error(err), zap.String("script", L.Where(1)))
		L.Push(lua.LNil)
		return 1
	}
	p := st.publication(name)
	p.server = pub
	st.app.published[name]++
	L.Push(p.table)
	return 1
}

// closeServerPublication ends a publication of the server's own.
func (st *state) closeServerPublication(p *luaPublication) {
	if p.server == nil {
		return
	}
	st.app.releaseServerPublication(p.name, p.server)
	p.server = nil
	st.app.published[p.name]--
	st.dropIfUnused(p)
}

// toAMFFn is cumulus:toAMF(…): the values' AMF0 encoding (AMF3 values switched), what
// pushDataPacket and fromAMF take.
func (st *state) toAMFFn(L *lua.LState) int {
	var b []byte
	for i := st.firstArg(L); i <= L.GetTop(); i++ {
		v, err := toAMF(L.Get(i))
		if err != nil {
			L.RaiseError("toAMF: argument %d: %s", i, err.Error())
		}
		if b, err = amf.AppendAMF0(b, v); err != nil {
			L.RaiseError("toAMF: %s", err.Error())
		}
		if len(b) > st.maxString {
			L.RaiseError("toAMF: string too long")
		}
	}
	L.Push(lua.LString(b))
	return 1
}

// fromAMF is cumulus:fromAMF(bytes): every value the bytes hold.
func (st *state) fromAMF(L *lua.LState) int {
	d := amf.NewDecoder([]byte(L.CheckString(st.firstArg(L))))
	n := 0
	for d.Len() > 0 && n < maxResults {
		v, err := d.ReadAMF0()
		if err != nil {
			L.RaiseError("fromAMF: %s", err.Error())
		}
		L.Push(st.made(toLua(L, v)))
		n++
	}
	return n
}

// blacklist is cumulus:addToBlacklist(ip, …) and removeFromBlacklist(ip, …).
func (st *state) blacklist(L *lua.LState, ban bool) int {
	for i := st.firstArg(L); i <= L.GetTop(); i++ {
		s := L.CheckString(i)
		ip, err := netip.ParseAddr(s)
		if err != nil {
			if ap, err2 := netip.ParseAddrPort(s); err2 == nil {
				ip, err = ap.Addr(), nil
			}
		}
		if err != nil {
			L.ArgError(i, "an IP address expected")
		}
		if ban {
			st.app.host.Ban(ip)
		} else {
			st.app.host.Unban(ip)
		}
	}
	return 0
}

// configsTable is cumulus.configs: the server's settings as strings, dotted names as
// nested tables and "false" as false (Cumulus' rules).
func (st *state) configsTable() *lua.LTable {
	L := st.L
	t := L.NewTable()
	keys := make([]string, 0, len(st.app.reg.cfg.Configs))
	for k := range st.app.reg.cfg.Configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var v lua.LValue = lua.LString(st.app.reg.cfg.Configs[k])
		if v == lua.LString("false") {
			v = lua.LFalse
		}
		parts := strings.Split(k, ".")
		cur := t
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur.RawGetString(p).(*lua.LTable)
			if !ok {
				next = L.NewTable()
				cur.RawSetString(p, next)
			}
			cur = next
		}
		cur.RawSetString(parts[len(parts)-1], v)
	}
	return t
}

// errNotGroupMember answers the group methods when the application's host cannot make
// the server a NetGroup member.
var errNotGroupMember = errors.New("this server is not a NetGroup member")

// groupCall is the common end of the cumulus group methods: do runs with the
// application's host as a NetGroup member and its value is returned to the script; when
// the server cannot be one, or do fails, the script gets failed and the error is logged.
func (st *state) groupCall(L *lua.LState, fn string, failed lua.LValue, do func(app.GroupHost) (lua.LValue, error)) int {
	gh, ok := st.app.host.(app.GroupHost)
	if !ok {
		return st.groupFailed(L, fn, failed, errNotGroupMember)
	}
	v, err := do(gh)
	if err != nil {
		return st.groupFailed(L, fn, failed, err)
	}
	L.Push(v)
	return 1
}

func (st *state) groupFailed(L *lua.LState, fn string, failed lua.LValue, err error) int {
	st.log.Error("cumulus:"+fn+" failed", zap.Error(err), zap.String("script", L.Where(1)))
	L.Push(failed)
	return 1
}

// joinGroup is cumulus:joinGroup(groupspec): the server becomes a member of the group
// (docs/multicast.md) and onGroupPost(groupID, value) receives its posts. It returns the
// group's ID (hex), or nil when the specifier is not one.
func (st *state) joinGroup(L *lua.LState) int {
	spec := L.CheckString(st.firstArg(L))
	return st.groupCall(L, "joinGroup", lua.LNil, func(gh app.GroupHost) (lua.LValue, error) {
		id, err := gh.JoinGroup(spec)
		return lua.LString(id.String()), err
	})
}

// postToGroup is cumulus:postToGroup(groupspec, value): value (AMF0) reaches every member
// of the group. It returns true once posted.
func (st *state) postToGroup(L *lua.LState) int {
	i := st.firstArg(L)
	spec := L.CheckString(i)
	v, err := toAMF(L.Get(i + 1))
	if err != nil {
		L.ArgError(i+1, err.Error())
	}
	return st.groupCall(L, "postToGroup", lua.LFalse, func(gh app.GroupHost) (lua.LValue, error) {
		return lua.LTrue, gh.PostToGroup(spec, v)
	})
}

// multicast is cumulus:multicast(name, groupspec): the application's live stream name is
// injected into the group's multicast under the same name. It returns true once mapped.
func (st *state) multicast(L *lua.LState) int {
	i := st.firstArg(L)
	name, spec := L.CheckString(i), L.CheckString(i+1)
	return st.groupCall(L, "multicast", lua.LFalse, func(gh app.GroupHost) (lua.LValue, error) {
		return lua.LTrue, gh.Multicast(name, spec)
	})
}
