package session

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

type nopWriter struct{}

func (nopWriter) WriteDatagram([]byte, netip.AddrPort) error { return nil }

// nopScheduler sets no timers: tests that need a session's timer fire it themselves, at
// its timerAt.
type nopScheduler struct{}

func (nopScheduler) Arm(uint32, *TimerSlot, *actor.PID, time.Duration) {}
func (nopScheduler) Cancel(uint32, *TimerSlot)                         {}

func bareSession(role cryptoutil.Role, clock Clock) *Session {
	return newSession(Params{Shared: NewShared(Shared{Writer: nopWriter{}, Clock: clock, Scheduler: nopScheduler{}, Log: zap.NewNop()}), Role: role, Encrypt: cryptoutil.NewStartupEncrypter()})
}

// packetChunks writes one packet of s with write (one of the session's own writers, such
// as writeAcks or writeData) and returns its chunks, parsed back.
func packetChunks(t *testing.T, s *Session, write func(*rtmfp.PacketWriter, time.Duration)) []rtmfp.Chunk {
	t.Helper()
	pw := rtmfp.NewPacketWriter(nil, s.header(s.now()), maxPacket)
	write(&pw, s.now())
	r, err := rtmfp.NewPacketReader(pw.Packet())
	if err != nil {
		t.Fatal(err)
	}
	var chunks []rtmfp.Chunk
	for r.Next() {
		chunks = append(chunks, r.Chunk())
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return chunks
}

// ackChunks writes the acknowledgements s owes into one packet with the real writeAcks and
// parses them back.
func ackChunks(t *testing.T, s *Session) []rtmfp.AckRanges {
	t.Helper()
	var acks []rtmfp.AckRanges
	for _, c := range packetChunks(t, s, s.writeAcks) {
		if c.Type != rtmfp.ChunkAckRanges {
			continue
		}
		a, err := rtmfp.ParseAckRanges(c.Payload, nil)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, a)
	}
	return acks
}

// TestAckRangesRoundTrip: what a receiver with a given set of received sequence numbers
// acknowledges (Session.writeAcks), applied by a sender (Session.onAck), marks exactly
// those fragments acknowledged — through the real encoder, parser and decoder.
func TestAckRangesRoundTrip(t *testing.T) {
	clock := &simClock{now: time.Second}
	for seed := uint64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		const n = 400
		rx := bareSession(cryptoutil.Responder, clock)
		rf := newRecvFlow(9, nil, 0, false, &recvLimits{capacity: 1 << 30, maxAhead: 1 << 14, maxRanges: 1 << 10})
		rx.recv.set(9, rf)
		received := map[uint64]bool{}
		// A random mix: runs, isolated numbers, an FSN now and then.
		density := rng.Float64()
		fsn := uint64(0)
		for seq := uint64(1); seq <= n; seq++ {
			if rng.IntN(50) == 0 {
				fsn = seq - 1
			}
			if rng.Float64() < density {
				if _, err := rf.onData(fraWhole, seq, min(fsn, seq-1), []byte{1}, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		for seq := uint64(1); seq <= n; seq++ {
			received[seq] = rf.seqs.Contains(seq)
		}
		rf.needAck = true

		tx := bareSession(cryptoutil.Initiator, clock)
		sf := newSendFlow(9, FlowKey{}, PriorityData, 1<<30)
		for range n {
			sf.write([]byte{1}, 0, 0, true, nil)
		}
		transmit(sf, n, 1)
		tx.send.set(9, sf)
		tx.outstanding = sf.outstanding

		acks := ackChunks(t, rx)
		if len(acks) != 1 {
			t.Fatalf("seed %d: %d acks", seed, len(acks))
		}
		a := acks[0]
		if a.FlowID != 9 || a.CumulativeAck != rf.cumulative() || a.BufferBlocks != rf.windowBlocks() {
			t.Fatalf("seed %d: ack %+v, cumulative %d", seed, a, rf.cumulative())
		}
		if rf.needAck {
			t.Fatal("ack written but still owed")
		}
		tx.onAck(a, clock.now)
		left := map[uint64]bool{}
		for _, fr := range sf.queue {
			left[fr.seq] = true
		}
		truncated := len(a.Ranges) < rf.seqs.Len()-1
		for seq := uint64(1); seq <= n; seq++ {
			acked := !left[seq]
			if acked && !received[seq] {
				t.Fatalf("seed %d: sequence number %d acknowledged but never received", seed, seq)
			}
			if !acked && received[seq] && !truncated {
				t.Fatalf("seed %d: sequence number %d received but not acknowledged (ranges %v)", seed, seq, rf.seqs.r)
			}
		}
		if tx.outstanding != sf.outstanding {
			t.Fatalf("seed %d: session outstanding %d, flow %d", seed, tx.outstanding, sf.outstanding)
		}
	}
}

// TestAckRangesTruncated: more ranges than a packet holds — the ack is cut, never wrong.
func TestAckRangesTruncated(t *testing.T) {
	clock := &simClock{now: time.Second}
	rx := bareSession(cryptoutil.Responder, clock)
	rf := newRecvFlow(3, nil, 0, false, &recvLimits{capacity: 1 << 30, maxAhead: 1 << 20, maxRanges: 1 << 12})
	rx.recv.set(3, rf)
	// Every other sequence number, with large gaps so each range costs several bytes.
	for i := uint64(1); i <= 1000; i++ {
		if _, err := rf.onData(fraWhole, i*300, 0, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	rf.needAck = true
	acks := ackChunks(t, rx)
	if len(acks) != 1 || len(acks[0].Ranges) == 0 || len(acks[0].Ranges) >= 1000 {
		t.Fatalf("acks %d, ranges %d", len(acks), len(acks[0].Ranges))
	}
	cursor := acks[0].CumulativeAck
	for i, r := range acks[0].Ranges {
		s, ok := r.Absolute(cursor)
		if !ok || s.From != s.To || s.From != uint64(i+1)*300 {
			t.Fatalf("range %d: %+v", i, s)
		}
		cursor = s.To
	}
}

// TestAckForRejectedFlowCarriesException: a rejected flow's ack follows a Flow Exception
// Report for it and advertises no window.
func TestAckForRejectedFlowCarriesException(t *testing.T) {
	clock := &simClock{now: time.Second}
	rx := bareSession(cryptoutil.Responder, clock)
	rf := newRecvFlow(4, nil, 0, false, &defaultRecvLimits)
	rx.recv.set(4, rf)
	rf.onData(fraWhole, 1, 0, []byte("x"), nil)
	rf.reject(9)
	pw := rtmfp.NewPacketWriter(nil, rx.header(clock.now), maxPacket)
	rx.writeAcks(&pw, rx.now())
	r, _ := rtmfp.NewPacketReader(pw.Packet())
	var types []byte
	for r.Next() {
		types = append(types, r.Chunk().Type)
		if r.Chunk().Type == rtmfp.ChunkFlowException {
			x, err := rtmfp.ParseFlowException(r.Chunk().Payload)
			if err != nil || x.FlowID != 4 || x.Code != 9 {
				t.Fatalf("exception %+v %v", x, err)
			}
		}
		if r.Chunk().Type == rtmfp.ChunkAckRanges {
			a, _ := rtmfp.ParseAckRanges(r.Chunk().Payload, nil)
			if a.BufferBlocks != 0 || a.CumulativeAck != 1 {
				t.Fatalf("ack %+v", a)
			}
		}
	}
	if len(types) != 2 || types[0] != rtmfp.ChunkFlowException || types[1] != rtmfp.ChunkAckRanges {
		t.Fatalf("chunks %x", types)
	}
}
