package session

import "iter"

// flowMap maps flow IDs (or keys) to flows. A session has few flows — an idle client
// one or two of each kind — and a Go map costs a few hundred bytes even for one entry,
// for every session: up to flowMapInline entries live in a slice, searched linearly,
// and beyond that in a map (a far end may open many flows, up to Config.MaxRecvFlows).
type flowMap[K comparable, V any] struct {
	list []flowEntry[K, V]
	m    map[K]V
}

type flowEntry[K comparable, V any] struct {
	k K
	v V
}

const flowMapInline = 8

// get returns the value of k, or the zero value.
func (t *flowMap[K, V]) get(k K) V {
	if t.m != nil {
		return t.m[k]
	}
	for i := range t.list {
		if t.list[i].k == k {
			return t.list[i].v
		}
	}
	var zero V
	return zero
}

// set adds or replaces the value of k.
func (t *flowMap[K, V]) set(k K, v V) {
	if t.m != nil {
		t.m[k] = v
		return
	}
	for i := range t.list {
		if t.list[i].k == k {
			t.list[i].v = v
			return
		}
	}
	if len(t.list) < flowMapInline {
		t.list = append(t.list, flowEntry[K, V]{k, v})
		return
	}
	t.m = make(map[K]V, 2*flowMapInline)
	for _, e := range t.list {
		t.m[e.k] = e.v
	}
	t.m[k] = v
	t.list = nil
}

// del removes k.
func (t *flowMap[K, V]) del(k K) {
	if t.m != nil {
		delete(t.m, k)
		return
	}
	for i := range t.list {
		if t.list[i].k == k {
			n := copy(t.list[i:], t.list[i+1:])
			t.list[i+n] = flowEntry[K, V]{}
			t.list = t.list[:i+n]
			return
		}
	}
}

func (t *flowMap[K, V]) len() int {
	if t.m != nil {
		return len(t.m)
	}
	return len(t.list)
}

// all yields every entry; yield may delete the entry it was given (not others).
func (t *flowMap[K, V]) all() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if t.m != nil {
			for k, v := range t.m {
				if !yield(k, v) {
					return
				}
			}
			return
		}
		for i := 0; i < len(t.list); {
			e := t.list[i]
			if !yield(e.k, e.v) {
				return
			}
			if i < len(t.list) && t.list[i].k == e.k {
				i++
			} // else e was deleted and i holds the next entry
		}
	}
}

// values yields every value; yield may delete the entry it was given (not others).
func (t *flowMap[K, V]) values() iter.Seq[V] {
	return func(yield func(V) bool) {
		for _, v := range t.all() {
			if !yield(v) {
				return
			}
		}
	}
}

// clear removes every entry.
func (t *flowMap[K, V]) clear() {
	clear(t.list)
	t.list = t.list[:0]
	t.m = nil
}
