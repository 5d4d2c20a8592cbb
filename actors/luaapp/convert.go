package luaapp

import (
	"errors"
	"fmt"
	"math"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// Values cross between AMF and Lua by Cumulus' rules: objects and arrays become tables
// (a typed object's class in __type, a date as {__time = ms, year, month, …}, a byte array
// as {__raw = bytes}, a dictionary's size in __size), and back: a table with __raw is a
// byte array, with __time a date, with __size a dictionary, with __type a typed object;
// a table with an array part is an array (mixed with its string keys), a table with only
// string keys an object, an empty table an empty array.

// maxDepth bounds the nesting of what is converted either way (AMF's own decoder bound).
const maxDepth = amf.DefaultMaxDepth

// errNotAMF is wrapped by what a script passes that AMF cannot carry.
var errNotAMF = errors.New("cannot be sent as AMF")

// toLua converts a decoded AMF value to Lua.
func toLua(L *lua.LState, v any) lua.LValue { return toLuaDepth(L, v, 0) }

func toLuaDepth(L *lua.LState, v any, depth int) lua.LValue {
	if depth > maxDepth {
		return lua.LNil
	}
	switch x := v.(type) {
	case nil, amf.Undefined, amf.Unsupported:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case amf.Integer:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case amf.LongString:
		return lua.LString(x)
	case amf.XML:
		return lua.LString(x)
	case amf.XMLDocument:
		return lua.LString(x)
	case *amf.Object:
		if x == nil {
			return lua.LNil
		}
		extra := 0
		if x.Class != "" {
			extra = 1
		}
		t := L.CreateTable(0, len(x.Props)+extra)
		if x.Class != "" {
			t.RawSetString("__type", lua.LString(x.Class))
		}
		if x.Externalizable {
			t.RawSetString("__external", toLuaDepth(L, x.External, depth+1))
		}
		setProps(L, t, x.Props, depth)
		return t
	case *amf.ECMAArray:
		if x == nil {
			return lua.LNil
		}
		t := L.CreateTable(0, len(x.Props))
		setProps(L, t, x.Props, depth)
		return t
	case []any:
		t := L.CreateTable(len(x), 0)
		for i, e := range x {
			t.RawSetInt(i+1, toLuaDepth(L, e, depth+1))
		}
		return t
	case *amf.Array:
		if x == nil {
			return lua.LNil
		}
		t := L.CreateTable(len(x.Dense), len(x.Assoc))
		for i, e := range x.Dense {
			t.RawSetInt(i+1, toLuaDepth(L, e, depth+1))
		}
		setProps(L, t, x.Assoc, depth)
		return t
	case amf.Date:
		return dateTable(L, x)
	case amf.ByteArray:
		t := L.CreateTable(0, 1)
		t.RawSetString("__raw", lua.LString(x))
		return t
	case []byte:
		t := L.CreateTable(0, 1)
		t.RawSetString("__raw", lua.LString(x))
		return t
	case *amf.Dictionary:
		if x == nil {
			return lua.LNil
		}
		t := L.CreateTable(0, len(x.Entries)+1)
		for _, e := range x.Entries {
			k := toLuaDepth(L, e.Key, depth+1)
			if k == lua.LNil {
				continue
			}
			if n, ok := k.(lua.LNumber); ok && math.IsNaN(float64(n)) {
				continue
			}
			t.RawSet(k, toLuaDepth(L, e.Value, depth+1))
		}
		t.RawSetString("__size", lua.LNumber(len(x.Entries)))
		if x.WeakKeys {
			mt := L.CreateTable(0, 1)
			mt.RawSetString("__mode", lua.LString("k"))
			t.Metatable = mt
		}
		return t
	case *amf.VectorInt:
		t := L.CreateTable(len(x.Items), 0)
		for i, e := range x.Items {
			t.RawSetInt(i+1, lua.LNumber(e))
		}
		return t
	case *amf.VectorUint:
		t := L.CreateTable(len(x.Items), 0)
		for i, e := range x.Items {
			t.RawSetInt(i+1, lua.LNumber(e))
		}
		return t
	case *amf.VectorDouble:
		t := L.CreateTable(len(x.Items), 0)
		for i, e := range x.Items {
			t.RawSetInt(i+1, lua.LNumber(e))
		}
		return t
	case *amf.VectorObject:
		t := L.CreateTable(len(x.Items), 0)
		for i, e := range x.Items {
			t.RawSetInt(i+1, toLuaDepth(L, e, depth+1))
		}
		return t
	case amf.AMF3Value:
		return toLuaDepth(L, x.V, depth)
	}
	return lua.LNil
}

func setProps(L *lua.LState, t *lua.LTable, props []amf.Property, depth int) {
	for _, p := range props {
		t.RawSetString(p.Key, toLuaDepth(L, p.Value, depth+1))
	}
}

// dateTable is Cumulus' date table: __time in ms and the UTC calendar fields.
func dateTable(L *lua.LState, d amf.Date) lua.LValue {
	t := L.CreateTable(0, 11)
	t.RawSetString("__time", lua.LNumber(d.Millis))
	tm := d.Time()
	if !tm.IsZero() {
		t.RawSetString("year", lua.LNumber(tm.Year()))
		t.RawSetString("month", lua.LNumber(tm.Month()))
		t.RawSetString("day", lua.LNumber(tm.Day()))
		t.RawSetString("yday", lua.LNumber(tm.YearDay()))
		t.RawSetString("wday", lua.LNumber(tm.Weekday()))
		t.RawSetString("hour", lua.LNumber(tm.Hour()))
		t.RawSetString("min", lua.LNumber(tm.Minute()))
		t.RawSetString("sec", lua.LNumber(tm.Second()))
		t.RawSetString("msec", lua.LNumber(tm.Nanosecond()/int(time.Millisecond)))
		t.RawSetString("isdst", lua.LFalse)
	}
	return t
}

// toAMF converts a Lua value to a value the AMF encoders write. Functions, threads,
// userdata, cycles and nesting beyond maxDepth cannot be carried: the error says which.
func toAMF(v lua.LValue) (any, error) {
	var c converter
	return c.value(v, 0)
}

type converter struct {
	seen map[*lua.LTable]bool // tables on the path being converted (cycles), made at the first
}

func (c *converter) value(v lua.LValue, depth int) (any, error) {
	switch x := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(x), nil
	case lua.LNumber:
		return float64(x), nil
	case lua.LString:
		return string(x), nil
	case *lua.LTable:
		if depth >= maxDepth {
			return nil, fmt.Errorf("a table nested more than %d deep %w", maxDepth, errNotAMF)
		}
		if c.seen[x] {
			return nil, fmt.Errorf("a table that contains itself %w", errNotAMF)
		}
		if c.seen == nil {
			c.seen = map[*lua.LTable]bool{}
		}
		c.seen[x] = true
		defer delete(c.seen, x)
		return c.table(x, depth)
	}
	return nil, fmt.Errorf("a %s %w", v.Type().String(), errNotAMF)
}

