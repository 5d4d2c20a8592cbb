package luaapp

import (
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// gopher-lua allocates from the Go heap with no accounting per state, so a state's memory
// is estimated by walking what it can reach: its globals and registry, the locals of the
// frames running (a call's `local t = {}` is found while the call runs), functions'
// upvalues and environments, metatables and coroutines. Strings count their bytes once
// however often they are stored; a table counts its entries. The estimate is within about
// a factor of two of what the Go heap holds for the state (tables cost more than counted,
// shared strings less).

// Sizes of the estimate, in bytes (gopher-lua 1.1.2 on 64 bits).
const (
	sizeTable     = 160  // the LTable with its slices' and maps' headers, and its allocation
	sizeArrayItem = 24   // an item of the array part (an interface, and a boxed number)
	sizeHashEntry = 96   // a hash entry: the map's, plus the keys slice and the k2i map
	sizeFunction  = 80   // an LFunction with a few upvalues
	sizeString    = 16   // a string header
	sizeUserData  = 64   // an LUserData
	sizeThread    = 4096 // a coroutine's stacks
)

// walker estimates a state's memory, stopping once it has counted more than limit.
type walker struct {
	limit   int64
	total   int64
	tables  map[*lua.LTable]struct{}
	funcs   map[*lua.LFunction]struct{}
	strings map[*byte]struct{}
	threads map[*lua.LState]struct{}
	stack   []lua.LValue
}

// estimate returns the memory estimate of the state L (its main thread) with the values
// only Go holds (roots: the application's environment, the clients' tables…), or a number
// beyond limit as soon as it is known to be (limit 0: no early stop).
func estimate(L *lua.LState, limit int64, roots ...lua.LValue) int64 {
	w := newWalker(limit)
	for _, r := range roots {
		w.push(r)
	}
	w.push(L.G.Registry)
	w.push(L.G.Global)
	w.push(L.Env)
	w.thread(L)
	if cur := L.G.CurrentThread; cur != nil {
		w.thread(cur)
	}
	w.run()
	return w.total
}

// sizeOf is the estimate of a value Go made for a state (an argument it converted), alone.
func sizeOf(v lua.LValue) int64 {
	switch x := v.(type) {
	case lua.LString:
		return sizeString + int64(len(x))
	case *lua.LTable:
		w := newWalker(0)
		w.push(x)
		w.run()
		return w.total
	}
	return 0 // numbers, booleans, nil: no allocation of the state's
}

func newWalker(limit int64) *walker {
	return &walker{limit: limit, tables: map[*lua.LTable]struct{}{}, funcs: map[*lua.LFunction]struct{}{},
		strings: map[*byte]struct{}{}, threads: map[*lua.LState]struct{}{}}
}

func (w *walker) over() bool { return w.limit > 0 && w.total > w.limit }

func (w *walker) push(v lua.LValue) {
	switch v.(type) {
	case *lua.LTable, *lua.LFunction, lua.LString, *lua.LUserData, *lua.LState:
		w.stack = append(w.stack, v)
	}
}

// thread counts a thread's stacks and pushes the locals of its frames.
func (w *walker) thread(th *lua.LState) {
	if _, ok := w.threads[th]; ok {
		return
	}
	w.threads[th] = struct{}{}
	w.total += sizeThread
	for level := 0; ; level++ {
		dbg, ok := th.GetStack(level)
		if !ok {
			break
		}
		for i := 1; ; i++ {
			name, v := th.GetLocal(dbg, i)
			if name == "" {
				break
			}
			w.push(v)
		}
	}
	for i := 1; i <= th.GetTop(); i++ {
		w.push(th.Get(i))
	}
}

func (w *walker) run() {
	for len(w.stack) > 0 && !w.over() {
		v := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		switch x := v.(type) {
		case lua.LString:
			if len(x) == 0 {
				continue
			}
			p := unsafe.StringData(string(x))
			if _, ok := w.strings[p]; ok {
				continue
			}
			w.strings[p] = struct{}{}
			w.total += sizeString + int64(len(x))
		case *lua.LTable:
			if _, ok := w.tables[x]; ok {
				continue
			}
			w.tables[x] = struct{}{}
			n := x.Len()
			entries := 0
			x.ForEach(func(k, v lua.LValue) {
				entries++
				w.push(k)
				w.push(v)
			})
			w.total += sizeTable + int64(n)*sizeArrayItem + int64(max(entries-n, 0))*sizeHashEntry
			if x.Metatable != nil {
				w.push(x.Metatable)
			}
		case *lua.LFunction:
			if _, ok := w.funcs[x]; ok {
				continue
			}
			w.funcs[x] = struct{}{}
			w.total += sizeFunction
			if x.Env != nil {
				w.push(x.Env)
			}
			for _, uv := range x.Upvalues {
				if uv != nil {
					w.push(uv.Value())
				}
			}
		case *lua.LUserData:
			w.total += sizeUserData
			if x.Env != nil {
				w.push(x.Env)
			}
			w.push(x.Metatable)
		case *lua.LState:
			w.thread(x)
		}
	}
}
