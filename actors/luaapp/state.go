package luaapp

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"go.uber.org/zap"
)

// Process-wide gopher-lua knobs (package variables of gopher-lua, which nothing else in
// this program uses):
//   - Lua 5.1's implicit `arg` table is built by our compiler only where a script reads it
//     (compile.go), not at every call of every vararg function;
//   - a table index beyond MaxArrayIndex goes to the hash part, so one assignment
//     (t[1e7] = 1) cannot fill an array of millions of nils in one instruction; arrays keep
//     their length operator up to that size.
func init() {
	lua.CompatVarArg = false
	lua.MaxArrayIndex = 1 << 20
}

// Sizes of a state's stacks: fixed (no growth), so neither a deep recursion nor a huge
// unpack can make a stack grow without bound; they fail with "stack overflow" or
// "registry overflow".
const (
	callStackSize = 200  // Lua frames, Lua 5.1's LUAI_MAXCCALLS
	registrySize  = 8192 // values on the data stack
	maxResults    = 8000 // values one call may return (unpack, string.byte): Lua's LUAI_MAXCSTACK
)

// state is one Lua state: the sandboxed libraries, the application's environment chain,
// the guard of its calls. It is used only from its application's actor.
type state struct {
	app       *App
	L         *lua.LState
	g         *guard
	maxString int
	env       *lua.LTable // the application's environment (its main.lua's globals)
	log       *zap.Logger
	// files are the scripts this state loaded, with what they were when loaded (a reload
	// happens when one changes).
	files []fileStamp
	// objects reached from scripts: client, publication, listener and group tables.
	clients      *registryOf[*luaClient]
	publications *registryOf[*luaPublication]
	listeners    *registryOf[*luaListener]
	groups       *registryOf[*luaGroup]
	meta         metatables
	cumulus      *lua.LTable
	// the hidden functions passed to every compiled chunk
	hidden [3]lua.LValue
	open   map[*luaFile]struct{} // files the io library opened
}

// scriptError is an error a script raised (or the budget raised in it): Message is what
// a client is told (Lua's message, "<file>:<line>: <text>"), Trace the stack for the log.
type scriptError struct {
	Message string
	Trace   string
}

func (e *scriptError) Error() string { return e.Message }

// newState makes a state with the sandboxed libraries and the cumulus object.
func newState(a *App) *state {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, CallStackSize: callStackSize, RegistrySize: registrySize})
	st := &state{app: a, L: L, log: a.log, maxString: a.reg.maxString()}
	st.g = newGuard(a.clock, a.reg.cfg.CallTimeout, a.reg.cfg.Memory)
	st.g.estimate = func() int64 { return estimate(L, a.reg.cfg.Memory, st.roots()...) }
	st.clients = newRegistryOf[*luaClient]()
	st.publications = newRegistryOf[*luaPublication]()
	st.listeners = newRegistryOf[*luaListener]()
	st.groups = newRegistryOf[*luaGroup]()
	st.openLibs()
	st.meta = st.newMetatables()
	st.cumulus = st.newCumulus()
	L.SetContext(st.g)
	return st
}

// roots are the values of the state that only Go holds: the application's environment
// and the tables of the server's objects.
func (st *state) roots() []lua.LValue {
	out := []lua.LValue{st.env, st.cumulus}
	for t := range st.clients.byTable {
		out = append(out, t)
	}
	for t := range st.publications.byTable {
		out = append(out, t)
	}
	for t := range st.listeners.byTable {
		out = append(out, t)
	}
	for t := range st.groups.byTable {
		out = append(out, t)
	}
	return out
}

// made counts a value Go made for the state (a converted argument, a media packet) in
// what the state made since it was last walked, and returns it: a script may keep it, and
// a call too short for the heap's look would otherwise keep it unseen (a method that
// stores what its client sends, 4 MB a call).
func (st *state) made(v lua.LValue) lua.LValue {
	if st.g.limit > 0 {
		st.g.charge(int(sizeOf(v)))
	}
	return v
}

// close frees the state.
func (st *state) close() {
	st.g.stop()
	for f := range st.open {
		st.closeFile(f)
	}
	st.L.Close()
}

