package luaapp

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// openString replaces the string functions that could run or allocate without bound:
// the pattern functions use a matcher the guard can stop (pattern.go); rep, format, byte
// and gsub are bounded by the state's string limit; dump is gone.
func (st *state) openString() {
	L := st.L
	str := L.G.Global.RawGetString("string").(*lua.LTable)
	format := str.RawGetString("format")
	str.RawSetString("dump", lua.LNil)
	for name, fn := range map[string]lua.LGFunction{
		"find":   func(L *lua.LState) int { return st.find(L, true) },
		"match":  func(L *lua.LState) int { return st.find(L, false) },
		"gmatch": st.gmatch,
		"gsub":   st.gsub,
		"rep":    st.rep,
		"byte":   strByte,
		"format": func(L *lua.LState) int { return st.format(L, format) },
	} {
		str.RawSetString(name, L.NewFunction(fn))
	}
	if gfind := str.RawGetString("gfind"); gfind != lua.LNil {
		str.RawSetString("gfind", str.RawGetString("gmatch"))
	}
}

// openTable bounds table.concat.
func (st *state) openTable() {
	L := st.L
	tab := L.G.Global.RawGetString("table").(*lua.LTable)
	concat := tab.RawGetString("concat")
	tab.RawSetString("concat", L.NewFunction(func(L *lua.LState) int {
		t := L.CheckTable(1)
		sep := L.OptString(2, "")
		i := L.OptInt(3, 1)
		j := L.OptInt(4, t.Len())
		total := 0
		for k := i; k <= j; k++ {
			switch v := t.RawGetInt(k).(type) {
			case lua.LString:
				total += len(v)
			case lua.LNumber:
				total += 24
			default:
				L.RaiseError("invalid value (at index %d) in table for 'concat'", k)
			}
			if k > i {
				total += len(sep)
			}
			if total > st.maxString {
				L.RaiseError("string too long (table.concat beyond %d bytes)", st.maxString)
			}
		}
		st.g.charge(total)
		n := L.GetTop()
		L.Insert(concat, 1)
		L.Call(n, 1)
		return 1
	}))
}

// matcherFor sets a matcher up for the running call.
func (st *state) matcherFor(L *lua.LState, src, pat string) *matcher {
	return &matcher{src: src, pat: pat, tick: func() { st.g.raiseIfKilled(L) }}
}

// patternCall runs f, turning the matcher's panics into Lua errors.
func patternCall(L *lua.LState, f func() int) (n int) {
	defer func() {
		if r := recover(); r != nil {
			switch e := r.(type) {
			case patternError:
				L.RaiseError("%s", e.msg)
			case error:
				if e == errPatternComplex {
					L.RaiseError("pattern too complex")
				}
				panic(r)
			default:
				panic(r)
			}
		}
	}()
	return f()
}

// posrelat converts a relative string position (negative: from the end) to an index from 1.
func posrelat(pos, n int) int {
	if pos < 0 {
		pos += n + 1
	}
	return pos
}

// find is string.find (find) and string.match (!find), Lua 5.1's str_find_aux.
func (st *state) find(L *lua.LState, find bool) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	init := posrelat(L.OptInt(3, 1), len(src)) - 1
	if init < 0 {
		init = 0
	} else if init > len(src) {
		init = len(src)
	}
	if find && (lua.LVAsBool(L.Get(4)) || !hasSpecials(pat)) {
		if i := strings.Index(src[init:], pat); i >= 0 {
			L.Push(lua.LNumber(init + i + 1))
			L.Push(lua.LNumber(init + i + len(pat)))
			return 2
		}
		L.Push(lua.LNil)
		return 1
	}
	m := st.matcherFor(L, src, pat)
	return patternCall(L, func() int {
		s, e := m.find(init)
		if s < 0 {
			L.Push(lua.LNil)
			return 1
		}
		if find {
			L.Push(lua.LNumber(s + 1))
			L.Push(lua.LNumber(e))
			return 2 + pushCaptures(L, m, s, e, false)
		}
		return pushCaptures(L, m, s, e, true)
	})
}

// pushCaptures pushes a match's captures; with none, the whole match if whole is set.
func pushCaptures(L *lua.LState, m *matcher, s, e int, whole bool) int {
	n := m.level
	if n == 0 && whole {
		n = 1
	}
	for i := range n {
		pushCapture(L, m, i, s, e)
	}
	return n
}

func pushCapture(L *lua.LState, m *matcher, i, s, e int) {
	str, pos, isPos := m.captureValue(i, s, e)
	if isPos {
		L.Push(lua.LNumber(pos))
	} else {
		L.Push(lua.LString(str))
	}
}

// gmatch is string.gmatch: each call of the iterator finds the next match (Lua 5.1's
// gmatch_aux), where gopher-lua's computes them all at once.
func (st *state) gmatch(L *lua.LState) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	pos := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		m := st.matcherFor(L, src, pat)
		return patternCall(L, func() int {
			for s := pos; s <= len(src); s++ {
				m.level = 0
				if e := m.match(s, 0); e != -1 {
					pos = e
					if e == s {
						pos++ // an empty match: go on one position further
					}
					return pushCaptures(L, m, s, e, true)
				}
			}
			pos = len(src) + 1
			return 0
		})
	}))
	return 1
}

