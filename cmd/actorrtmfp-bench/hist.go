package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram records durations in microseconds with a relative error below 1/64 (about
// 1.6 %): values below 128 µs each have their bucket, larger ones fall into 64 buckets per
// power of two. Recording is two atomic adds and never allocates, so any number of
// goroutines may record into one histogram.
type histogram struct {
	buckets [histBuckets]atomic.Uint64
	n       atomic.Uint64
	sum     atomic.Uint64 // µs
	max     atomic.Uint64 // µs
}

const (
	histLinear  = 128 // exact buckets for 0..127 µs
	histSub     = 64  // buckets per power of two above that
	histBuckets = histLinear + 57*histSub
)

// bucketOf returns the bucket of v µs.
func bucketOf(v uint64) int {
	if v < histLinear {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // v>>shift is in [64, 127]
	return histLinear + (shift-1)*histSub + int(v>>shift) - histSub
}

// bucketHigh returns the largest value (µs) of bucket i.
func bucketHigh(i int) uint64 {
	if i < histLinear {
		return uint64(i)
	}
	i -= histLinear
	shift := i/histSub + 1
	return (uint64(i%histSub+histSub+1) << shift) - 1
}

func (h *histogram) record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d / time.Microsecond)
	}
	h.buckets[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
}

func (h *histogram) count() uint64 { return h.n.Load() }

// quantile returns the value (µs) at or below which a fraction q of the recordings are:
// the upper edge of the bucket holding that rank, never above the maximum.
func (h *histogram) quantile(q float64) uint64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return min(bucketHigh(i), h.max.Load())
		}
	}
	return h.max.Load()
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	N    uint64  `json:"n"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func (h *histogram) summary() *Latency {
	n := h.n.Load()
	l := &Latency{N: n}
	if n == 0 {
		return l
	}
	ms := func(us uint64) float64 { return math.Round(float64(us)) / 1000 }
	l.P50, l.P95, l.P99 = ms(h.quantile(0.50)), ms(h.quantile(0.95)), ms(h.quantile(0.99))
	l.Max = ms(h.max.Load())
	l.Mean = math.Round(float64(h.sum.Load())/float64(n)) / 1000
	return l
}

// merge adds o's recordings to h (o must no longer be recorded into).
func (h *histogram) merge(o *histogram) {
	for i := range o.buckets {
		if c := o.buckets[i].Load(); c > 0 {
			h.buckets[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}
