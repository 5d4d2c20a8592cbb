package luaapp

import (
	"encoding/hex"
	"sort"

	lua "github.com/yuin/gopher-lua"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// luaPublication is a publication as a state knows it: a client's (from onPublish to
// onUnpublish, or while it has listeners), or the server's own (cumulus:publish).
type luaPublication struct {
	name      string
	table     *lua.LTable
	stream    app.Stream // the publishing client's stream, nil without one
	publisher *luaClient
	server    app.Publisher // a publication of the server's own
	listeners map[*luaListener]struct{}
	lastTime  uint32 // of the last message pushed (server publications)
	listTable *lua.LTable
}

// luaListener is a client playing a publication.
type luaListener struct {
	id               int
	table            *lua.LTable
	stream           app.Stream
	client           *luaClient
	pub              *luaPublication
	audio, video     bool // receiveAudio, receiveVideo
	audioSA, videoSA bool // audioSampleAccess, videoSampleAccess
}

// luaGroup is a NetGroup as a state knows it: the clients of the application in it.
type luaGroup struct {
	id      app.GroupID
	table   *lua.LTable
	members map[*luaClient]struct{}
}

// publication returns the publication of name, made (without publisher) if needed.
func (st *state) publication(name string) *luaPublication {
	for _, p := range st.publications.byTable {
		if p.name == name {
			return p
		}
	}
	p := &luaPublication{name: name, listeners: map[*luaListener]struct{}{}}
	p.table = st.L.NewTable()
	p.table.Metatable = st.meta.publication
	p.listTable = st.newCollection(collection{
		count: func() int { return len(p.listeners) },
		lookup: func(L *lua.LState, key lua.LValue) lua.LValue {
			n, ok := key.(lua.LNumber)
			if !ok {
				return lua.LNil
			}
			for l := range p.listeners {
				if l.id == int(n) {
					return l.table
				}
			}
			return lua.LNil
		},
		items: func() []item {
			ls := p.sortedListeners()
			out := make([]item, len(ls))
			for i, l := range ls {
				out[i] = item{lua.LNumber(l.id), l.table}
			}
			return out
		},
	})
	st.publications.add(p.table, p)
	return p
}

func (p *luaPublication) sortedListeners() []*luaListener {
	ls := make([]*luaListener, 0, len(p.listeners))
	for l := range p.listeners {
		ls = append(ls, l)
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].id < ls[j].id })
	return ls
}

// dropIfUnused forgets a publication without publisher and listeners.
func (st *state) dropIfUnused(p *luaPublication) {
	if p.stream == nil && p.server == nil && len(p.listeners) == 0 {
		st.publications.remove(p.table)
	}
}

func (st *state) publicationMetatable() *lua.LTable {
	L := st.L
	methods := L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"close": func(L *lua.LState) int {
			p := st.publications.get(L, 1, "publication")
			switch {
			case p.server != nil:
				st.closeServerPublication(p)
			case p.stream != nil:
				code := L.OptString(2, "NetStream.Publish.Idle")
				p.stream.Close(code, L.OptString(3, "publication closed by the server"))
			}
			return 0
		},
		"flush":           func(*lua.LState) int { return 0 }, // pushed packets leave at once
		"pushAudioPacket": func(L *lua.LState) int { return st.push(L, 'a') },
		"pushVideoPacket": func(L *lua.LState) int { return st.push(L, 'v') },
		"pushDataPacket":  func(L *lua.LState) int { return st.push(L, 'd') },
	})
	mt := L.CreateTable(0, 3)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		p := st.publications.byTable[L.CheckTable(1)]
		key := L.CheckString(2)
		if p == nil {
			return 0
		}
		switch key {
		case "name":
			L.Push(lua.LString(p.name))
		case "publisherId":
			if p.stream != nil {
				L.Push(lua.LNumber(p.stream.Client().SessionID()))
			} else {
				L.Push(lua.LNumber(0))
			}
		case "publisher":
			if p.publisher != nil {
				L.Push(p.publisher.table)
			} else {
				L.Push(lua.LNil)
			}
		case "listeners":
			L.Push(p.listTable)
		default:
			L.Push(methods.RawGetString(key))
		}
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("a publication's fields are read-only")
		return 0
	}))
	return mt
}

