package session

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// maxPacket is the plaintext budget of a session packet from the flags byte on. With a
// session sequence number, the checksum and padding the ciphertext stays within 1,200
// bytes, so a datagram with a 16-byte HMAC and IPv6/UDP headers fits 1,280 bytes.
const maxPacket = rtmfp.MaxPacketSize - 20

// maxPacketsPerFlush bounds the packets one flush writes, so one busy session cannot hold
// its actor (and the socket) for long; pacing or the next message continues the work.
const maxPacketsPerFlush = 32

// header returns the header for a packet sent now.
func (s *Session) header(now time.Duration) rtmfp.Header {
	h := rtmfp.Header{Flags: byte(s.ownMode())}.WithTimestamp(ticks(now))
	if s.haveTsRx && now-s.tsRxAt < maxEchoAge {
		h = h.WithEcho(s.tsRx + ticks(now-s.tsRxAt))
	}
	if s.tcrRecvAt != 0 && now-s.tcrRecvAt < 800*time.Millisecond {
		h.Flags |= rtmfp.FlagTCR
	}
	return h
}

// flush writes every packet the session owes now: acknowledgements, control chunks and
// as much data as the congestion window, the receivers' windows and pacing allow. Then
// it arms the timer for the next deadline.
func (s *Session) flush(ctx actor.Context) {
	now := s.now()
	ackDue := s.ackDeadline != 0 && (now >= s.ackDeadline || s.dataPackets >= 2)
	for n := 0; n < maxPacketsPerFlush; n++ {
		pw := rtmfp.NewPacketWriter(s.scr().plain[:0], s.header(now), maxPacket)
		s.writeControl(&pw, now)
		dataWritten, timeCritical := false, false
		if s.st == stOpen {
			dataWritten, timeCritical = s.writeData(&pw, now)
		}
		if dataWritten || ackDue || pw.Chunks() > 0 {
			s.writeAcks(&pw, now)
		}
		if pw.Chunks() == 0 {
			break
		}
		if timeCritical {
			pw.Packet()[0] |= rtmfp.FlagTC
		}
		s.sendPacket(pw.Packet(), now)
		ackDue = false
		if !dataWritten {
			// Only control and acks: they all fitted (or the rest waits for the next packet).
			if !s.controlPending() && !s.acksPending() {
				break
			}
		}
	}
	s.schedule()
}

// flushControlOnly sends pending control chunks (used while stopping, when flows are gone).
func (s *Session) flushControlOnly() {
	now := s.now()
	pw := rtmfp.NewPacketWriter(s.scr().plain[:0], s.header(now), maxPacket)
	s.writeControl(&pw, now)
	if pw.Chunks() > 0 {
		s.sendPacket(pw.Packet(), now)
	}
}

func (s *Session) sendPacket(packet []byte, now time.Duration) {
	if s.p.Dump {
		s.p.Log.Debug("packet", zap.String("dir", "out"), zap.Stringer("addr", s.addr), zap.Binary("packet", packet))
	}
	s.sc.out = s.p.Encrypt.Seal(s.scr().out[:0], s.p.FarID, packet)
	if err := s.p.Writer.WriteDatagram(s.scr().out, s.addr); err != nil {
		s.p.Stats.WriteErrors.Add(1)
		s.p.Log.Debug("datagram write failed", zap.Error(err))
	}
	s.p.Stats.PacketsOut.Add(1)
	s.bytesOut += uint64(len(s.sc.out))
	s.lastSend = now
	s.nextTSN++
}

func (s *Session) controlPending() bool {
	return s.sendClose || s.sendCloseAck || len(s.pendingPings) > 0 || s.pingOutstanding && s.lastSend < s.lastKeepalivePing ||
		s.mobility != nil && s.mobility.pending || len(s.fihellos) > 0
}

func (s *Session) acksPending() bool {
	for f := range s.recv.values() {
		if f.needAck {
			return true
		}
	}
	return false
}

// writeControl writes close, close acknowledgement, ping replies, keepalive and
// mobility pings, forwarded IHellos and zero-window probes.
func (s *Session) writeControl(pw *rtmfp.PacketWriter, now time.Duration) {
	if s.sendCloseAck && pw.WriteChunk(rtmfp.CloseAck{}) {
		s.sendCloseAck = false
	}
	if s.sendClose && pw.WriteChunk(rtmfp.Close{}) {
		s.sendClose = false
		s.closeSentAt = now
	}
	if s.st == stClosed || s.st == stFarCloseLinger {
		return
	}
	for len(s.pendingPings) > 0 && pw.WriteChunk(rtmfp.PingReply{Payload: s.pendingPings[0]}) {
		s.pendingPings[0] = nil
		s.pendingPings = s.pendingPings[1:]
	}
	if s.st != stOpen {
		return
	}
	if s.pingOutstanding && s.lastSend < s.lastKeepalivePing && pw.WriteChunk(rtmfp.Ping{}) {
		s.p.Stats.KeepalivePings.Add(1)
	}
	if m := s.mobility; m != nil && m.pending {
		// The mobility check must reach the new address: it goes in a packet of its own.
		m.pending = false
		mp := rtmfp.NewPacketWriter(s.scr().plain2[:0], s.header(now), maxPacket)
		mp.WriteChunk(rtmfp.Ping{Payload: m.tag[:]})
		s.sc.out = s.p.Encrypt.Seal(s.scr().out[:0], s.p.FarID, mp.Packet())
		_ = s.p.Writer.WriteDatagram(s.scr().out, m.to)
		s.nextTSN++
	}
	for len(s.fihellos) > 0 {
		fh := s.fihellos[0]
		if !pw.WriteChunk(rtmfp.FIHello{EPD: fh.EPD, ReplyAddress: fh.Reply, Tag: fh.Tag}) {
			break
		}
		s.fihellos[0] = SendFIHello{}
		s.fihellos = s.fihellos[1:]
	}
	if s.persistAt == 0 {
		for f := range s.send.values() {
			if f.rxWindow == 0 && len(f.queue) > 0 && !f.exception {
				if pw.WriteChunk(rtmfp.BufferProbe{FlowID: f.id}) {
					s.persistAt = now + max(time.Second, s.rtt.erto)
				}
				break
			}
		}
	}
}

