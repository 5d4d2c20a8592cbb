package luaapp

import (
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// openLibs opens the libraries a script may use, without what would reach beyond its
// application: no io (a version limited to the application's folder replaces it), no
// debug, no os.execute, os.exit, os.getenv, os.remove…, no package.loadlib or C modules,
// no loading from outside the apps folder; and with every function that makes a string of
// a size the script chooses bounded by the state's string limit.
func (st *state) openLibs() {
	L := st.L
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
		{lua.OsLibName, lua.OpenOs},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	G := L.G.Global
	st.hidden = [3]lua.LValue{L.NewFunction(st.concat), L.NewFunction(pack), L.NewFunction(drop3)}

	for _, name := range []string{"dofile", "loadfile", "_printregs", "gcinfo"} {
		G.RawSetString(name, lua.LNil)
	}
	set := func(t *lua.LTable, name string, fn lua.LGFunction) { t.RawSetString(name, L.NewFunction(fn)) }
	set(G, "print", st.print)
	set(G, "tostring", tostring)
	set(G, "unpack", unpack)
	set(G, "assert", assert)
	next := G.RawGetString("next")
	set(G, "pairs", func(L *lua.LState) int { return pairs(L, next) })
	set(G, "collectgarbage", st.collectgarbage)
	set(G, "loadstring", st.loadstringFn)
	set(G, "load", st.loadFn)
	set(G, "dofile", st.dofile)
	set(G, "loadfile", st.loadfile)
	for name, level := range map[string]zapcore.Level{
		"CRITIC": zapcore.ErrorLevel, "ERROR": zapcore.ErrorLevel, "WARN": zapcore.WarnLevel,
		"NOTE": zapcore.InfoLevel, "INFO": zapcore.InfoLevel, "DEBUG": zapcore.DebugLevel, "TRACE": zapcore.DebugLevel,
	} {
		set(G, name, st.logFunc(name, level))
	}

	os := G.RawGetString("os").(*lua.LTable)
	for _, name := range []string{"execute", "exit", "getenv", "remove", "rename", "setenv", "setlocale", "tmpname"} {
		os.RawSetString(name, lua.LNil)
	}

	pkg := G.RawGetString("package").(*lua.LTable)
	pkg.RawSetString("loadlib", lua.LNil)
	pkg.RawSetString("path", lua.LString(""))
	pkg.RawSetString("cpath", lua.LString(""))
	// require reads the loaders from the registry's _LOADERS, the same table as
	// package.loaders: edited in place (preload first, then the application's folders).
	if loaders, ok := pkg.RawGetString("loaders").(*lua.LTable); ok {
		for i := loaders.Len(); i >= 2; i-- {
			loaders.RawSetInt(i, lua.LNil)
		}
		loaders.RawSetInt(2, L.NewFunction(st.loader))
	}

	co := G.RawGetString("coroutine").(*lua.LTable)
	create := co.RawGetString("create")
	co.RawSetString("create", L.NewFunction(func(L *lua.LState) int { return coCreate(L, create) }))
	co.RawSetString("wrap", L.NewFunction(func(L *lua.LState) int { return coWrap(L, create) }))

	st.openString()
	st.openTable()
	st.openIO()
}

// concat is `..` (compile.go): Lua 5.1's concatenation, bounded by the string limit.
func (st *state) concat(L *lua.LState) int {
	n := L.GetTop()
	total, simple := 0, true
	for i := 1; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			total += len(v)
		case lua.LNumber:
			total += 24
		default:
			simple = false
		}
	}
	if simple {
		if total > st.maxString {
			L.RaiseError("string too long (a concatenation of %d bytes; the limit is %d)", total, st.maxString)
		}
		st.g.charge(total)
		var b strings.Builder
		b.Grow(total)
		for i := 1; i <= n; i++ {
			switch v := L.Get(i).(type) {
			case lua.LString:
				b.WriteString(string(v))
			case lua.LNumber:
				b.WriteString(formatNumber(float64(v)))
			}
		}
		L.Push(lua.LString(b.String()))
		return 1
	}
	// Pairwise from the right, with __concat where an operand is not a string or number.
	acc := L.Get(n)
	for i := n - 1; i >= 1; i-- {
		acc = st.concat2(L, L.Get(i), acc)
	}
	L.Push(acc)
	return 1
}

func (st *state) concat2(L *lua.LState, a, b lua.LValue) lua.LValue {
	as, aok := concatString(a)
	bs, bok := concatString(b)
	if aok && bok {
		if len(as)+len(bs) > st.maxString {
			L.RaiseError("string too long (a concatenation of %d bytes; the limit is %d)", len(as)+len(bs), st.maxString)
		}
		st.g.charge(len(as) + len(bs))
		return lua.LString(as + bs)
	}
	mm := L.GetMetaField(a, "__concat")
	if mm == lua.LNil {
		mm = L.GetMetaField(b, "__concat")
	}
	if mm == lua.LNil {
		bad := a
		if aok {
			bad = b
		}
		L.RaiseError("attempt to concatenate a %s value", bad.Type().String())
	}
	L.Push(mm)
	L.Push(a)
	L.Push(b)
	L.Call(2, 1)
	r := L.Get(-1)
	L.Pop(1)
	return r
}

