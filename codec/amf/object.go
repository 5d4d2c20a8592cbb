package amf

// Get returns the value of the first property named key.
func (o *Object) Get(key string) (any, bool) {
	if o == nil {
		return nil, false
	}
	return propsGet(o.Props, key)
}

// GetString returns the property named key if it is a string.
func (o *Object) GetString(key string) (string, bool) {
	v, _ := o.Get(key)
	return asString(v)
}

// GetNumber returns the property named key if it is a number (float64 or Integer).
func (o *Object) GetNumber(key string) (float64, bool) {
	v, _ := o.Get(key)
	return AsNumber(v)
}

// Set replaces the value of the first property named key, or appends a new (dynamic)
// property.
func (o *Object) Set(key string, v any) {
	if i := propsIndex(o.Props, key); i >= 0 {
		o.Props[i].Value = v
		return
	}
	o.Props = append(o.Props, Property{Key: key, Value: v})
}

// Get returns the value of the first property named key.
func (a *ECMAArray) Get(key string) (any, bool) {
	if a == nil {
		return nil, false
	}
	return propsGet(a.Props, key)
}

// GetString returns the property named key if it is a string.
func (a *ECMAArray) GetString(key string) (string, bool) {
	v, _ := a.Get(key)
	return asString(v)
}

// GetNumber returns the property named key if it is a number (float64 or Integer).
func (a *ECMAArray) GetNumber(key string) (float64, bool) {
	v, _ := a.Get(key)
	return AsNumber(v)
}

// Set replaces the value of the first property named key or appends a new one. When Count
// equalled the number of properties before an append, it is kept equal.
func (a *ECMAArray) Set(key string, v any) {
	if i := propsIndex(a.Props, key); i >= 0 {
		a.Props[i].Value = v
		return
	}
	if int64(a.Count) == int64(len(a.Props)) {
		a.Count++
	}
	a.Props = append(a.Props, Property{Key: key, Value: v})
}

func propsIndex(props []Property, key string) int {
	for i := range props {
		if props[i].Key == key {
			return i
		}
	}
	return -1
}

func propsGet(props []Property, key string) (any, bool) {
	if i := propsIndex(props, key); i >= 0 {
		return props[i].Value, true
	}
	return nil, false
}

func asString(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case LongString:
		return string(s), true
	}
	return "", false
}

// AsNumber reads an AMF number as float64, whether it was decoded as an AMF0 / AMF3
// double (float64) or an AMF3 integer (Integer).
func AsNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case Integer:
		return float64(n), true
	}
	return 0, false
}
