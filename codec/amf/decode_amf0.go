package amf

import "fmt"

// ReadAMF0 decodes the next AMF0 value. Complex values (objects, typed objects, ECMA and
// strict arrays) enter the message's AMF0 reference table; a reference (0x07) returns the
// value it points to. A 0x11 switch returns the AMF3 value that follows it.
func (d *Decoder) ReadAMF0() (any, error) {
	m, err := d.u8()
	if err != nil {
		return nil, err
	}
	if m == AMF0AVMPlus {
		return d.ReadAMF3()
	}
	if err := d.charge(1, 0); err != nil {
		return nil, err
	}
	switch m {
	case AMF0Number:
		return d.f64()
	case AMF0Boolean:
		c, err := d.u8()
		return c != 0, err
	case AMF0String:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		return d.str(int(n))
	case AMF0LongString:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		if uint64(n) > uint64(d.Len()) {
			return nil, ErrShort
		}
		return d.str(int(n))
	case AMF0Null:
		return nil, nil
	case AMF0Undefined:
		return Undefined{}, nil
	case AMF0Unsupported:
		return Unsupported{}, nil
	case AMF0Object:
		return d.object0("")
	case AMF0TypedObject:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		class, err := d.str(int(n))
		if err != nil {
			return nil, err
		}
		return d.object0(class)
	case AMF0ECMAArray:
		return d.ecmaArray0()
	case AMF0StrictArray:
		return d.strictArray0()
	case AMF0Reference:
		i, err := d.u16()
		if err != nil {
			return nil, err
		}
		if int(i) >= len(d.obj0) {
			return nil, ErrReference
		}
		return d.follow(&d.obj0[i])
	case AMF0Date:
		ms, err := d.f64()
		if err != nil {
			return nil, err
		}
		tz, err := d.u16()
		return Date{Millis: ms, TZ: int16(tz)}, err
	case AMF0XMLDocument:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		if uint64(n) > uint64(d.Len()) {
			return nil, ErrShort
		}
		s, err := d.str(int(n))
		return XMLDocument(s), err
	}
	return nil, fmt.Errorf("%w: AMF0 0x%02x", ErrMarker, m)
}

// props0 reads (u16 key, value) pairs up to the 00 00 09 end marker onto the scratch
// stack. An empty key followed by anything but 0x09 is an ordinary property.
func (d *Decoder) props0() error {
	for {
		n, err := d.u16()
		if err != nil {
			return err
		}
		if n == 0 && d.off < len(d.b) && d.b[d.off] == AMF0ObjectEnd {
			d.off++
			return nil
		}
		key, err := d.str(int(n))
		if err != nil {
			return err
		}
		v, err := d.ReadAMF0()
		if err != nil {
			return err
		}
		d.props = append(d.props, Property{Key: key, Value: v})
	}
}

// newEntry0 reserves the next AMF0 reference-table slot.
func (d *Decoder) newEntry0() int {
	d.obj0 = append(d.obj0, entry{})
	return len(d.obj0) - 1
}

func (d *Decoder) object0(class string) (any, error) {
	sp := d.mark()
	if err := d.enter(); err != nil {
		return nil, err
	}
	idx := d.newEntry0()
	start := len(d.props)
	if err := d.props0(); err != nil {
		return nil, err
	}
	o := &Object{Class: class, Dynamic: true, Props: d.popProps(start)}
	d.finish(&d.obj0[idx], o, sp)
	d.leave()
	return o, nil
}

func (d *Decoder) ecmaArray0() (any, error) {
	count, err := d.u32()
	if err != nil {
		return nil, err
	}
	sp := d.mark()
	if err := d.enter(); err != nil {
		return nil, err
	}
	idx := d.newEntry0()
	start := len(d.props)
	if err := d.props0(); err != nil {
		return nil, err
	}
	a := &ECMAArray{Count: count, Props: d.popProps(start)}
	d.finish(&d.obj0[idx], a, sp)
	d.leave()
	return a, nil
}

func (d *Decoder) strictArray0() (any, error) {
	count, err := d.u32()
	if err != nil {
		return nil, err
	}
	if err := d.checkCount(uint64(count), 1); err != nil {
		return nil, err
	}
	sp := d.mark()
	if err := d.enter(); err != nil {
		return nil, err
	}
	idx := d.newEntry0()
	items := make([]any, count)
	for i := range items {
		if items[i], err = d.ReadAMF0(); err != nil {
			return nil, err
		}
	}
	d.finish(&d.obj0[idx], items, sp)
	d.leave()
	return items, nil
}

// ReadAMF0String reads an AMF0 string (0x02 or 0x0C) or a switched AMF3 string.
func (d *Decoder) ReadAMF0String() (string, error) {
	if d.off < len(d.b) && d.b[d.off] == AMF0String {
		d.off++
		if err := d.charge(1, 0); err != nil {
			return "", err
		}
		n, err := d.u16()
		if err != nil {
			return "", err
		}
		return d.str(int(n))
	}
	v, err := d.ReadAMF0()
	if err != nil {
		return "", err
	}
	s, ok := asString(v)
	if !ok {
		return "", fmt.Errorf("%w: want string, have %T", ErrType, v)
	}
	return s, nil
}

// ReadAMF0Number reads an AMF0 number or a switched AMF3 integer or double.
func (d *Decoder) ReadAMF0Number() (float64, error) {
	if d.off < len(d.b) && d.b[d.off] == AMF0Number {
		d.off++
		if err := d.charge(1, 0); err != nil {
			return 0, err
		}
		return d.f64()
	}
	v, err := d.ReadAMF0()
	if err != nil {
		return 0, err
	}
	n, ok := AsNumber(v)
	if !ok {
		return 0, fmt.Errorf("%w: want number, have %T", ErrType, v)
	}
	return n, nil
}
