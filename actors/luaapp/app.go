package luaapp

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// App is one Lua application: www/<path>/main.lua and its ancestors'. It implements the
// application interfaces of package app; the server calls it from the application's
// actor, one event at a time, so it owns its Lua states without locks (only the flags the
// registry reads from other goroutines are atomic).
//
// An App holds one current state, which serves new clients, and, after a reload, the
// previous states for as long as clients connected to them stay: every event of a client
// goes to the state it connected to, whose script defined its methods.
type App struct {
	reg    *Registry
	path   string
	host   app.Host
	clock  clock.Clock
	log    *zap.Logger
	folder *os.Root // the application's folder, for the io library

	cur     *state   // serves new connects; nil when nothing loaded
	states  []*state // every state serving clients, cur included
	loadErr string   // why the last load failed: new connects are refused with it
	tried   []fileStamp
	gone    bool // main.lua was removed: new connects get InvalidApp

	clients     map[app.Client]*luaClient
	pubs        map[app.Stream]*luaPublication
	listeners   map[app.Stream]*luaListener
	published   map[string]int // names published (by a client or the server)
	serverPubs  map[string]*serverPub
	listenerIDs int

	wantsHandshake, wantsRendezvous atomic.Bool
	errors                          errorLog
}

// serverPub is a publication of the server's own, which a reload hands to the new state
// if its onStart publishes the same name (players see no interruption).
type serverPub struct {
	pub    app.Publisher
	owner  *state
	orphan bool
}

func newApp(r *Registry, p string) *App {
	return &App{reg: r, path: p, log: r.cfg.Log.With(zap.String("app", "/"+p)),
		clients: map[app.Client]*luaClient{}, pubs: map[app.Stream]*luaPublication{},
		listeners: map[app.Stream]*luaListener{}, published: map[string]int{}, serverPubs: map[string]*serverPub{}}
}

// OnStart implements app.Starter: the application's scripts are loaded and onStart runs.
func (a *App) OnStart(h app.Host) {
	a.host, a.clock, a.log = h, h.Clock(), h.Log()
	a.errors.clock = a.clock
	if a.path == "" {
		a.folder = a.reg.root
	} else if f, err := a.reg.root.OpenRoot(a.path); err == nil {
		a.folder = f
	}
	a.load()
	a.reg.started(a)
}

// OnStop implements app.Starter: onStop runs, and every state is closed.
func (a *App) OnStop() {
	a.reg.stopped(a)
	if a.cur != nil {
		a.stopState(a.cur)
	}
	for _, sp := range a.serverPubs {
		sp.pub.Close()
	}
	clear(a.serverPubs)
	for _, st := range a.states {
		st.close()
	}
	a.states, a.cur = nil, nil
	if a.folder != nil && a.folder != a.reg.root {
		_ = a.folder.Close()
	}
}

// chain lists the script files of the application, the root's first: each level's
// main.lua (those that do not exist count too: creating one reloads).
func (a *App) chain() []string {
	files := []string{appFile("")}
	if a.path != "" {
		parts := strings.Split(a.path, "/")
		for i := range parts {
			files = append(files, appFile(path.Join(parts[:i+1]...)))
		}
	}
	return files
}

// changed reports whether a file of the current state (or of the last failed load)
// changed since it was loaded.
func (a *App) changed() bool {
	files := a.tried
	if a.loadErr == "" && a.cur != nil {
		files = a.cur.files
	}
	if len(files) == 0 {
		return true
	}
	for _, f := range files {
		if a.reg.stamp(f.name) != f {
			return true
		}
	}
	return false
}

// poll reloads the application if its scripts changed (at each connect and manage tick:
// a stat per script).
func (a *App) poll() {
	if a.changed() {
		a.load()
	}
}