func (c *converter) table(t *lua.LTable, depth int) (any, error) {
	if raw, ok := t.RawGetString("__raw").(lua.LString); ok {
		return amf.ByteArray(raw), nil
	}
	if ms, ok := t.RawGetString("__time").(lua.LNumber); ok {
		return amf.Date{Millis: float64(ms)}, nil
	}
	if _, ok := t.RawGetString("__size").(lua.LNumber); ok {
		d := &amf.Dictionary{}
		var err error
		t.ForEach(func(k, v lua.LValue) {
			if err != nil || k == lua.LString("__size") {
				return
			}
			var dk, dv any
			if dk, err = c.value(k, depth+1); err != nil {
				return
			}
			if dv, err = c.value(v, depth+1); err != nil {
				return
			}
			d.Entries = append(d.Entries, amf.DictEntry{Key: dk, Value: dv})
		})
		return d, err
	}
	n := t.Len()
	var props []amf.Property
	class := ""
	if s, ok := t.RawGetString("__type").(lua.LString); ok {
		class = string(s)
	}
	// Keys in the table's insertion order (Next), as Cumulus writes them in lua_next order.
	var err error
	for k, v := t.Next(lua.LNil); k != lua.LNil; k, v = t.Next(k) {
		var key string
		switch kk := k.(type) {
		case lua.LString:
			key = string(kk)
			if key == "__type" && class != "" {
				continue
			}
		case lua.LNumber:
			if f := float64(kk); f == math.Trunc(f) && f >= 1 && f <= float64(n) {
				continue // the array part
			}
			key = lua.LVAsString(kk)
		default:
			continue // keys AMF objects cannot have (tables, booleans)
		}
		var av any
		if av, err = c.value(v, depth+1); err != nil {
			return nil, fmt.Errorf("field %q: %w", key, err)
		}
		props = append(props, amf.Property{Key: key, Value: av})
	}
	if n == 0 && class == "" {
		if len(props) == 0 {
			return []any{}, nil
		}
		return amf.NewObject(props...), nil
	}
	if class != "" {
		o := amf.NewObject(props...)
		o.Class = class
		return o, nil
	}
	dense := make([]any, n)
	for i := 1; i <= n; i++ {
		av, err := c.value(t.RawGetInt(i), depth+1)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		dense[i-1] = av
	}
	if len(props) == 0 {
		return dense, nil
	}
	return &amf.Array{Dense: dense, Assoc: props}, nil
}

// valuesToAMF converts results or arguments.
func valuesToAMF(vs []lua.LValue) ([]any, error) {
	out := make([]any, len(vs))
	for i, v := range vs {
		a, err := toAMF(v)
		if err != nil {
			return nil, fmt.Errorf("value %d: %w", i+1, err)
		}
		out[i] = a
	}
	return out, nil
}
