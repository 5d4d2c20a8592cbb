package amf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Flex classes whose externalized form is exactly one AMF3 value.
var externalClasses = [...]string{
	"flex.messaging.io.ArrayCollection",
	"flex.messaging.io.ArrayList",
	"flex.messaging.io.ObjectProxy",
}

func knownExternal(class string) bool {
	for _, c := range externalClasses {
		if c == class {
			return true
		}
	}
	return false
}

// ReadAMF3 decodes the next AMF3 value. The AMF3 reference tables live until the next
// Reset, so consecutive calls (and 0x11 switches met by ReadAMF0) share them.
func (d *Decoder) ReadAMF3() (any, error) {
	m, err := d.u8()
	if err != nil {
		return nil, err
	}
	if err := d.charge(1, 0); err != nil {
		return nil, err
	}
	switch m {
	case AMF3Undefined:
		return Undefined{}, nil
	case AMF3Null:
		return nil, nil
	case AMF3False:
		return false, nil
	case AMF3True:
		return true, nil
	case AMF3Integer:
		u, err := d.u29()
		return Integer(u29Signed(u)), err
	case AMF3Double:
		return d.f64()
	case AMF3String:
		return d.str3()
	case AMF3XMLDocument, AMF3XML, AMF3ByteArray:
		return d.text3(m)
	case AMF3Date:
		return d.date3()
	case AMF3Array:
		return d.array3()
	case AMF3Object:
		return d.object3()
	case AMF3VectorInt, AMF3VectorUint, AMF3VectorDouble:
		return d.numVector3(m)
	case AMF3VectorObject:
		return d.objVector3()
	case AMF3Dictionary:
		return d.dictionary3()
	}
	return nil, fmt.Errorf("%w: AMF3 0x%02x", ErrMarker, m)
}

// str3 reads a U29S string or string reference.
func (d *Decoder) str3() (string, error) {
	u, err := d.u29()
	if err != nil {
		return "", err
	}
	if u&1 == 0 {
		i := u >> 1
		if uint64(i) >= uint64(len(d.strTab)) {
			return "", ErrReference
		}
		s := d.strTab[i]
		return s, d.charge(0, len(s))
	}
	s, err := d.str(int(u >> 1))
	if err != nil {
		return "", err
	}
	if s != "" {
		d.strTab = append(d.strTab, s)
	}
	return s, nil
}

// header3 reads the U29 of an object-table type. For a reference it returns the referenced
// value and isRef; otherwise the U29 shifted right by one.
func (d *Decoder) header3() (n uint32, v any, isRef bool, err error) {
	u, err := d.u29()
	if err != nil {
		return 0, nil, false, err
	}
	if u&1 == 0 {
		i := u >> 1
		if uint64(i) >= uint64(len(d.obj3)) {
			return 0, nil, true, ErrReference
		}
		v, err := d.follow(&d.obj3[i])
		return 0, v, true, err
	}
	return u >> 1, nil, false, nil
}

// newEntry3 reserves the next AMF3 object-table slot.
func (d *Decoder) newEntry3() int {
	d.obj3 = append(d.obj3, entry{})
	return len(d.obj3) - 1
}

// text3 reads XMLDocument (0x07), XML (0x0B) or ByteArray (0x0C).
func (d *Decoder) text3(m byte) (any, error) {
	n, v, isRef, err := d.header3()
	if isRef || err != nil {
		return v, err
	}
	idx := d.newEntry3()
	sp := d.mark()
	if m == AMF3ByteArray {
		p, err := d.blob(int(n))
		if err != nil {
			return nil, err
		}
		v = ByteArray(p)
	} else {
		s, err := d.str(int(n))
		if err != nil {
			return nil, err
		}
		if m == AMF3XML {
			v = XML(s)
		} else {
			v = XMLDocument(s)
		}
	}
	d.finish(&d.obj3[idx], v, sp)
	return v, nil
}

func (d *Decoder) date3() (any, error) {
	_, v, isRef, err := d.header3()
	if isRef || err != nil {
		return v, err
	}
	idx := d.newEntry3()
	sp := d.mark()
	ms, err := d.f64()
	if err != nil {
		return nil, err
	}
	v = Date{Millis: ms}
	d.finish(&d.obj3[idx], v, sp)
	return v, nil
}

func (d *Decoder) array3() (any, error) {
	n, v, isRef, err := d.header3()
	if isRef || err != nil {
		return v, err
	}
	if err := d.checkCount(uint64(n), 1); err != nil {
		return nil, err
	}
	sp := d.mark()
	if err := d.enter(); err != nil {
		return nil, err
	}
	idx := d.newEntry3()
	start := len(d.props)
	for {
		key, err := d.str3()
		if err != nil {
			return nil, err
		}
		if key == "" {
			break
		}
		v, err := d.ReadAMF3()
		if err != nil {
			return nil, err
		}
		d.props = append(d.props, Property{Key: key, Value: v})
	}
	assoc := d.popProps(start)
	if err := d.checkCount(uint64(n), 1); err != nil {
		return nil, err
	}
	dense := make([]any, n)
	for i := range dense {
		if dense[i], err = d.ReadAMF3(); err != nil {
			return nil, err
		}
	}
	v = dense
	if assoc != nil {
		v = &Array{Dense: dense, Assoc: assoc}
	}
	d.finish(&d.obj3[idx], v, sp)
	d.leave()
	return v, nil
}