// load makes a state of the scripts as they are now. If it loads, the current state (if
// any) is stopped and the new one started; if not, the error is logged, kept to refuse new
// connects, and the current state goes on serving its clients.
func (a *App) load() {
	leaf := appFile(a.path)
	if !a.reg.stamp(leaf).exists {
		if !a.gone {
			a.log.Warn("application removed: new clients are refused; connected ones stay", zap.String("file", a.reg.chunkName(leaf)))
		}
		a.gone, a.loadErr = true, ""
		a.tried = a.stamps()
		return
	}
	first := a.cur == nil && a.loadErr == ""
	st, files, err := a.newLoadedState()
	if err != nil {
		a.reg.stats.LoadErrors.Add(1)
		a.log.Error("application failed to load: new clients are refused until it is fixed", zap.String("error", err.Error()))
		a.loadErr, a.gone = err.Error(), false
		a.tried = files // the scripts and the modules it got to: a change to any is a new try
		return
	}
	old := a.cur
	if old != nil {
		a.stopState(old)
	}
	a.cur, a.loadErr, a.gone, a.tried = st, "", false, nil
	a.states = append(a.states, st)
	if !first {
		a.reg.stats.Reloads.Add(1)
		a.log.Info("application reloaded", zap.Int("earlier_versions_serving", len(a.states)-1))
	}
	a.startState(st)
	// Publications of the server that the new version did not publish again end now.
	for name, sp := range a.serverPubs {
		if sp.orphan {
			sp.pub.Close()
			delete(a.serverPubs, name)
			a.published[name]--
		}
	}
	if old != nil {
		a.closeIfDrained(old)
	}
	a.refreshFlags()
}

func (a *App) stamps() []fileStamp {
	var out []fileStamp
	for _, f := range a.chain() {
		out = append(out, a.reg.stamp(f))
	}
	return out
}

// newLoadedState makes a state and runs the chain of scripts in it: each level's
// main.lua in an environment of its own whose lookups fall back to its parent's (Cumulus'
// application inheritance). It returns the files it read, also when it fails.
func (a *App) newLoadedState() (*state, []fileStamp, error) {
	st := newState(a)
	L := st.L
	parentEnv := L.G.Global
	parentName := ""
	chain := a.chain()
	names := append([]string{a.reg.rootName}, strings.Split(a.path, "/")...)
	for i, file := range chain {
		env := L.NewTable()
		lookup := L.CreateTable(0, 3)
		lookup.RawSetString("super", parentEnv)
		if parentName != "" {
			lookup.RawSetString(parentName, parentEnv)
		}
		lookup.RawSetString(names[i], env)
		lookupMeta := L.CreateTable(0, 1)
		lookupMeta.RawSetString("__index", parentEnv)
		lookup.Metatable = lookupMeta
		envMeta := L.CreateTable(0, 1)
		envMeta.RawSetString("__index", lookup)
		env.Metatable = envMeta
		st.env = env
		stamp := a.reg.stamp(file)
		st.files = append(st.files, stamp)
		if stamp.exists {
			fn, err := st.loadFile(file, env)
			if err == nil {
				_, err = st.call(fn, 0)
			}
			if err != nil {
				if se, ok := err.(*scriptError); ok {
					err = errors.New(se.Message)
				}
				files := append(a.stamps(), st.files...)
				st.close()
				return nil, files, err
			}
		}
		parentEnv, parentName = env, names[i]
	}
	return st, st.files, nil
}

// startState runs onStart(path).
func (a *App) startState(st *state) {
	a.event(st, "onStart", 0, lua.LString(pathName(a.path)))
}

// stopState runs onStop(path); the state's server publications become orphans that the
// next state may take over.
func (a *App) stopState(st *state) {
	a.event(st, "onStop", 0, lua.LString(pathName(a.path)))
	for _, p := range st.publications.byTable {
		if p.server != nil {
			if sp := a.serverPubs[p.name]; sp != nil && sp.owner == st {
				sp.orphan = true
			}
			p.server = nil
		}
	}
}

// closeIfDrained closes a state that no longer serves new clients once its last client
// left.
func (a *App) closeIfDrained(st *state) {
	if st == a.cur || len(st.clients.byTable) > 0 {
		return
	}
	st.close()
	for i, s := range a.states {
		if s == st {
			a.states = append(a.states[:i], a.states[i+1:]...)
			break
		}
	}
}