// push is pushAudioPacket(time, packet[, offset]), pushVideoPacket(…) and
// pushDataPacket(name, packet[, offset]) of a server publication.
func (st *state) push(L *lua.LState, kind byte) int {
	p := st.publications.get(L, 1, "publication")
	if p.server == nil {
		L.RaiseError("only a publication of the server (cumulus:publish) takes pushed packets")
	}
	if err := p.server.Closed(); err != nil {
		L.RaiseError("publication %s: %s", p.name, err.Error())
	}
	if kind == 'd' {
		name := L.CheckString(2)
		packet := L.CheckString(3)
		if off := L.OptInt(4, 0); off > 0 && off <= len(packet) {
			packet = packet[off:]
		}
		body := amf.AppendAMF0String(make([]byte, 0, 3+len(name)+len(packet)), name)
		p.server.Data(p.lastTime, append(body, packet...))
		return 0
	}
	t := uint32(L.CheckNumber(2))
	packet := L.CheckString(3)
	if off := L.OptInt(4, 0); off > 0 && off <= len(packet) {
		packet = packet[off:]
	}
	p.lastTime = t
	if kind == 'a' {
		p.server.Audio(t, []byte(packet))
	} else {
		p.server.Video(t, []byte(packet))
	}
	return 0
}

// listener makes the listener of a client's play.
func (st *state) newListener(s app.Stream, lc *luaClient, p *luaPublication) *luaListener {
	st.app.listenerIDs++
	l := &luaListener{id: st.app.listenerIDs, stream: s, client: lc, pub: p, audio: true, video: true, audioSA: true, videoSA: true}
	l.table = st.L.NewTable()
	l.table.Metatable = st.meta.listener
	st.listeners.add(l.table, l)
	p.listeners[l] = struct{}{}
	return l
}

func (st *state) listenerMetatable() *lua.LTable {
	L := st.L
	mt := L.CreateTable(0, 2)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		l := st.listeners.byTable[L.CheckTable(1)]
		if l == nil {
			return 0
		}
		switch L.CheckString(2) {
		case "id":
			L.Push(lua.LNumber(l.id))
		case "publication":
			L.Push(l.pub.table)
		case "client":
			L.Push(l.client.table)
		case "receiveAudio":
			L.Push(lua.LBool(l.audio))
		case "receiveVideo":
			L.Push(lua.LBool(l.video))
		case "audioSampleAccess":
			L.Push(lua.LBool(l.audioSA))
		case "videoSampleAccess":
			L.Push(lua.LBool(l.videoSA))
		default:
			L.Push(lua.LNil)
		}
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		l := st.listeners.get(L, 1, "listener")
		on := lua.LVAsBool(L.Get(3))
		switch key := L.CheckString(2); key {
		case "receiveAudio", "receiveVideo":
			if key == "receiveAudio" {
				l.audio = on
			} else {
				l.video = on
			}
			l.stream.Receive(l.audio, l.video)
		case "audioSampleAccess", "videoSampleAccess":
			if key == "audioSampleAccess" {
				l.audioSA = on
			} else {
				l.videoSA = on
			}
			l.stream.SampleAccess(l.audioSA, l.videoSA)
		default:
			L.RaiseError("a listener has no field '%s' to set", key)
		}
		return 0
	}))
	return mt
}

// group returns the group of id, made if needed.
func (st *state) group(id app.GroupID) *luaGroup {
	for _, g := range st.groups.byTable {
		if g.id == id {
			return g
		}
	}
	g := &luaGroup{id: id, members: map[*luaClient]struct{}{}}
	g.table = st.L.NewTable()
	g.table.Metatable = st.meta.group
	st.groups.add(g.table, g)
	return g
}

func (g *luaGroup) sortedMembers() []*luaClient {
	ms := make([]*luaClient, 0, len(g.members))
	for m := range g.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	return ms
}

func (st *state) groupMetatable() *lua.LTable {
	L := st.L
	ipairs := L.NewFunction(func(L *lua.LState) int {
		g := st.groups.get(L, 1, "group")
		ms := g.sortedMembers()
		i := 0
		L.Push(L.NewFunction(func(L *lua.LState) int {
			if i >= len(ms) {
				return 0
			}
			i++
			L.Push(lua.LNumber(i))
			L.Push(ms[i-1].table)
			return 2
		}))
		return 1
	})
	mt := L.CreateTable(0, 3)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		g := st.groups.byTable[L.CheckTable(1)]
		if g == nil {
			return 0
		}
		switch L.CheckString(2) {
		case "id":
			L.Push(lua.LString(hex.EncodeToString(g.id[:])))
		case "rawId":
			L.Push(lua.LString(g.id[:]))
		case "size":
			L.Push(lua.LNumber(len(g.members)))
		case "ipairs":
			L.Push(ipairs)
		default:
			L.Push(lua.LNil)
		}
		return 1
	}))
	mt.RawSetString("__len", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(len(st.groups.get(L, 1, "group").members)))
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("a group's fields are read-only")
		return 0
	}))
	return mt
}
