package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// fuzzLimits are small, so that the fuzzer reaches every limit.
var fuzzLimits = recvLimits{capacity: 4096, maxAhead: 64, maxRanges: 8, maxMessage: 8192}

// Fuzz input: an optional mode byte, then steps of a 4-byte header and data.
//
//	mode:   bit 0 network order, bit 1 the flow is not accepted (messages are held)
//	step:   flags | seq delta (int8; -128 jumps 2^20 ahead) | fsn back-offset (> seq: bad FSN) | data length/2
//
// Flags with bit 0x40 set are not fragments but upper-layer actions: 0x01 release the
// held messages (accept), 0x02 an acknowledgement was sent, 0x04 reject the flow.
func FuzzRecvFlowReassembly(f *testing.F) {
	step := func(flags byte, delta int8, back byte, n byte, data ...byte) []byte {
		return append([]byte{flags, byte(delta), back, n}, data...)
	}
	cat := func(mode byte, steps ...[]byte) []byte {
		b := []byte{mode}
		for _, s := range steps {
			b = append(b, s...)
		}
		return b
	}
	pad := func(n int) []byte { return bytes.Repeat([]byte{0xAB}, n) }
	// In order, whole messages.
	f.Add(cat(0, step(fraWhole, 1, 1, 2, pad(4)...), step(fraWhole, 1, 1, 2, pad(4)...), step(fraWhole|flagFinal, 1, 1, 0)))
	// A fragmented message out of order, with a duplicate.
	f.Add(cat(0, step(fraEnd, 3, 3, 3, pad(6)...), step(fraBegin, -2, 1, 3, pad(6)...), step(fraMiddle, 1, 2, 3, pad(6)...), step(fraMiddle, 0, 2, 3, pad(6)...)))
	// An abandoned message skipped by the FSN, then FIN.
	f.Add(cat(0, step(fraBegin, 1, 1, 4, pad(8)...), step(fraWhole, 3, 0, 2, pad(4)...), step(fraWhole|flagAbandon, 1, 0, 0), step(fraWhole|flagFinal, 1, 1, 0)))
	// Network order with holes.
	f.Add(cat(1, step(fraWhole, 5, 5, 2, pad(4)...), step(fraBegin, 2, 7, 2, pad(4)...), step(fraEnd, 1, 8, 2, pad(4)...), step(fraWhole, -7, 1, 2, pad(4)...)))
	// Held until accepted; window fills; release.
	f.Add(cat(2, step(fraWhole, 1, 1, 255, pad(510)...), step(fraWhole, 1, 1, 255, pad(510)...), step(fraWhole, 1, 1, 255, pad(510)...),
		step(fraWhole, 1, 1, 255, pad(510)...), step(fraWhole, 1, 1, 255, pad(510)...), step(0x41, 0, 0, 0), step(fraWhole|flagFinal, 1, 1, 1, pad(2)...)))
	// Far ahead, bad FSN, reject.
	f.Add(cat(0, step(fraWhole, -128, 0, 1, pad(2)...), step(fraWhole, 1, 200, 1, pad(2)...), step(fraWhole, 1, 1, 1, pad(2)...), step(0x44, 0, 0, 0), step(fraWhole, 1, 1, 1, pad(2)...)))
	// An endless message of empty middle pieces.
	endless := []byte{0}
	endless = append(endless, step(fraBegin, 1, 1, 0)...)
	for range 400 {
		endless = append(endless, step(fraMiddle, 1, 1, 0)...)
	}
	f.Add(endless)

	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		mode := in[0]
		in = in[1:]
		rf := newRecvFlow(1, nil, 0, false, &fuzzLimits)
		rf.networkOrder = mode&1 != 0
		holding := mode&2 != 0
		m := newReassemblyModel(t, rf)
		var seq uint64
		for steps := 0; len(in) >= 4 && steps < 1000; steps++ {
			flags, delta, back, n := in[0], int8(in[1]), in[2], int(in[3])*2
			in = in[4:]
			if flags&0x40 != 0 {
				switch {
				case flags&0x01 != 0:
					if holding {
						holding = false
						m.deliveredAll(heldData(rf.release()))
					}
				case flags&0x02 != 0:
					rf.ackTaken()
				case flags&0x04 != 0:
					rf.reject(uint64(back))
					m.rejected = true
				}
				m.check()
				continue
			}
			switch {
			case delta == -128:
				seq += 1 << 20
			case delta < 0 && uint64(-int(delta)) > seq:
				seq = 0
			default:
				seq = uint64(int64(seq) + int64(delta))
			}
			fsn := seq + 1 // bad
			if uint64(back) <= seq {
				fsn = seq - uint64(back)
			}
			n = min(n, len(in))
			data := append([]byte(nil), in[:n]...)
			in = in[n:]
			if len(data) >= 4 {
				binary.BigEndian.PutUint32(data, uint32(seq)) // keep pieces distinguishable
			}
			wasComplete := rf.state == rfComplete
			fresh := !rf.seqs.Contains(seq)
			out, err := rf.onData(flags, seq, fsn, data, nil)
			if errors.Is(err, errMessageTooLarge) {
				// The session rejects the flow (ExceptionMessageTooLarge).
				rf.reject(ExceptionMessageTooLarge)
				m.rejected = true
				m.check()
				continue
			}
			if err == nil && fresh && flags&flagAbandon == 0 && rf.state != rfRejected && seq > fsn && !wasComplete {
				m.given(seq, flags&fraMask, data)
			}
			if wasComplete && len(out) > 0 {
				t.Fatalf("a complete flow delivered %d more messages", len(out))
			}
			if holding && rf.state != rfRejected {
				for _, msg := range out {
					rf.hold(msg, 0)
				}
			} else {
				m.deliveredAll(out)
			}
			m.check()
		}
	})
}

