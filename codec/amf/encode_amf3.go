package amf

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"
)

// maxU29Len is the largest length or count a U29 header (value<<1 | 1) can carry.
const maxU29Len = maxU29 >> 1

func (e *encoder) amf3(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, AMF3Null), nil
	case Undefined:
		return append(b, AMF3Undefined), nil
	case bool:
		if x {
			return append(b, AMF3True), nil
		}
		return append(b, AMF3False), nil
	case Integer:
		return appendInt3(b, int64(x)), nil
	case float64:
		return appendDouble(append(b, AMF3Double), x), nil
	case float32:
		return appendDouble(append(b, AMF3Double), float64(x)), nil
	case string:
		return e.str3(append(b, AMF3String), x)
	case LongString:
		return e.str3(append(b, AMF3String), string(x))
	case XMLDocument:
		return e.text3(b, AMF3XMLDocument, string(x))
	case XML:
		return e.text3(b, AMF3XML, string(x))
	case ByteArray:
		return e.text3(b, AMF3ByteArray, string(x))
	case []byte:
		return e.text3(b, AMF3ByteArray, string(x))
	case Date:
		e.addObj(nil)
		return appendDouble(append(b, AMF3Date, 0x01), x.Millis), nil
	case time.Time:
		return e.amf3(b, NewDate(x))
	case []any:
		return e.array3(b, nil, x, nil, nil)
	case []string:
		return e.array3(b, nil, nil, x, nil)
	case *Array:
		if x == nil {
			return append(b, AMF3Null), nil
		}
		return e.array3(b, x, x.Dense, nil, x.Assoc)
	case *ECMAArray:
		if x == nil {
			return append(b, AMF3Null), nil
		}
		return e.array3(b, x, nil, nil, x.Props)
	case *Object:
		if x == nil {
			return append(b, AMF3Null), nil
		}
		return e.object3(b, x)
	case map[string]any:
		if x == nil {
			return append(b, AMF3Null), nil
		}
		keys := slices.Sorted(maps.Keys(x))
		props := make([]Property, len(keys))
		for i, k := range keys {
			props[i] = Property{Key: k, Value: x[k]}
		}
		return e.object3(b, &Object{Dynamic: true, Props: props})
	case *VectorInt:
		if x == nil {
			return append(b, AMF3Null), nil
		}
		return e.numVector3(b, x, AMF3VectorInt, x.Fixed, len(x.Items), func(b []byte, i int) []byte {
			return binary.BigEndian.AppendUint32(b, uint32(x.Items[i]))
		})
	case *VectorUint:
		if x == nil {
			return append(b, AMF3Null), nil
		}
		return e.numVector3(b, x, AMF3VectorUint, x.Fixed, len(x.Items), func(b []byte, i int) []byte {
			return binary.BigEndian.AppendUint32(b, x.Items[i])
		})
	case *VectorDouble:
		if x == nil {
			return append(b, AMF3Null), nil
		}
		return e.numVector3(b, x, AMF3VectorDouble, x.Fixed, len(x.Items), func(b []byte, i int) []byte {
			return appendDouble(b, x.Items[i])
		})
	case *VectorObject:
		if x == nil {
			return append(b, AMF3Null), nil
		}
		return e.objVector3(b, x)
	case *Dictionary:
		if x == nil {
			return append(b, AMF3Null), nil
		}
		return e.dictionary3(b, x)
	case AMF3Value:
		return e.amf3(b, x.V)
	}
	if i, u, big, ok := goInt(v); ok {
		if big {
			return appendDouble(append(b, AMF3Double), float64(u)), nil
		}
		return appendInt3(b, i), nil
	}
	return b, fmt.Errorf("%w in AMF3: %T", ErrUnsupported, v)
}

// appendInt3 writes i as an AMF3 integer when it fits in 29 bits, else as a double.
func appendInt3(b []byte, i int64) []byte {
	if i < MinInteger || i > MaxInteger {
		return appendDouble(append(b, AMF3Double), float64(i))
	}
	return appendU29(append(b, AMF3Integer), uint32(i)&maxU29)
}