func concatString(v lua.LValue) (string, bool) {
	switch x := v.(type) {
	case lua.LString:
		return string(x), true
	case lua.LNumber:
		return formatNumber(float64(x)), true
	}
	return "", false
}

// formatNumber writes a number as Lua 5.1 does ("%.14g").
func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == math.Trunc(f) && math.Abs(f) < 1e15:
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}

// pack builds Lua 5.1's `arg` table: {n = select("#", ...), ...}.
func pack(L *lua.LState) int {
	n := L.GetTop()
	t := L.CreateTable(n, 1)
	for i := 1; i <= n; i++ {
		t.RawSetInt(i, L.Get(i))
	}
	t.RawSetString("n", lua.LNumber(n))
	L.Push(t)
	return 1
}

// drop3 returns its arguments but the first three (a chunk's hidden functions).
func drop3(L *lua.LState) int { return max(L.GetTop()-3, 0) }

// tostring writes numbers as Lua 5.1 does.
func tostring(L *lua.LState) int {
	v := L.CheckAny(1)
	if n, ok := v.(lua.LNumber); ok {
		L.Push(lua.LString(formatNumber(float64(n))))
		return 1
	}
	L.Push(L.ToStringMeta(v))
	return 1
}

// unpack refuses more results than a call may return.
func unpack(L *lua.LState) int {
	t := L.CheckTable(1)
	i := L.OptInt(2, 1)
	j := L.OptInt(3, t.Len())
	if i > j {
		return 0
	}
	if j-i >= maxResults {
		L.RaiseError("too many results to unpack")
	}
	for k := i; k <= j; k++ {
		L.Push(t.RawGetInt(k))
	}
	return j - i + 1
}

// assert raises its message as it is (Lua 5.1 adds no position).
func assert(L *lua.LState) int {
	if !lua.LVAsBool(L.CheckAny(1)) {
		if L.GetTop() >= 2 {
			L.Error(L.Get(2), 0)
		}
		L.Error(lua.LString("assertion failed!"), 0)
	}
	return L.GetTop()
}

// pairs honours a __pairs metamethod (Lua 5.2's), which the server's collections
// (cumulus.clients…) use so that `for id, client in pairs(cumulus.clients)` works.
func pairs(L *lua.LState, next lua.LValue) int {
	v := L.CheckAny(1)
	if mm := L.GetMetaField(v, "__pairs"); mm != lua.LNil {
		L.Push(mm)
		L.Push(v)
		L.Call(1, 3)
		return 3
	}
	t := L.CheckTable(1)
	L.Push(next)
	L.Push(t)
	L.Push(lua.LNil)
	return 3
}

// collectgarbage("count") gives the state's memory estimate in KB; other options do
// nothing (the Go collector serves every state).
func (st *state) collectgarbage(L *lua.LState) int {
	if opt := L.OptString(1, "collect"); opt == "count" {
		L.Push(lua.LNumber(float64(estimate(L, 0, st.roots()...)) / 1024))
		return 1
	}
	L.Push(lua.LNumber(0))
	return 1
}

// print and the logging functions write through the server's log, naming the
// application and the script line.
func (st *state) print(L *lua.LState) int {
	st.logLine(L, zapcore.InfoLevel, "", " ")
	return 0
}

func (st *state) logFunc(name string, level zapcore.Level) lua.LGFunction {
	return func(L *lua.LState) int {
		st.logLine(L, level, name, "")
		return 0
	}
}

func (st *state) logLine(L *lua.LState, level zapcore.Level, fn, sep string) {
	if ce := st.log.Check(level, ""); ce != nil {
		var b strings.Builder
		for i := 1; i <= L.GetTop(); i++ {
			if i > 1 {
				b.WriteString(sep)
			}
			b.WriteString(logString(L, L.Get(i)))
			if b.Len() > 64<<10 {
				break // a log line, not a dump
			}
		}
		ce.Message = b.String()
		fields := []zap.Field{zap.String("script", strings.TrimSuffix(L.Where(1), ":"))}
		if fn != "" {
			fields = append(fields, zap.String("fn", fn))
		}
		ce.Write(fields...)
	}
}

// logString writes a value as Cumulus' logging functions do.
func logString(L *lua.LState, v lua.LValue) string {
	switch x := v.(type) {
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return formatNumber(float64(x))
	case lua.LBool:
		if x {
			return "(true)"
		}
		return "(false)"
	case *lua.LNilType:
		return "(null)"
	}
	return lua.LVAsString(L.ToStringMeta(v))
}

// coCreate makes a coroutine that shares the state's guard. gopher-lua gives a thread a
// context derived from its parent's with context.WithCancel, which for a context of our
// own type starts a goroutine per coroutine that outlives it: the thread is made without
// one, then given the state's guard itself.
func coCreate(L *lua.LState, create lua.LValue) int {
	ctx := L.RemoveContext()
	defer func() {
		if ctx != nil {
			L.SetContext(ctx)
		}
	}()
	L.Push(create)
	L.Push(L.CheckFunction(1))
	L.Call(1, 1)
	th, ok := L.Get(-1).(*lua.LState)
	if ok && ctx != nil {
		th.SetContext(ctx)
	}
	return 1
}