// serverPublication starts (or takes over from the previous version) a publication of
// the server's own.
func (a *App) serverPublication(name string) (app.Publisher, error) {
	if sp := a.serverPubs[name]; a.orphaned(name) {
		sp.orphan, sp.owner = false, a.cur
		a.published[name]-- // counted again by the caller
		return sp.pub, nil
	}
	pub, err := a.host.Publish(name)
	if err != nil {
		return nil, err
	}
	a.serverPubs[name] = &serverPub{pub: pub, owner: a.cur}
	return pub, nil
}

// orphaned reports whether name is a server publication of a previous version that a
// new one may take over.
func (a *App) orphaned(name string) bool {
	sp := a.serverPubs[name]
	return sp != nil && sp.orphan && sp.pub.Closed() == nil
}

func (a *App) releaseServerPublication(name string, pub app.Publisher) {
	pub.Close()
	if sp := a.serverPubs[name]; sp != nil && sp.pub == pub {
		delete(a.serverPubs, name)
	}
}

// fn returns the event function name of the state's application, looked up as Cumulus
// does: in the application's environment, then its ancestors'; an inherited function runs
// in the application's environment (Cumulus' setfenv). The lookup follows only tables
// (the environments' chain and _G): an __index function a script set there would run
// outside any call, where no budget stops it.
func (st *state) fn(name string) *lua.LFunction {
	t := st.env
	var v lua.LValue = lua.LNil
	for range 64 {
		if v = t.RawGetString(name); v != lua.LNil {
			break
		}
		mt, ok := t.Metatable.(*lua.LTable)
		if !ok {
			break
		}
		next, ok := mt.RawGetString("__index").(*lua.LTable)
		if !ok {
			break
		}
		t = next
	}
	fn, ok := v.(*lua.LFunction)
	if !ok {
		return nil
	}
	if !fn.IsG && fn.Env != st.env {
		fn.Env = st.env
	}
	return fn
}

// event calls an event function if the script defines it. found says whether it did;
// errors are logged (and counted) here.
func (a *App) event(st *state, name string, nret int, args ...lua.LValue) (results []lua.LValue, found bool, err *scriptError) {
	fn := st.fn(name)
	if fn == nil {
		return nil, false, nil
	}
	results, e := st.call(fn, nret, args...)
	if e != nil {
		err = e.(*scriptError)
		a.scriptFailed(st, name, err)
	}
	return results, true, err
}

// scriptFailed counts and logs an error of a script.
func (a *App) scriptFailed(st *state, event string, err *scriptError) {
	a.reg.stats.Errors.Add(1)
	// The guard's error, unless the call ended with another one just as the guard fired.
	switch {
	case errors.Is(st.g.last, errBudget) && strings.Contains(err.Message, errBudget.Error()):
		a.reg.stats.Timeouts.Add(1)
	case errors.Is(st.g.last, errMemory) && strings.Contains(err.Message, errMemory.Error()):
		a.reg.stats.MemoryStops.Add(1)
	}
	a.errors.log(a.log, event, err)
}

// OnConnect implements app.Application: onConnection(client, …) decides.
func (a *App) OnConnect(c app.Client, args []any) ([]amf.Property, error) {
	a.poll()
	switch {
	case a.gone:
		return nil, app.ErrInvalidApp
	case a.loadErr != "":
		return nil, errors.New(a.loadErr)
	case a.cur == nil:
		return nil, app.ErrInvalidApp
	}
	st := a.cur
	lc := st.newClient(c)
	largs := make([]lua.LValue, 0, 1+len(args))
	largs = append(largs, lc.table)
	for _, v := range args {
		largs = append(largs, st.made(toLua(st.L, v)))
	}
	results, _, err := a.event(st, "onConnection", lua.MultRet, largs...)
	if err != nil {
		st.clients.remove(lc.table)
		return nil, errors.New(err.Message)
	}
	var props []amf.Property
	if len(results) > 0 {
		switch r := results[0].(type) {
		case lua.LBool:
			if !r {
				st.clients.remove(lc.table)
				return nil, errors.New("client rejected")
			}
		case lua.LString:
			// Cumulus 2012: a string refuses the client with it.
			st.clients.remove(lc.table)
			return nil, errors.New(string(r))
		case *lua.LTable:
			props = a.tableProps(r)
		}
	}
	a.clients[c] = lc
	return props, nil
}