// writeAcks writes an acknowledgement for every receive flow that owes one, and a flow
// exception for each rejected flow. Done flows that owe nothing are forgotten after the
// linger.
func (s *Session) writeAcks(pw *rtmfp.PacketWriter, now time.Duration) {
	for id, f := range s.recv.all() {
		if !f.needAck {
			switch {
			case !f.done():
			case f.doneAt == 0:
				f.doneAt = now
			case now-f.doneAt > recvFlowLinger:
				s.recv.del(id)
			}
			continue
		}
		if f.state == rfRejected && !pw.WriteChunk(rtmfp.FlowException{FlowID: f.id, Code: f.exceptionCode}) {
			return
		}
		a := rtmfp.AckRanges{FlowID: f.id, BufferBlocks: f.windowBlocks(), CumulativeAck: f.cumulative()}
		a.Ranges = s.scr().acks[:0]
		cursor := a.CumulativeAck
		for i := 1; i < f.seqs.Len(); i++ {
			r := f.seqs.Range(i)
			ar, ok := rtmfp.MakeAckRange(cursor, rtmfp.SeqRange{From: r.from, To: r.to})
			if !ok {
				break
			}
			a.Ranges = append(a.Ranges, ar)
			cursor = r.to
		}
		s.sc.acks = a.Ranges[:0]
		if _, ok := pw.WriteAckRanges(a); !ok {
			return
		}
		f.ackTaken()
	}
	s.ackDeadline = 0
	s.dataPackets = 0
}

// writeData fills the packet with fragments: flows by priority, round robin within a
// priority, within the congestion window and pacing budget.
func (s *Session) writeData(pw *rtmfp.PacketWriter, now time.Duration) (wrote, timeCritical bool) {
	budget := s.cc.cwnd - s.outstanding
	if budget <= 0 {
		return false, false
	}
	allowance := s.pace.allow(int64(now), s.cc.cwnd, s.rtt.smoothed())
	if allowance < sendMSS/2 {
		return false, false
	}
	for lo := 0; lo < len(s.byPrio); {
		// flows is one priority's run of byPrio (highest first).
		p := s.byPrio[lo].priority
		hi := lo + 1
		for hi < len(s.byPrio) && s.byPrio[hi].priority == p {
			hi++
		}
		flows := s.byPrio[lo:hi]
		lo = hi
		n := uint32(len(flows))
		start := s.rr[p] % n
		for i := uint32(0); i < n; i++ {
			f := flows[(start+i)%n]
			if !f.ready() {
				continue
			}
			before := pw.Len()
			full := s.writeFlow(pw, f, now)
			if pw.Len() > before {
				wrote = true
				if p.timeCritical() {
					timeCritical = true
				}
				s.rr[p] = (start + i + 1) % n
				s.pace.spend(pw.Len() - before)
			}
			if full || s.outstanding >= s.cc.cwnd {
				return wrote, timeCritical
			}
		}
	}
	return wrote, timeCritical
}

// writeFlow writes the fragments of one flow that may leave now. It reports whether the
// packet is full.
func (s *Session) writeFlow(pw *rtmfp.PacketWriter, f *sendFlow, now time.Duration) bool {
	f.trim(int64(now))
	fsn := f.forwardSN(int64(now))
	first := true
	for _, fr := range f.queue[f.firstWaiting():] {
		if fr.inFlight || fr.acked {
			continue
		}
		abandoned := fr.msg.expired(int64(now)) || (fr.everSent && !fr.msg.retransmit)
		if !abandoned && f.outstanding >= f.rxWindow {
			break
		}
		flags := fr.fra
		data := fr.data
		if abandoned {
			flags |= rtmfp.UserDataAbandon
			data = nil
		}
		if f.state == sfClosing && fr.seq == f.finalSN {
			flags |= rtmfp.UserDataFinal
		}
		var opts []byte
		if first && f.options != nil {
			flags |= rtmfp.UserDataOptions
			opts = f.options
		}
		ud := rtmfp.UserData{Flags: flags, FlowID: f.id, SequenceNumber: fr.seq, FSNOffset: fr.seq - fsn, Options: opts, Data: data}
		before := pw.Len()
		if !pw.WriteUserData(ud) {
			return true
		}
		first = false
		if fr.everSent {
			s.p.Stats.FragmentsResent.Add(1)
		}
		fr.inFlight, fr.everSent, fr.sentAbandoned, fr.nakCount = true, true, abandoned, 0
		fr.tsn, fr.sentAt = s.nextTSN, int64(now)
		fr.wireSize = pw.Len() - before
		f.outstanding += fr.wireSize
		s.outstanding += fr.wireSize
		s.flight = append(s.flight, fr)
		if s.unackedSince == 0 {
			s.unackedSince = now
		}
		s.rtoDeadline = now + s.rtt.erto
		if s.outstanding >= s.cc.cwnd {
			return false
		}
	}
	return false
}

// paceWait returns how long until pacing lets data leave, or 0 if nothing waits on it.
func (s *Session) paceWait() time.Duration {
	if s.st != stOpen || s.outstanding >= s.cc.cwnd {
		return 0
	}
	for f := range s.send.values() {
		if f.ready() {
			return s.pace.wait(s.cc.cwnd, s.rtt.smoothed())
		}
	}
	return 0
}