// traits3 reads the traits part of a U29O whose bit 0 is set.
func (d *Decoder) traits3(u uint32) (*traits, error) {
	if u&2 == 0 {
		i := u >> 2
		if uint64(i) >= uint64(len(d.trait3)) {
			return nil, ErrReference
		}
		t := d.trait3[i]
		return t, d.charge(0, t.nameBytes)
	}
	t := &traits{ext: u&4 != 0, dynamic: u&4 == 0 && u&8 != 0}
	var err error
	if t.class, err = d.str3(); err != nil {
		return nil, err
	}
	t.nameBytes = len(t.class)
	if !t.ext {
		count := u >> 4
		if err := d.checkCount(uint64(count), 1); err != nil {
			return nil, err
		}
		if count > 0 {
			t.names = make([]string, count)
		}
		for i := range t.names {
			if t.names[i], err = d.str3(); err != nil {
				return nil, err
			}
			t.nameBytes += len(t.names[i])
		}
	}
	d.trait3 = append(d.trait3, t)
	return t, nil
}

func (d *Decoder) object3() (any, error) {
	u, err := d.u29()
	if err != nil {
		return nil, err
	}
	if u&1 == 0 {
		i := u >> 1
		if uint64(i) >= uint64(len(d.obj3)) {
			return nil, ErrReference
		}
		return d.follow(&d.obj3[i])
	}
	sp := d.mark()
	if err := d.enter(); err != nil {
		return nil, err
	}
	idx := d.newEntry3()
	t, err := d.traits3(u)
	if err != nil {
		return nil, err
	}
	o := &Object{Class: t.class, Sealed: len(t.names), Dynamic: t.dynamic, Externalizable: t.ext}
	if t.ext {
		if !knownExternal(t.class) {
			return nil, fmt.Errorf("%w: %q", ErrExternalizable, t.class)
		}
		if o.External, err = d.ReadAMF3(); err != nil {
			return nil, err
		}
	} else {
		start := len(d.props)
		for _, name := range t.names {
			v, err := d.ReadAMF3()
			if err != nil {
				return nil, err
			}
			d.props = append(d.props, Property{Key: name, Value: v})
		}
		for t.dynamic {
			key, err := d.str3()
			if err != nil {
				return nil, err
			}
			if key == "" {
				break
			}
			v, err := d.ReadAMF3()
			if err != nil {
				return nil, err
			}
			d.props = append(d.props, Property{Key: key, Value: v})
		}
		o.Props = d.popProps(start)
	}
	d.finish(&d.obj3[idx], o, sp)
	d.leave()
	return o, nil
}

// numVector3 reads Vector.<int>, Vector.<uint> or Vector.<Number>.
func (d *Decoder) numVector3(m byte) (any, error) {
	n, v, isRef, err := d.header3()
	if isRef || err != nil {
		return v, err
	}
	fixed, err := d.u8()
	if err != nil {
		return nil, err
	}
	size := 4
	if m == AMF3VectorDouble {
		size = 8
	}
	if err := d.checkCount(uint64(n), size); err != nil {
		return nil, err
	}
	idx := d.newEntry3()
	sp := d.mark()
	if err := d.charge(0, int(n)*size); err != nil {
		return nil, err
	}
	p, _ := d.bytesN(int(n) * size)
	switch m {
	case AMF3VectorInt:
		items := make([]int32, n)
		for i := range items {
			items[i] = int32(binary.BigEndian.Uint32(p[4*i:]))
		}
		v = &VectorInt{Fixed: fixed != 0, Items: items}
	case AMF3VectorUint:
		items := make([]uint32, n)
		for i := range items {
			items[i] = binary.BigEndian.Uint32(p[4*i:])
		}
		v = &VectorUint{Fixed: fixed != 0, Items: items}
	default:
		items := make([]float64, n)
		for i := range items {
			items[i] = math.Float64frombits(binary.BigEndian.Uint64(p[8*i:]))
		}
		v = &VectorDouble{Fixed: fixed != 0, Items: items}
	}
	d.finish(&d.obj3[idx], v, sp)
	return v, nil
}

func (d *Decoder) objVector3() (any, error) {
	n, v, isRef, err := d.header3()
	if isRef || err != nil {
		return v, err
	}
	fixed, err := d.u8()
	if err != nil {
		return nil, err
	}
	sp := d.mark()
	if err := d.enter(); err != nil {
		return nil, err
	}
	idx := d.newEntry3()
	typ, err := d.str3()
	if err != nil {
		return nil, err
	}
	if err := d.checkCount(uint64(n), 1); err != nil {
		return nil, err
	}
	vec := &VectorObject{Type: typ, Fixed: fixed != 0, Items: make([]any, n)}
	for i := range vec.Items {
		if vec.Items[i], err = d.ReadAMF3(); err != nil {
			return nil, err
		}
	}
	d.finish(&d.obj3[idx], vec, sp)
	d.leave()
	return vec, nil
}

func (d *Decoder) dictionary3() (any, error) {
	n, v, isRef, err := d.header3()
	if isRef || err != nil {
		return v, err
	}
	weak, err := d.u8()
	if err != nil {
		return nil, err
	}
	if err := d.checkCount(uint64(n), 2); err != nil {
		return nil, err
	}
	sp := d.mark()
	if err := d.enter(); err != nil {
		return nil, err
	}
	idx := d.newEntry3()
	dict := &Dictionary{WeakKeys: weak != 0, Entries: make([]DictEntry, n)}
	for i := range dict.Entries {
		e := &dict.Entries[i]
		if e.Key, err = d.ReadAMF3(); err != nil {
			return nil, err
		}
		if e.Value, err = d.ReadAMF3(); err != nil {
			return nil, err
		}
	}
	d.finish(&d.obj3[idx], dict, sp)
	d.leave()
	return dict, nil
}
