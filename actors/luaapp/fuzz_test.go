package luaapp

import (
	"errors"
	"testing"
)

// errFuzzSteps stops a fuzzed match that runs too long (the budget does so in a state).
var errFuzzSteps = errors.New("too many steps")

// FuzzPattern: the matcher never panics but with its own errors, never indexes out of its
// subject, and can always be stopped.
func FuzzPattern(f *testing.F) {
	for _, seed := range [][2]string{
		{"hello world", "o w"}, {"key = value", "(%w+)%s*=%s*(%w+)"}, {"f(a(b)c)", "%b()"},
		{"THE (quick) fox", "%f[%a]%a+"}, {`say "hi"`, `(["'])(.-)%1`}, {"aaaa", "a*a*a*b"},
		{"a]b", "[]]"}, {"x", "[^%a-z]"}, {"abc", "()b()"}, {"", "^$"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, src, pat string) {
		steps := 0
		m := &matcher{src: src, pat: pat, tick: func() {
			if steps++; steps > 64 {
				panic(errFuzzSteps)
			}
		}}
		defer func() {
			if r := recover(); r != nil {
				switch r.(type) {
				case patternError:
				default:
					if r != errPatternComplex && r != errFuzzSteps {
						panic(r)
					}
				}
			}
		}()
		s, e := m.find(0)
		if s < 0 {
			return
		}
		if s > e || e > len(src) {
			t.Fatalf("match %d..%d of a %d-byte subject", s, e, len(src))
		}
		for i := range m.level {
			str, pos, isPos := m.captureValue(i, s, e)
			if isPos && (pos < 1 || pos > len(src)+1) || !isPos && len(str) > len(src) {
				t.Fatalf("capture %d: %q %d", i, str, pos)
			}
		}
	})
}

// FuzzCompile: the compiler (parse, rewrite, compile) turns any source into a function or
// an error, never a panic.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		`function onConnection(client,...) function client:test(name,firstname) return "Hello "..firstname.." "..name end end`,
		`local function f(...) return arg.n end return f(1, 2) .. "x"`,
		`a = 1 .. 2 .. (3 .. 4) .. {} .. nil`, `x = = 1`, `function f(arg, ...) return arg end`,
		`return function(...) return function() return arg end end`, `local t = {[1 .. 2] = 3 .. 4}`,
	} {
		f.Add(seed)
	}
	st := newTestState(f)
	f.Fuzz(func(t *testing.T, src string) {
		_, _ = compile(st.L, []byte(src), "fuzz")
	})
}