// reassemblyModel remembers every fragment the flow accepted and checks each delivered
// message against them.
type reassemblyModel struct {
	t        *testing.T
	rf       *recvFlow
	frags    map[uint64]modelFrag
	starts   []uint64 // unconsumed first pieces and whole messages, sorted
	lastEnd  uint64   // sequence-order flows: the last piece of the last delivered message
	rejected bool
}

type modelFrag struct {
	fra      byte
	data     []byte
	consumed bool
}

func newReassemblyModel(t *testing.T, rf *recvFlow) *reassemblyModel {
	return &reassemblyModel{t: t, rf: rf, frags: map[uint64]modelFrag{}}
}

func (m *reassemblyModel) given(seq uint64, fra byte, data []byte) {
	if _, dup := m.frags[seq]; dup {
		m.t.Fatalf("sequence number %d accepted twice", seq)
	}
	m.frags[seq] = modelFrag{fra: fra, data: data}
	if fra == fraWhole || fra == fraBegin {
		i, _ := slices.BinarySearch(m.starts, seq)
		m.starts = slices.Insert(m.starts, i, seq)
	}
}

func (m *reassemblyModel) deliveredAll(msgs [][]byte) {
	for _, msg := range msgs {
		m.delivered(msg)
	}
}

// delivered finds the run of accepted, unconsumed fragments that msg is made of: the
// first (lowest) one that matches, after the previous message for a sequence-order flow.
func (m *reassemblyModel) delivered(msg []byte) {
	if m.rejected {
		m.t.Fatal("a rejected flow delivered a message")
	}
	first := 0
	if !m.rf.networkOrder {
		first, _ = slices.BinarySearch(m.starts, m.lastEnd+1)
	}
	for k := first; k < len(m.starts); k++ {
		a := m.starts[k]
		var joined []byte
		b := a
		ok := false
		for {
			fr, have := m.frags[b]
			if !have || fr.consumed || (b != a && fr.fra != fraMiddle && fr.fra != fraEnd) {
				break
			}
			joined = append(joined, fr.data...)
			if fr.fra == fraWhole || fr.fra == fraEnd {
				ok = true
				break
			}
			b++
		}
		if !ok || !bytes.Equal(joined, msg) {
			continue
		}
		for s := a; s <= b; s++ {
			fr := m.frags[s]
			fr.consumed = true
			m.frags[s] = fr
		}
		m.starts = slices.Delete(m.starts, k, k+1)
		if !m.rf.networkOrder {
			m.lastEnd = b
		}
		return
	}
	m.t.Fatalf("delivered a %d-byte message that is no unconsumed run of accepted fragments (after %d)", len(msg), m.lastEnd)
}

// check verifies the flow's bookkeeping and bounds after a step.
func (m *reassemblyModel) check() {
	f := m.rf
	n := 0
	for i, fr := range f.frags {
		n += len(fr.data) + fragOverhead
		if i > 0 && f.frags[i-1].seq >= fr.seq {
			m.t.Fatalf("fragments out of order: %d then %d", f.frags[i-1].seq, fr.seq)
		}
		if !f.seqs.Contains(fr.seq) {
			m.t.Fatalf("buffered fragment %d not recorded as received", fr.seq)
		}
	}
	for _, h := range f.held {
		n += len(h.data) + fragOverhead
	}
	if n != f.buffered {
		m.t.Fatalf("buffered %d, fragments and held messages hold %d", f.buffered, n)
	}
	if f.buffered > f.limits.maxBuffered()+1024 {
		m.t.Fatalf("buffered %d beyond the hard limit %d + one block", f.buffered, f.limits.maxBuffered())
	}
	if f.seqs.Len() > f.limits.maxRanges {
		m.t.Fatalf("%d ranges, limit %d", f.seqs.Len(), f.limits.maxRanges)
	}
	if len(f.frags) > (f.limits.maxBuffered()+1024)/fragOverhead {
		m.t.Fatalf("%d fragments buffered", len(f.frags))
	}
	if f.state != rfOpen && f.waiting() {
		m.t.Fatalf("state %d with %d fragments buffered or a message at the head", f.state, len(f.frags))
	}
	if f.state == rfOpen && len(f.frags) > 0 && f.frags[0].seq <= f.cumulative() {
		m.t.Fatalf("fragment %d buffered at or below the cumulative acknowledgement %d", f.frags[0].seq, f.cumulative())
	}
	if a := f.asm; a != nil {
		size := 0
		for _, p := range a.pieces {
			size += len(p)
		}
		if size != a.size || !a.active && size != 0 {
			m.t.Fatalf("head message: %d bytes in its pieces, size %d, active %v", size, a.size, a.active)
		}
		if a.size > f.limits.maxMessage {
			m.t.Fatalf("head message of %d bytes, beyond the largest message %d", a.size, f.limits.maxMessage)
		}
		if a.active && a.next <= f.cumulative() {
			m.t.Fatalf("head message waits for piece %d, at or below the cumulative acknowledgement %d", a.next, f.cumulative())
		}
	}
	if f.state == rfComplete && f.cumulative() < f.finalSN {
		m.t.Fatalf("complete with cumulative %d below the final %d", f.cumulative(), f.finalSN)
	}
	if w := f.windowBlocks(); w > uint64(f.limits.capacity/1024) {
		m.t.Fatalf("window %d blocks beyond the capacity", w)
	}
}