// tableProps turns the table onConnection returned into the properties of the connect's
// success info object.
func (a *App) tableProps(t *lua.LTable) []amf.Property {
	var props []amf.Property
	for k, v := t.Next(lua.LNil); k != lua.LNil; k, v = t.Next(k) {
		key := lua.LVAsString(k)
		if n, ok := k.(lua.LNumber); ok {
			key = formatNumber(float64(n))
		}
		av, err := toAMF(v)
		if err != nil {
			a.reg.stats.BadValues.Add(1)
			a.log.Warn("onConnection returned a field that cannot be sent: left out", zap.String("field", key), zap.Error(err))
			continue
		}
		props = append(props, amf.Property{Key: key, Value: av})
	}
	return props
}

// connected reports whether a client object is a connected client of the application.
func (a *App) connected(lc *luaClient) bool { return a.clients[lc.c] == lc }

// OnCall implements app.Application: the client's method of that name, which its script
// defined on it (client:method), answers.
func (a *App) OnCall(c app.Client, method string, args []any) ([]any, error) {
	lc := a.clients[c]
	if lc == nil {
		return nil, app.ErrMethodNotFound
	}
	st := lc.st
	fn, ok := lc.table.RawGetString(method).(*lua.LFunction)
	if !ok {
		return nil, app.ErrMethodNotFound
	}
	largs := make([]lua.LValue, 0, 1+len(args))
	largs = append(largs, lc.table)
	for _, v := range args {
		largs = append(largs, st.made(toLua(st.L, v)))
	}
	lc.inCall, lc.results = true, nil
	results, err := st.call(fn, lua.MultRet, largs...)
	lc.inCall = false
	if err != nil {
		se := err.(*scriptError)
		a.scriptFailed(st, "client:"+method, se)
		return nil, errors.New(se.Message)
	}
	if len(lc.results) > 0 {
		results = append(results, lc.results...)
		lc.results = nil
	}
	if len(results) == 0 {
		return nil, nil
	}
	out, cerr := valuesToAMF(results)
	if cerr != nil {
		a.reg.stats.BadValues.Add(1)
		a.log.Warn("a method returned a value that cannot be sent", zap.String("method", method), zap.Error(cerr))
		return nil, fmt.Errorf("the result of '%s' cannot be sent: %w", method, cerr)
	}
	return out, nil
}

// OnFailed implements app.Failer: onFailed(client, error).
func (a *App) OnFailed(c app.Client, reason string) {
	if lc := a.clients[c]; lc != nil {
		a.event(lc.st, "onFailed", 0, lc.table, lua.LString(reason))
	}
}

// OnDisconnect implements app.Disconnecter: the client's streams and groups end
// (onUnpublish, onUnsubscribe, onUnjoinGroup), then onDisconnection(client).
func (a *App) OnDisconnect(c app.Client) {
	lc := a.clients[c]
	if lc == nil {
		return
	}
	st := lc.st
	for s, p := range a.pubs {
		if p.publisher == lc {
			a.OnUnpublishStream(s)
		}
	}
	for s, l := range a.listeners {
		if l.client == lc {
			a.OnStopStream(s)
		}
	}
	for g := range lc.groups {
		a.OnLeaveGroup(c, g.id)
	}
	a.event(st, "onDisconnection", 0, lc.table)
	delete(a.clients, c)
	st.clients.remove(lc.table)
	a.closeIfDrained(st)
}

// OnPublishStream implements app.StreamHandler: onPublish(client, publication) decides.
func (a *App) OnPublishStream(s app.Stream) error {
	lc := a.clients[s.Client()]
	if lc == nil {
		return errors.New("not connected")
	}
	name := s.Name()
	if a.published[name] > 0 {
		return fmt.Errorf("%s is already published", name)
	}
	st := lc.st
	p := st.publication(name)
	p.stream, p.publisher = s, lc
	results, _, err := a.event(st, "onPublish", lua.MultRet, lc.table, p.table)
	if refused(results, err) {
		p.stream, p.publisher = nil, nil
		st.dropIfUnused(p)
		if err != nil {
			return errors.New(err.Message)
		}
		return fmt.Errorf("Not allowed to publish %s", name)
	}
	a.published[name]++
	a.pubs[s] = p
	return nil
}