// call calls fn with args under the guard and returns its results (nret, or all of them
// with lua.MultRet).
func (st *state) call(fn lua.LValue, nret int, args ...lua.LValue) ([]lua.LValue, error) {
	L := st.L
	base := L.GetTop()
	L.Push(fn)
	for _, a := range args {
		L.Push(a)
	}
	st.g.arm()
	err := L.PCall(len(args), nret, nil)
	st.g.disarm()
	if err != nil {
		L.SetTop(base)
		return nil, st.scriptError(err)
	}
	n := L.GetTop() - base
	var out []lua.LValue
	if n > 0 {
		out = make([]lua.LValue, n)
		for i := range n {
			out[i] = L.Get(base + 1 + i)
		}
	}
	L.SetTop(base)
	return out, nil
}

// scriptError turns a PCall error into a scriptError.
func (st *state) scriptError(err error) *scriptError {
	var ae *lua.ApiError
	if !errors.As(err, &ae) {
		return &scriptError{Message: err.Error()}
	}
	msg := "script error"
	switch v := ae.Object.(type) {
	case lua.LString:
		msg = string(v)
	case lua.LNumber:
		msg = formatNumber(float64(v))
	case *lua.LNilType:
	default:
		// Not its __tostring: it would run outside the call, where no budget stops it.
		msg = "script error (a " + v.Type().String() + " value)"
	}
	if ae.Type == lua.ApiErrorPanic {
		// A Go panic in a library function (gopher-lua's own, or ours).
		msg = "internal error in a library function: " + msg
	}
	return &scriptError{Message: msg, Trace: ae.StackTrace}
}

// loadFile compiles a script file of the apps folder (name relative to it, slash
// separated) for env.
func (st *state) loadFile(name string, env *lua.LTable) (*lua.LFunction, error) {
	src, err := st.app.reg.readFile(name, st.maxString)
	if err != nil {
		return nil, err
	}
	return st.loadString(src, st.app.reg.chunkName(name), env)
}

// loadString compiles src named chunkName for env and returns a function that runs it
// (with its hidden functions).
func (st *state) loadString(src []byte, chunkName string, env *lua.LTable) (*lua.LFunction, error) {
	fn, err := compile(st.L, src, chunkName)
	if err != nil {
		return nil, err
	}
	fn.Env = env
	hidden := st.hidden
	return st.L.NewFunction(func(L *lua.LState) int {
		n := L.GetTop()
		L.Insert(hidden[2], 1)
		L.Insert(hidden[1], 1)
		L.Insert(hidden[0], 1)
		L.Insert(fn, 1)
		L.Call(n+3, lua.MultRet)
		return L.GetTop()
	}), nil
}

// fileStamp is what a script file was when loaded: a reload happens when it changes.
type fileStamp struct {
	name   string // relative to the apps folder
	exists bool
	size   int64
	mtime  int64
}

// stamp reads a file's stamp.
func (r *Registry) stamp(name string) fileStamp {
	fi, err := r.root.Stat(name)
	if err != nil || !fi.Mode().IsRegular() {
		return fileStamp{name: name}
	}
	return fileStamp{name: name, exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// readFile reads a file of the apps folder, refusing one larger than limit.
func (r *Registry) readFile(name string, limit int) ([]byte, error) {
	f, err := r.root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", r.chunkName(name), errors.Unwrap(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > int64(limit) {
		return nil, fmt.Errorf("%s is larger than %d bytes", r.chunkName(name), limit)
	}
	b := make([]byte, fi.Size())
	if _, err := f.Read(b); err != nil && fi.Size() > 0 {
		return nil, err
	}
	return b, nil
}

// chunkName names a script in messages: the apps folder's own name and the path within it
// ("www/a/main.lua"), which tells the author the file without telling clients the
// server's folders.
func (r *Registry) chunkName(name string) string {
	return path.Join(r.rootName, name)
}

// appFile is the path of an application's main.lua relative to the apps folder.
func appFile(appPath string) string {
	if appPath == "" {
		return "main.lua"
	}
	return appPath + "/main.lua"
}

// validPath reports whether an application path may name a folder of the apps folder:
// slash-separated names, none empty, "." or "..", no backslash or NUL.
func validPath(p string) bool {
	if p == "" {
		return true
	}
	if strings.ContainsAny(p, "\\\x00") || len(p) > 1024 {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// isNotExist reports a missing file through os.Root's errors.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