// coWrap is coroutine.wrap over coCreate.
func coWrap(L *lua.LState, create lua.LValue) int {
	coCreate(L, create)
	th := L.Get(-1).(*lua.LState)
	L.Pop(1)
	resume := L.GetField(L.GetGlobal("coroutine"), "resume")
	L.Push(L.NewFunction(func(L *lua.LState) int {
		n := L.GetTop()
		L.Insert(th, 1)
		L.Insert(resume, 1)
		L.Call(n+1, lua.MultRet)
		if !lua.LVAsBool(L.Get(1)) {
			L.Error(L.Get(2), 0)
		}
		return L.GetTop() - 1
	}))
	return 1
}

// Loading code: every chunk goes through the compiler (compile.go) and runs in the
// application's environment; files come from the application's folder or its ancestors'
// (the apps folder at most).

func (st *state) loadstringFn(L *lua.LState) int {
	src := L.CheckString(1)
	name := L.OptString(2, src)
	if len(name) > 60 {
		name = name[:57] + "..."
	}
	return st.pushLoaded(L, []byte(src), "[string \""+name+"\"]")
}

// loadFn is load(func[, name]): the pieces are concatenated (bounded) and compiled.
func (st *state) loadFn(L *lua.LState) int {
	if s, ok := L.Get(1).(lua.LString); ok {
		return st.pushLoaded(L, []byte(s), "=(load)")
	}
	fn := L.CheckFunction(1)
	name := L.OptString(2, "=(load)")
	var b []byte
	for {
		L.Push(fn)
		L.Call(0, 1)
		piece := L.Get(-1)
		L.Pop(1)
		s, ok := piece.(lua.LString)
		if !ok || len(s) == 0 {
			break
		}
		if len(b)+len(s) > st.maxString {
			L.RaiseError("chunk too long")
		}
		b = append(b, s...)
	}
	return st.pushLoaded(L, b, name)
}

func (st *state) pushLoaded(L *lua.LState, src []byte, name string) int {
	fn, err := st.loadString(src, name, st.env)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(fn)
	return 1
}

func (st *state) loadfile(L *lua.LState) int {
	name, err := st.scriptPath(L.CheckString(1))
	if err == nil {
		var fn *lua.LFunction
		if fn, err = st.loadFile(name, st.env); err == nil {
			L.Push(fn)
			return 1
		}
	}
	L.Push(lua.LNil)
	L.Push(lua.LString(err.Error()))
	return 2
}

func (st *state) dofile(L *lua.LState) int {
	name, err := st.scriptPath(L.CheckString(1))
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	fn, err := st.loadFile(name, st.env)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	top := L.GetTop()
	L.Push(fn)
	L.Call(0, lua.MultRet)
	return L.GetTop() - top
}

// loader is require's loader: "a.b" is a/b.lua (or a/b/init.lua), Mona's "x.lua" is x.lua,
// looked up in the application's folder, then its parents' up to the apps folder.
func (st *state) loader(L *lua.LState) int {
	mod := L.CheckString(1)
	var candidates []string
	if strings.HasSuffix(mod, ".lua") {
		candidates = append(candidates, mod)
	} else {
		p := strings.ReplaceAll(mod, ".", "/")
		candidates = append(candidates, p+".lua", p+"/init.lua")
	}
	var tried []string
	for dir := st.app.path; ; dir = parentPath(dir) {
		for _, c := range candidates {
			name := path.Join(dir, c)
			if !validPath(name) {
				continue
			}
			if st.app.reg.stamp(name).exists {
				st.watch(name) // a module that fails to load is watched too: fixing it reloads
				fn, err := st.loadFile(name, st.env)
				if err != nil {
					L.RaiseError("error loading module '%s': %s", mod, err.Error())
				}
				L.Push(fn)
				return 1
			}
			tried = append(tried, "\n\tno file '"+st.app.reg.chunkName(name)+"'")
		}
		if dir == "" {
			break
		}
	}
	L.Push(lua.LString(strings.Join(tried, "")))
	return 1
}

// scriptPath resolves a script name given to dofile or loadfile: relative to the
// application's folder, or to the apps folder when it starts with '/'; never outside it.
func (st *state) scriptPath(name string) (string, error) {
	var p string
	if strings.HasPrefix(name, "/") {
		p = path.Clean(strings.TrimPrefix(name, "/"))
	} else {
		p = path.Join(st.app.path, name)
	}
	if p == "." || !validPath(p) || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("cannot open %s: outside the applications' folder", name)
	}
	return p, nil
}

// watch adds a file the state loaded to those whose change reloads the application.
func (st *state) watch(name string) {
	for _, f := range st.files {
		if f.name == name {
			return
		}
	}
	st.files = append(st.files, st.app.reg.stamp(name))
}

// parentPath is the path of an application's parent ("" for a top-level one).
func parentPath(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}