// refused is onPublish's and onSubscribe's rule: an error, or a first result that is
// false or nil (a function that returns nothing accepts).
func refused(results []lua.LValue, err *scriptError) bool {
	return err != nil || len(results) > 0 && !lua.LVAsBool(results[0])
}

// OnUnpublishStream implements app.StreamHandler: onUnpublish(client, publication).
func (a *App) OnUnpublishStream(s app.Stream) {
	p := a.pubs[s]
	if p == nil {
		return
	}
	delete(a.pubs, s)
	st := p.publisher.st
	a.event(st, "onUnpublish", 0, p.publisher.table, p.table)
	p.stream, p.publisher = nil, nil
	a.published[p.name]--
	st.dropIfUnused(p)
}

// OnPlayStream implements app.StreamHandler: onSubscribe(client, listener) decides.
func (a *App) OnPlayStream(s app.Stream) error {
	lc := a.clients[s.Client()]
	if lc == nil {
		return errors.New("not connected")
	}
	st := lc.st
	p := st.publication(s.Name())
	l := st.newListener(s, lc, p)
	results, _, err := a.event(st, "onSubscribe", lua.MultRet, lc.table, l.table)
	if refused(results, err) {
		delete(p.listeners, l)
		st.listeners.remove(l.table)
		st.dropIfUnused(p)
		if err != nil {
			return errors.New(err.Message)
		}
		return fmt.Errorf("Not authorized to play %s", s.Name())
	}
	a.listeners[s] = l
	return nil
}

// OnStopStream implements app.StreamHandler: onUnsubscribe(client, listener).
func (a *App) OnStopStream(s app.Stream) {
	l := a.listeners[s]
	if l == nil {
		return
	}
	delete(a.listeners, s)
	st := l.client.st
	a.event(st, "onUnsubscribe", 0, l.client.table, l.table)
	delete(l.pub.listeners, l)
	st.listeners.remove(l.table)
	st.dropIfUnused(l.pub)
}

// WantsMedia implements app.MediaFilter: the media of a publish reaches the application
// only if its script handles some.
func (a *App) WantsMedia() bool {
	st := a.cur
	return st != nil && (st.fn("onAudioPacket") != nil || st.fn("onVideoPacket") != nil || st.fn("onDataPacket") != nil)
}

// mediaEvent finds the publisher's client and publication for a media event.
func (a *App) mediaEvent(c app.Client, name string) (*luaClient, *luaPublication) {
	lc := a.clients[c]
	if lc == nil {
		return nil, nil
	}
	for _, p := range a.pubs {
		if p.publisher == lc && p.name == name {
			return lc, p
		}
	}
	return nil, nil
}

// OnAudio implements app.MediaHandler: onAudioPacket(client, publication, time, packet).
func (a *App) OnAudio(c app.Client, name string, ts uint32, data []byte) {
	if lc, p := a.mediaEvent(c, name); p != nil {
		a.event(lc.st, "onAudioPacket", 0, lc.table, p.table, lua.LNumber(ts), lc.st.made(lua.LString(data)))
	}
}

// OnVideo implements app.MediaHandler: onVideoPacket(client, publication, time, packet).
func (a *App) OnVideo(c app.Client, name string, ts uint32, data []byte) {
	if lc, p := a.mediaEvent(c, name); p != nil {
		a.event(lc.st, "onVideoPacket", 0, lc.table, p.table, lua.LNumber(ts), lc.st.made(lua.LString(data)))
	}
}

// OnData implements app.MediaHandler: onDataPacket(client, publication, name, packet),
// packet the AMF0 encoding of the values after the handler name (cumulus:fromAMF reads
// it).
func (a *App) OnData(c app.Client, stream string, values []any) {
	lc, p := a.mediaEvent(c, stream)
	if p == nil || lc.st.fn("onDataPacket") == nil {
		return
	}
	handler := ""
	if len(values) > 0 {
		handler, _ = values[0].(string)
		values = values[1:]
	}
	var packet []byte
	for _, v := range values {
		var err error
		if packet, err = amf.AppendAMF0(packet, v); err != nil {
			return
		}
	}
	a.event(lc.st, "onDataPacket", 0, lc.table, p.table, lua.LString(handler), lc.st.made(lua.LString(packet)))
}

