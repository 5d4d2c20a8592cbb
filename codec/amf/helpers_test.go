package amf

import (
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/internal/hexlit"
)

// unhex decodes a hex literal (see hexlit).
func unhex(t testing.TB, s string) []byte { t.Helper(); return hexlit.Decode(t, s) }

// equalValues compares decoded values structurally. Floats compare by bit pattern (so NaN
// equals NaN); nil and empty slices are equal. With loose set, *Object's Sealed and Dynamic
// fields are ignored (AMF0 cannot carry them).
func equalValues(a, b any, loose bool) bool {
	return diff(a, b, loose, 0) == ""
}

func diff(a, b any, loose bool, depth int) string {
	if depth > 200 {
		return "too deep"
	}
	switch x := a.(type) {
	case nil:
		if b != nil {
			return fmt.Sprintf("nil vs %T", b)
		}
		return ""
	case float64:
		y, ok := b.(float64)
		if !ok || math.Float64bits(x) != math.Float64bits(y) {
			return fmt.Sprintf("%v vs %#v", x, b)
		}
		return ""
	case Date:
		y, ok := b.(Date)
		if !ok || math.Float64bits(x.Millis) != math.Float64bits(y.Millis) || x.TZ != y.TZ {
			return fmt.Sprintf("%v vs %#v", x, b)
		}
		return ""
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return fmt.Sprintf("%T len %d vs %T", a, len(x), b)
		}
		for i := range x {
			if d := diff(x[i], y[i], loose, depth+1); d != "" {
				return fmt.Sprintf("[%d]: %s", i, d)
			}
		}
		return ""
	case *Object:
		y, ok := b.(*Object)
		if !ok {
			return fmt.Sprintf("*Object vs %T", b)
		}
		if x.Class != y.Class || x.Externalizable != y.Externalizable {
			return fmt.Sprintf("object header %q/%v vs %q/%v", x.Class, x.Externalizable, y.Class, y.Externalizable)
		}
		if !loose && (x.Sealed != y.Sealed || x.Dynamic != y.Dynamic) {
			return fmt.Sprintf("traits %d/%v vs %d/%v", x.Sealed, x.Dynamic, y.Sealed, y.Dynamic)
		}
		if d := diff(x.External, y.External, loose, depth+1); d != "" {
			return "external: " + d
		}
		return diffProps(x.Props, y.Props, loose, depth)
	case *ECMAArray:
		y, ok := b.(*ECMAArray)
		if !ok || x.Count != y.Count {
			return fmt.Sprintf("*ECMAArray vs %#v", b)
		}
		return diffProps(x.Props, y.Props, loose, depth)
	case *Array:
		y, ok := b.(*Array)
		if !ok {
			return fmt.Sprintf("*Array vs %T", b)
		}
		if d := diff(x.Dense, y.Dense, loose, depth+1); d != "" {
			return d
		}
		return diffProps(x.Assoc, y.Assoc, loose, depth)
	case *VectorObject:
		y, ok := b.(*VectorObject)
		if !ok || x.Type != y.Type || x.Fixed != y.Fixed {
			return fmt.Sprintf("%#v vs %#v", a, b)
		}
		return diff(x.Items, y.Items, loose, depth+1)
	case *VectorDouble:
		y, ok := b.(*VectorDouble)
		if !ok || x.Fixed != y.Fixed || len(x.Items) != len(y.Items) {
			return fmt.Sprintf("%#v vs %#v", a, b)
		}
		for i := range x.Items {
			if math.Float64bits(x.Items[i]) != math.Float64bits(y.Items[i]) {
				return "vector double item"
			}
		}
		return ""
	case *VectorInt:
		y, ok := b.(*VectorInt)
		if !ok || x.Fixed != y.Fixed || fmt.Sprint(x.Items) != fmt.Sprint(y.Items) {
			return fmt.Sprintf("%#v vs %#v", a, b)
		}
		return ""
	case *VectorUint:
		y, ok := b.(*VectorUint)
		if !ok || x.Fixed != y.Fixed || fmt.Sprint(x.Items) != fmt.Sprint(y.Items) {
			return fmt.Sprintf("%#v vs %#v", a, b)
		}
		return ""
	case *Dictionary:
		y, ok := b.(*Dictionary)
		if !ok || x.WeakKeys != y.WeakKeys || len(x.Entries) != len(y.Entries) {
			return fmt.Sprintf("%#v vs %#v", a, b)
		}
		for i := range x.Entries {
			if d := diff(x.Entries[i].Key, y.Entries[i].Key, loose, depth+1); d != "" {
				return "dict key: " + d
			}
			if d := diff(x.Entries[i].Value, y.Entries[i].Value, loose, depth+1); d != "" {
				return "dict value: " + d
			}
		}
		return ""
	case ByteArray:
		y, ok := b.(ByteArray)
		if !ok || string(x) != string(y) {
			return fmt.Sprintf("%#v vs %#v", a, b)
		}
		return ""
	}
	if a != b {
		return fmt.Sprintf("%#v (%T) vs %#v (%T)", a, a, b, b)
	}
	return ""
}

func diffProps(x, y []Property, loose bool, depth int) string {
	if len(x) != len(y) {
		return fmt.Sprintf("%d props vs %d", len(x), len(y))
	}
	for i := range x {
		if x[i].Key != y[i].Key {
			return fmt.Sprintf("key %q vs %q", x[i].Key, y[i].Key)
		}
		if d := diff(x[i].Value, y[i].Value, loose, depth+1); d != "" {
			return fmt.Sprintf(".%s: %s", x[i].Key, d)
		}
	}
	return ""
}

// allocBytes returns the bytes allocated while f runs (approximate: other goroutines count
// too, which only makes the check stricter).
func allocBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