// gsub is string.gsub, its result bounded by the string limit.
func (st *state) gsub(L *lua.LState) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	repl := L.CheckAny(3)
	switch repl.(type) {
	case lua.LString, lua.LNumber, *lua.LTable, *lua.LFunction:
	default:
		L.ArgError(3, "string/function/table expected")
	}
	maxN := L.OptInt(4, len(src)+1)
	anchor := len(pat) > 0 && pat[0] == '^'
	p := 0
	if anchor {
		p = 1
	}
	m := st.matcherFor(L, src, pat)
	var b strings.Builder
	add := func(s string) {
		if b.Len()+len(s) > st.maxString {
			L.RaiseError("string too long (gsub beyond %d bytes)", st.maxString)
		}
		b.WriteString(s)
	}
	n := 0
	patternCall(L, func() int {
		s := 0
		for n < maxN {
			m.level = 0
			e := m.match(s, p)
			if e != -1 {
				n++
				add(st.replacement(L, m, repl, s, e))
			}
			switch {
			case e != -1 && e > s:
				s = e
			case s < len(src):
				add(src[s : s+1])
				s++
			default:
				s = len(src) + 1
			}
			if s > len(src) || anchor {
				break
			}
		}
		if s <= len(src) {
			add(src[s:])
		}
		return 0
	})
	st.g.charge(b.Len())
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(n))
	return 2
}

// replacement is what gsub puts for the match src[s:e] (Lua 5.1's add_value).
func (st *state) replacement(L *lua.LState, m *matcher, repl lua.LValue, s, e int) string {
	whole := m.src[s:e]
	var v lua.LValue
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		rs := lua.LVAsString(r)
		var b strings.Builder
		for i := 0; i < len(rs); i++ {
			c := rs[i]
			if c != '%' || i+1 == len(rs) {
				b.WriteByte(c)
				continue
			}
			i++
			d := rs[i]
			switch {
			case d == '0':
				b.WriteString(whole)
			case d >= '1' && d <= '9':
				str, pos, isPos := m.captureValue(int(d-'1'), s, e)
				if isPos {
					b.WriteString(formatNumber(float64(pos)))
				} else {
					b.WriteString(str)
				}
			default:
				b.WriteByte(d)
			}
			if b.Len() > st.maxString {
				L.RaiseError("string too long (gsub beyond %d bytes)", st.maxString)
			}
		}
		return b.String()
	case *lua.LTable:
		pushCapture(L, m, 0, s, e)
		key := L.Get(-1)
		L.Pop(1)
		v = L.GetTable(r, key)
	case *lua.LFunction:
		n := pushCaptures(L, m, s, e, true)
		args := make([]lua.LValue, n)
		for i := n; i >= 1; i-- {
			args[i-1] = L.Get(-1)
			L.Pop(1)
		}
		L.Push(r)
		for _, a := range args {
			L.Push(a)
		}
		L.Call(n, 1)
		v = L.Get(-1)
		L.Pop(1)
	}
	switch x := v.(type) {
	case *lua.LNilType:
		return whole
	case lua.LBool:
		if !x {
			return whole
		}
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return formatNumber(float64(x))
	}
	L.RaiseError("invalid replacement value (a %s)", v.Type().String())
	return ""
}

// rep is string.rep, bounded.
func (st *state) rep(L *lua.LState) int {
	s := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || len(s) == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	if n > st.maxString/len(s) {
		L.RaiseError("string too long (string.rep of %d × %d bytes; the limit is %d)", n, len(s), st.maxString)
	}
	st.g.charge(n * len(s))
	L.Push(lua.LString(strings.Repeat(s, n)))
	return 1
}

// strByte is string.byte with no more results than a call may return.
func strByte(L *lua.LState) int {
	s := L.CheckString(1)
	i := posrelat(L.OptInt(2, 1), len(s))
	j := posrelat(L.OptInt(3, i), len(s))
	if i < 1 {
		i = 1
	}
	if j > len(s) {
		j = len(s)
	}
	if i > j {
		return 0
	}
	if j-i >= maxResults {
		L.RaiseError("string slice too long")
	}
	for k := i; k <= j; k++ {
		L.Push(lua.LNumber(s[k-1]))
	}
	return j - i + 1
}

// format is string.format with Lua 5.1's limits on widths and precisions (two digits),
// which keep its result near the size of its arguments, and the string limit.
func (st *state) format(L *lua.LState, format lua.LValue) int {
	f := L.CheckString(1)
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			continue
		}
		for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
			i++
		}
		digits := 0
		for i < len(f) && isDigit(f[i]) {
			i++
			digits++
		}
		if i < len(f) && f[i] == '.' {
			i++
			prec := 0
			for i < len(f) && isDigit(f[i]) {
				i++
				prec++
			}
			digits = max(digits, prec)
		}
		if digits > 2 {
			L.RaiseError("invalid format (width or precision too long)")
		}
	}
	n := L.GetTop()
	total := len(f)
	for i := 2; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			total += len(v)
		default:
			total += 100
		}
	}
	if total > st.maxString {
		L.RaiseError("string too long (string.format beyond %d bytes)", st.maxString)
	}
	L.Insert(format, 1)
	L.Call(n, 1)
	if s, ok := L.Get(-1).(lua.LString); ok {
		if len(s) > st.maxString {
			L.RaiseError("string too long (string.format beyond %d bytes)", st.maxString)
		}
		st.g.charge(len(s))
	}
	return 1
}