// str3 writes a U29S string: 0x01 for "", a reference to an earlier equal string when
// references are on, or length<<1|1 and the bytes.
func (e *encoder) str3(b []byte, s string) ([]byte, error) {
	if s == "" {
		return append(b, 0x01), nil
	}
	if e.refs {
		if i, ok := e.strs[s]; ok {
			return appendU29(b, uint32(i)<<1), nil
		}
	}
	if len(s) > maxU29Len {
		return b, ErrTooLong
	}
	if e.refs {
		if e.strs == nil {
			e.strs = make(map[string]int)
		}
		e.strs[s] = len(e.strs)
	}
	b = appendU29(b, uint32(len(s))<<1|1)
	return append(b, s...), nil
}

// addObj takes the next object-table index for a value being written inline; p, if not
// nil, is the pointer by which later occurrences are recognised.
func (e *encoder) addObj(p any) {
	if !e.refs {
		return
	}
	if p != nil {
		if e.objs == nil {
			e.objs = make(map[any]objRef)
		}
		e.objs[p] = objRef{idx: e.nobj}
	}
	e.nobj++
}

// doneObj marks p as completely written, so that later occurrences may refer to it.
func (e *encoder) doneObj(p any) {
	if e.refs {
		e.objs[p] = objRef{idx: e.objs[p].idx, done: true}
	}
}

// objRef3 writes a reference to p if it was written before. It reports whether it did.
func (e *encoder) objRef3(b []byte, p any) ([]byte, bool, error) {
	if !e.refs {
		return b, false, nil
	}
	r, ok := e.objs[p]
	if !ok {
		return b, false, nil
	}
	if !r.done {
		return b, true, ErrRefLoop
	}
	return appendU29(b, uint32(r.idx)<<1), true, nil
}

// text3 writes XMLDocument, XML or ByteArray: marker, U29 length<<1|1, bytes.
func (e *encoder) text3(b []byte, m byte, s string) ([]byte, error) {
	if len(s) > maxU29Len {
		return b, ErrTooLong
	}
	e.addObj(nil)
	b = appendU29(append(b, m), uint32(len(s))<<1|1)
	return append(b, s...), nil
}

// array3 writes an AMF3 array from p (identity, may be nil), a dense part (dense or strs)
// and an associative part.
func (e *encoder) array3(b []byte, p any, dense []any, strs []string, assoc []Property) ([]byte, error) {
	b = append(b, AMF3Array)
	if p != nil {
		b, done, err := e.objRef3(b, p)
		if done || err != nil {
			return b, err
		}
	}
	n := len(dense) + len(strs)
	if n > maxU29Len {
		return b, ErrTooLong
	}
	if err := e.enter(); err != nil {
		return b, err
	}
	e.addObj(p)
	b = appendU29(b, uint32(n)<<1|1)
	var err error
	for _, a := range assoc {
		if a.Key == "" {
			return b, fmt.Errorf("%w: empty key in AMF3 array", ErrInvalid)
		}
		if b, err = e.str3(b, a.Key); err != nil {
			return b, err
		}
		if b, err = e.amf3(b, a.Value); err != nil {
			return b, err
		}
	}
	b = append(b, 0x01)
	for _, v := range dense {
		if b, err = e.amf3(b, v); err != nil {
			return b, err
		}
	}
	for _, s := range strs {
		if b, err = e.str3(append(b, AMF3String), s); err != nil {
			return b, err
		}
	}
	if p != nil {
		e.doneObj(p)
	}
	e.leave()
	return b, nil
}

// traits3 writes the traits of o, by reference when equal traits were written before.
func (e *encoder) traits3(b []byte, o *Object, sealed int, dynamic bool) ([]byte, error) {
	var flags byte
	switch {
	case o.Externalizable:
		flags = 0x07
	case dynamic:
		flags = 0x0B
	default:
		flags = 0x03
	}
	if e.refs {
		e.key = append(e.key[:0], flags)
		e.key = binary.AppendUvarint(e.key, uint64(len(o.Class)))
		e.key = append(e.key, o.Class...)
		for _, p := range o.Props[:sealed] {
			e.key = binary.AppendUvarint(e.key, uint64(len(p.Key)))
			e.key = append(e.key, p.Key...)
		}
		if i, ok := e.traits[string(e.key)]; ok {
			return appendU29(b, uint32(i)<<2|0x01), nil
		}
		if e.traits == nil {
			e.traits = make(map[string]int)
		}
		e.traits[string(e.key)] = len(e.traits)
	}
	b = appendU29(b, uint32(sealed)<<4|uint32(flags))
	b, err := e.str3(b, o.Class)
	if err != nil {
		return b, err
	}
	for _, p := range o.Props[:sealed] {
		if b, err = e.str3(b, p.Key); err != nil {
			return b, err
		}
	}
	return b, nil
}

