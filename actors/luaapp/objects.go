package luaapp

import (
	"encoding/hex"
	"sort"

	lua "github.com/yuin/gopher-lua"
)

// The server's objects reach scripts as tables: a client is a real table (scripts add
// their methods and fields to it, as `function client:test() … end` in onConnection does)
// whose metatable answers the fields that change (address, ping) and the URL's query
// properties; a publication, a listener or a group is an empty table whose metatable
// answers every field from the Go object behind it, so nothing a script sees is stale.
// Collections (cumulus.clients, publications, groups, a publication's listeners) are
// empty tables too, answering count, lookups by call, # and pairs (through __pairs, which
// this package's pairs honours) from Go maps — gopher-lua never frees the keys a table
// once had, so a table of every client that ever connected would grow for ever.

// registryOf maps the tables that stand for objects of one kind to the objects.
type registryOf[T any] struct {
	byTable map[*lua.LTable]T
}

func newRegistryOf[T any]() *registryOf[T] {
	return &registryOf[T]{byTable: map[*lua.LTable]T{}}
}

func (r *registryOf[T]) add(t *lua.LTable, v T) { r.byTable[t] = v }
func (r *registryOf[T]) remove(t *lua.LTable)   { delete(r.byTable, t) }

// get returns the object of the table at argument n (a method's self), or raises.
func (r *registryOf[T]) get(L *lua.LState, n int, what string) T {
	t, _ := L.Get(n).(*lua.LTable)
	v, ok := r.byTable[t]
	if !ok {
		L.ArgError(n, what+" expected (call it with ':')")
	}
	return v
}

// metatables are a state's metatables of the server's objects.
type metatables struct {
	client, writer, publication, listener, group *lua.LTable
}

func (st *state) newMetatables() metatables {
	return metatables{
		client:      st.clientMetatable(),
		writer:      st.writerMetatable(),
		publication: st.publicationMetatable(),
		listener:    st.listenerMetatable(),
		group:       st.groupMetatable(),
	}
}

// collection describes a collection for newCollection.
type collection struct {
	count  func() int
	lookup func(L *lua.LState, key lua.LValue) lua.LValue
	// items returns the entries in a stable order.
	items func() []item
}

type item struct{ key, value lua.LValue }

// newCollection returns the table of a collection: c.count is its count field and #c,
// c(key) and c[key] look an item up, c:pairs() and pairs(c) iterate over a snapshot,
// c:ipairs() over its values.
func (st *state) newCollection(c collection) *lua.LTable {
	L := st.L
	t := L.NewTable()
	mt := L.CreateTable(0, 5)
	snapshot := func(L *lua.LState) *lua.LTable {
		items := c.items()
		s := L.CreateTable(0, len(items))
		for _, it := range items {
			s.RawSet(it.key, it.value)
		}
		return s
	}
	next := L.GetGlobal("next")
	pairsFn := L.NewFunction(func(L *lua.LState) int {
		L.Push(next)
		L.Push(snapshot(L))
		L.Push(lua.LNil)
		return 3
	})
	ipairsFn := L.NewFunction(func(L *lua.LState) int {
		items := c.items()
		i := 0
		L.Push(L.NewFunction(func(L *lua.LState) int {
			if i >= len(items) {
				return 0
			}
			i++
			L.Push(lua.LNumber(i))
			L.Push(items[i-1].value)
			return 2
		}))
		return 1
	})
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		switch k := L.Get(2); k {
		case lua.LString("count"):
			L.Push(lua.LNumber(c.count()))
		case lua.LString("pairs"):
			L.Push(pairsFn)
		case lua.LString("ipairs"):
			L.Push(ipairsFn)
		default:
			L.Push(c.lookup(L, k))
		}
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("this collection is read-only")
		return 0
	}))
	mt.RawSetString("__call", L.NewFunction(func(L *lua.LState) int {
		L.Push(c.lookup(L, L.Get(2)))
		return 1
	}))
	mt.RawSetString("__len", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(c.count()))
		return 1
	}))
	mt.RawSetString("__pairs", pairsFn)
	t.Metatable = mt
	return t
}

// peerKey reads a peer or group ID given as 32 raw bytes or 64 hex characters.
func peerKey(v lua.LValue) (string, bool) {
	s, ok := v.(lua.LString)
	if !ok {
		return "", false
	}
	switch len(s) {
	case 32:
		return hex.EncodeToString([]byte(s)), true
	case 64:
		return string(s), true
	}
	return "", false
}

// sortedItems returns a map's entries ordered by key.
func sortedItems[T any](m map[string]T, value func(T) lua.LValue) []item {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]item, len(keys))
	for i, k := range keys {
		out[i] = item{lua.LString(k), value(m[k])}
	}
	return out
}
