package amf

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

func (e *encoder) amf0(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, AMF0Null), nil
	case Undefined:
		return append(b, AMF0Undefined), nil
	case Unsupported:
		return append(b, AMF0Unsupported), nil
	case bool:
		return AppendAMF0Bool(b, x), nil
	case float64:
		return AppendAMF0Number(b, x), nil
	case float32:
		return AppendAMF0Number(b, float64(x)), nil
	case string:
		return e.string0(b, x)
	case LongString:
		if uint64(len(x)) > math.MaxUint32 {
			return b, ErrTooLong
		}
		return appendAMF0LongString(b, string(x)), nil
	case XMLDocument:
		if uint64(len(x)) > math.MaxUint32 {
			return b, ErrTooLong
		}
		b = append(b, AMF0XMLDocument)
		b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
		return append(b, x...), nil
	case Date:
		b = append(b, AMF0Date)
		b = appendDouble(b, x.Millis)
		return binary.BigEndian.AppendUint16(b, uint16(x.TZ)), nil
	case time.Time:
		return e.amf0(b, NewDate(x))
	case *Object:
		if x == nil {
			return append(b, AMF0Null), nil
		}
		if x.Externalizable {
			return e.switch3(b, x)
		}
		if x.Class == "" {
			b = append(b, AMF0Object)
		} else {
			if len(x.Class) > math.MaxUint16 {
				return b, ErrTooLong
			}
			b = append(b, AMF0TypedObject)
			b = appendU16Len(b, len(x.Class))
			b = append(b, x.Class...)
		}
		return e.props0(b, x.Props)
	case *ECMAArray:
		if x == nil {
			return append(b, AMF0Null), nil
		}
		b = append(b, AMF0ECMAArray)
		b = binary.BigEndian.AppendUint32(b, x.Count)
		return e.props0(b, x.Props)
	case map[string]any:
		if x == nil {
			return append(b, AMF0Null), nil
		}
		if err := e.enter(); err != nil {
			return b, err
		}
		b = append(b, AMF0Object)
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if len(k) > math.MaxUint16 {
				return b, ErrTooLong
			}
			b = AppendAMF0Key(b, k)
			var err error
			if b, err = e.amf0(b, x[k]); err != nil {
				return b, err
			}
		}
		e.leave()
		return AppendAMF0ObjectEnd(b), nil
	case []any:
		if err := e.enterArray0(len(x)); err != nil {
			return b, err
		}
		b = append(b, AMF0StrictArray)
		b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
		for _, item := range x {
			var err error
			if b, err = e.amf0(b, item); err != nil {
				return b, err
			}
		}
		e.leave()
		return b, nil
	case []string:
		if err := e.enterArray0(len(x)); err != nil {
			return b, err
		}
		b = append(b, AMF0StrictArray)
		b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
		for _, s := range x {
			var err error
			if b, err = e.string0(b, s); err != nil {
				return b, err
			}
		}
		e.leave()
		return b, nil
	case AMF3Value:
		return e.switch3(b, x.V)
	case Integer, ByteArray, []byte, XML, *Array, *VectorInt, *VectorUint, *VectorDouble,
		*VectorObject, *Dictionary:
		return e.switch3(b, x)
	}
	if i, u, big, ok := goInt(v); ok {
		if big {
			return AppendAMF0Number(b, float64(u)), nil
		}
		return AppendAMF0Number(b, float64(i)), nil
	}
	return b, fmt.Errorf("%w: %T", ErrUnsupported, v)
}

func (e *encoder) string0(b []byte, s string) ([]byte, error) {
	if uint64(len(s)) > math.MaxUint32 {
		return b, ErrTooLong
	}
	return AppendAMF0String(b, s), nil
}

// strictHeader0 checks a strict array's length and enters it.
func (e *encoder) enterArray0(n int) error {
	if uint64(n) > math.MaxUint32 {
		return ErrTooLong
	}
	return e.enter()
}

// props0 writes (u16 key, value) pairs and the end marker of an object or ECMA array.
func (e *encoder) props0(b []byte, props []Property) ([]byte, error) {
	if err := e.enter(); err != nil {
		return b, err
	}
	for _, p := range props {
		if len(p.Key) > math.MaxUint16 {
			return b, ErrTooLong
		}
		b = AppendAMF0Key(b, p.Key)
		var err error
		if b, err = e.amf0(b, p.Value); err != nil {
			return b, err
		}
	}
	e.leave()
	return AppendAMF0ObjectEnd(b), nil
}

// switch3 writes 0x11 and v as a self-contained AMF3 value (no references).
func (e *encoder) switch3(b []byte, v any) ([]byte, error) {
	refs := e.refs
	e.refs = false
	b, err := e.amf3(append(b, AMF0AVMPlus), v)
	e.refs = refs
	return b, err
}