func (e *encoder) object3(b []byte, o *Object) ([]byte, error) {
	b = append(b, AMF3Object)
	b, done, err := e.objRef3(b, o)
	if done || err != nil {
		return b, err
	}
	sealed := o.Sealed
	if o.Externalizable {
		if !knownExternal(o.Class) {
			return b, fmt.Errorf("%w: %q", ErrExternalizable, o.Class)
		}
		sealed = 0
	} else if sealed < 0 || sealed > len(o.Props) {
		return b, fmt.Errorf("%w: Sealed %d with %d properties", ErrInvalid, o.Sealed, len(o.Props))
	} else if sealed > maxU29>>4 {
		return b, ErrTooLong
	}
	dynamic := !o.Externalizable && (o.Dynamic || len(o.Props) > sealed)
	if err := e.enter(); err != nil {
		return b, err
	}
	e.addObj(o)
	if b, err = e.traits3(b, o, sealed, dynamic); err != nil {
		return b, err
	}
	if o.Externalizable {
		if b, err = e.amf3(b, o.External); err != nil {
			return b, err
		}
	} else {
		for _, p := range o.Props[:sealed] {
			if b, err = e.amf3(b, p.Value); err != nil {
				return b, err
			}
		}
		if dynamic {
			for _, p := range o.Props[sealed:] {
				if p.Key == "" {
					return b, fmt.Errorf("%w: empty dynamic property name", ErrInvalid)
				}
				if b, err = e.str3(b, p.Key); err != nil {
					return b, err
				}
				if b, err = e.amf3(b, p.Value); err != nil {
					return b, err
				}
			}
			b = append(b, 0x01)
		}
	}
	e.doneObj(o)
	e.leave()
	return b, nil
}

// vectorHeader writes marker, reference or U29 count<<1|1 and the fixed flag.
func (e *encoder) vectorHeader(b []byte, p any, m byte, fixed bool, n int) ([]byte, bool, error) {
	b = append(b, m)
	b, done, err := e.objRef3(b, p)
	if done || err != nil {
		return b, true, err
	}
	if n > maxU29Len {
		return b, true, ErrTooLong
	}
	e.addObj(p)
	b = appendU29(b, uint32(n)<<1|1)
	if fixed {
		return append(b, 1), false, nil
	}
	return append(b, 0), false, nil
}

func (e *encoder) numVector3(b []byte, p any, m byte, fixed bool, n int, item func([]byte, int) []byte) ([]byte, error) {
	b, done, err := e.vectorHeader(b, p, m, fixed, n)
	if done || err != nil {
		return b, err
	}
	for i := 0; i < n; i++ {
		b = item(b, i)
	}
	e.doneObj(p)
	return b, nil
}

func (e *encoder) objVector3(b []byte, x *VectorObject) ([]byte, error) {
	b, done, err := e.vectorHeader(b, x, AMF3VectorObject, x.Fixed, len(x.Items))
	if done || err != nil {
		return b, err
	}
	if err := e.enter(); err != nil {
		return b, err
	}
	if b, err = e.str3(b, x.Type); err != nil {
		return b, err
	}
	for _, v := range x.Items {
		if b, err = e.amf3(b, v); err != nil {
			return b, err
		}
	}
	e.doneObj(x)
	e.leave()
	return b, nil
}

func (e *encoder) dictionary3(b []byte, x *Dictionary) ([]byte, error) {
	b, done, err := e.vectorHeader(b, x, AMF3Dictionary, x.WeakKeys, len(x.Entries))
	if done || err != nil {
		return b, err
	}
	if err := e.enter(); err != nil {
		return b, err
	}
	for _, en := range x.Entries {
		if b, err = e.amf3(b, en.Key); err != nil {
			return b, err
		}
		if b, err = e.amf3(b, en.Value); err != nil {
			return b, err
		}
	}
	e.doneObj(x)
	e.leave()
	return b, nil
}