// OnJoinGroup implements app.GroupHandler: onJoinGroup(client, group); an error or a
// false result refuses the join.
func (a *App) OnJoinGroup(c app.Client, id app.GroupID) error {
	lc := a.clients[c]
	if lc == nil {
		return errors.New("not connected")
	}
	st := lc.st
	g := st.group(id)
	g.members[lc] = struct{}{}
	if lc.groups == nil {
		lc.groups = map[*luaGroup]struct{}{}
	}
	lc.groups[g] = struct{}{}
	results, _, err := a.event(st, "onJoinGroup", lua.MultRet, lc.table, g.table)
	if err != nil || len(results) > 0 && results[0] == lua.LFalse {
		delete(g.members, lc)
		delete(lc.groups, g)
		if err != nil {
			return errors.New(err.Message)
		}
		return errors.New("not allowed to join the group")
	}
	return nil
}

// OnLeaveGroup implements app.GroupHandler: onUnjoinGroup(client, group).
func (a *App) OnLeaveGroup(c app.Client, id app.GroupID) {
	lc := a.clients[c]
	if lc == nil {
		return
	}
	for g := range lc.groups {
		if g.id != id {
			continue
		}
		delete(g.members, lc)
		delete(lc.groups, g)
		a.event(lc.st, "onUnjoinGroup", 0, lc.table, g.table)
		if len(g.members) == 0 {
			lc.st.groups.remove(g.table)
		}
	}
}

// OnGroupPost implements app.GroupPostHandler: onGroupPost(groupID, value), the group's
// ID in hex, for the groups the scripts joined (cumulus:joinGroup).
func (a *App) OnGroupPost(id app.GroupID, value any) {
	if a.cur != nil {
		a.event(a.cur, "onGroupPost", 0, lua.LString(id.String()), a.cur.made(toLua(a.cur.L, value)))
	}
}

// OnManage implements app.Manager: every 2 s the scripts are checked for changes,
// onManage() and every client's client:onManage() run, and each state's memory is
// checked.
func (a *App) OnManage() {
	a.poll()
	if a.cur != nil {
		a.event(a.cur, "onManage", 0)
	}
	for _, lc := range a.clients {
		if fn, ok := lc.table.RawGetString("onManage").(*lua.LFunction); ok {
			if _, err := lc.st.call(fn, 0, lc.table); err != nil {
				a.scriptFailed(lc.st, "client:onManage", err.(*scriptError))
			}
		}
	}
	for _, st := range a.states {
		a.checkMemory(st)
	}
	a.refreshFlags()
}

// checkMemory walks the current state between calls when the process heap grew since it
// was last walked, or when what it made since may have put it over its limit; a state over
// it refuses new clients until a reload. (An earlier version's state, serving its last
// clients, takes no new ones anyway.)
func (a *App) checkMemory(st *state) {
	if st.g.limit <= 0 || st != a.cur || a.loadErr != "" {
		return
	}
	if !st.g.grown() && !st.g.mayBeOver() {
		return
	}
	if size := st.g.measure(); size > st.g.limit {
		a.reg.stats.MemoryStops.Add(1)
		a.loadErr = fmt.Sprintf("application exceeded its memory limit (%d MB)", st.g.limit>>20)
		a.tried = st.files
		a.log.Error("application exceeded its memory limit: new clients are refused until it is reloaded",
			zap.Int64("estimate", size), zap.Int64("limit", st.g.limit))
	}
}

// refreshFlags publishes, for the registry's other goroutines, whether the current state
// handles handshakes and unknown rendezvous.
func (a *App) refreshFlags() {
	st := a.cur
	a.wantsHandshake.Store(st != nil && st.fn("onHandshake") != nil)
	a.wantsRendezvous.Store(st != nil && st.fn("onRendezVousUnknown") != nil)
}
