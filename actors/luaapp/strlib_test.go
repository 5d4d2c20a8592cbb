package luaapp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
)

// newTestState makes a state of an application of an empty apps folder.
func newTestState(t testing.TB) *state {
	t.Helper()
	reg, err := New(Config{Root: t.TempDir(), CallTimeout: time.Second, Memory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	a := newApp(reg, "")
	a.clock = clock.Real()
	st := newState(a)
	st.env = st.L.G.Global
	t.Cleanup(st.close)
	return st
}

// run runs src in st and returns its results as text, or its error's.
func run(st *state, src string) string {
	fn, err := st.loadString([]byte(src), "test", st.env)
	if err != nil {
		return "compile: " + err.Error()
	}
	out, err := st.call(fn, lua.MultRet)
	if err != nil {
		return "error: " + err.Error()
	}
	parts := make([]string, len(out))
	for i, v := range out {
		if n, ok := v.(lua.LNumber); ok {
			parts[i] = formatNumber(float64(n))
		} else {
			parts[i] = fmt.Sprint(v)
		}
	}
	return strings.Join(parts, " ")
}

// TestPatterns checks the pattern functions against Lua 5.1's answers.
func TestPatterns(t *testing.T) {
	st := newTestState(t)
	for _, c := range []struct{ src, want string }{
		{`return string.find("hello world", "o w")`, "5 7"},
		{`return string.find("hello", "l+")`, "3 4"},
		{`return string.find("hello", "(l)(l)")`, "3 4 l l"},
		{`return string.find("a.b", ".", 1, true)`, "2 2"},
		{`return string.find("abc", "b", -1)`, "nil"},
		{`return string.find("abc", "c", -1)`, "3 3"},
		{`return string.find("abc", "", 10)`, "4 3"},
		{`return string.find("THE (quick) fox", "%((%a+)%)")`, "5 11 quick"},
		{`return string.match("key = value", "(%w+)%s*=%s*(%w+)")`, "key value"},
		{`return string.match("hello", "()ll()")`, "3 5"},
		{`return string.match("  trim  ", "^%s*(.-)%s*$")`, "trim"},
		{`return string.match("f(a(b)c)", "%b()")`, "(a(b)c)"},
		{`return string.match("2024-01-02", "(%d+)-(%d+)-(%d+)")`, "2024 01 02"},
		{`return string.match('say "hi" now', '(["\'])(.-)%1')`, `" hi`},
		{`return string.match("hello", "^(h)(e)")`, "h e"},
		{`return string.match("hello", "^e")`, "nil"},
		{`return string.match("x = [[a]]", "%[%[(.-)%]%]")`, "a"},
		{`return string.match("a]b", "[]]")`, "]"},
		{`return string.match("a-b", "[a-]+")`, "a-"},
		{`return string.match("0xFF", "^0[xX](%x+)$")`, "FF"},
		{`return string.match("end.", "%p$")`, "."},
		{`return string.match("abc", "[^%a]")`, "nil"},
		{`return string.gsub("hello world", "o", "0")`, "hell0 w0rld 2"},
		{`return string.gsub("hello world", "(%w+)", "<%1>")`, "<hello> <world> 2"},
		{`return string.gsub("abc", "%w", "%0%0")`, "aabbcc 3"},
		{`return string.gsub("hello", "", "-")`, "-h-e-l-l-o- 6"},
		{`return string.gsub("hello", "l", {l = "L"})`, "heLLo 2"},
		{`return string.gsub("$name is $age", "%$(%w+)", {name = "Bob", age = 7})`, "Bob is 7 2"},
		{`return string.gsub("a b c", "%a", function(x) if x == "b" then return nil end return x:upper() end)`, "A b C 3"},
		{`return string.gsub("hello world", "o", "0", 1)`, "hell0 world 1"},
		{`return string.gsub("THE (quick) fox", "%f[%a]%a+", "X")`, "X (X) X 3"},
		{`return string.gsub("abc", "^a", "")`, "bc 1"},
		{`return string.gsub("50%", "%%", "%%%%")`, "50%% 1"},
		{`local t = {} for w in string.gmatch("one two three", "%a+") do t[#t+1] = w end return table.concat(t, ",")`, "one,two,three"},
		{`local t = {} for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do t[#t+1] = k .. v end return table.concat(t, ",")`, "a1,b2"},
		{`local n = 0 for _ in string.gmatch("abc", "") do n = n + 1 end return n`, "4"},
		{`return ("x"):rep(3) .. ("ab"):rep(0)`, "xxx"},
		{`return string.format("%5.2f|%-3d|%s", 3.14159, 7, "s")`, " 3.14|7  |s"},
		{`return 1e15 .. " " .. 10/3 .. " " .. 2^53 .. " " .. 7`, "1e+15 3.3333333333333 9.007199254741e+15 7"},
		{`return tostring(1/0) .. tostring(-1/0)`, "inf-inf"},
		{`return string.byte("ABC", 1, -1)`, "65 66 67"},
		{`return string.find("a", "[a")`, "error: test:1: malformed pattern (missing ']')"},
		{`return string.find("a", "%")`, "error: test:1: malformed pattern (ends with '%')"},
		{`return string.match("a", "(a")`, "error: test:1: unfinished capture"},
		{`return string.match("a", "%1")`, "error: test:1: invalid capture index"},
		{`return string.format("%100d", 1)`, "error: test:1: invalid format (width or precision too long)"},
		{`return string.rep("x", 1e9)`, "error: test:1: string too long (string.rep of 1000000000 × 1 bytes; the limit is 16777216)"},
		{`return nil .. "x"`, "error: test:1: attempt to concatenate a nil value"},
		{`local mt = {__concat = function(a, b) return "joined" end} return setmetatable({}, mt) .. "x"`, "joined"},
		{`assert(false, "plain")`, "error: plain"},
		{`local function f(...) return arg.n, arg[2] end return f(1, nil, 3)`, "3 nil"},
		{`local function f(...) return select("#", ...) end return f(1, 2)`, "2"},
		{`return table.concat({1, 2, "x"}, "-")`, "1-2-x"},
	} {
		if got := run(st, c.src); got != c.want {
			t.Errorf("%s\n  got  %s\n  want %s", c.src, got, c.want)
		}
	}
}
