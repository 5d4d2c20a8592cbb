package endpoint

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/ratelimit"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// entry is one session (or a handshake waiting for RIKeying) in a shard's table.
type entry struct {
	pid *actor.PID
	dec *cryptoutil.Decrypter // used only by the owning shard's handle, one datagram at a time
	// waiting counts the datagrams handed to the session and not yet released by it
	// (maxWaiting).
	waiting atomic.Int32
	// startup marks an initiator's session ID that is still handshaking: the far end's
	// RIKeying or Cookie Change arrives with it, encrypted with the default key.
	startup bool
	// lastIn is when the shard last opened a datagram of the session (endpoint clock); the
	// shard's sweep releases the decrypter's key schedule of sessions idle for
	// session.KeyScheduleIdle.
	lastIn time.Duration
	// heard: the session has received a packet (the handshake actor was told, so that it
	// forgets the RIKeying it kept for retransmitted IIKeyings). Set by the shard, read by
	// the handshake actor before it frees a session it has not been told of yet.
	heard atomic.Bool
}

// shard decrypts and parses the datagrams of the sessions whose IDs map to it, and the
// startup packets of the sources (ratelimit.Source) that hash to it.
type shard struct {
	e     *Endpoint
	index int
	in    chan *session.Inbound
	// queued counts the datagrams given to the shard's goroutine and not yet handled.
	// The endpoint's reader, the one goroutine that gives the shard work, handles a
	// datagram itself when it is zero (see Endpoint.dispatch); the atomic also orders the
	// two goroutines' use of the decrypters and of waiting.
	queued atomic.Int32
	mu     sync.Mutex
	table  map[uint32]*entry
	boot   *cryptoutil.Decrypter // default key, for startup packets
	swept  time.Duration         // last sweep for idle decrypters
	// waiting counts, per source address, its handshake packets the handshake actor has
	// yet to handle (only handle uses the map, one datagram at a time).
	waiting      map[netip.Prefix]*atomic.Int32
	sweepWaiting int // the size of waiting at which startupWaiting next sweeps it
}

func newShard(e *Endpoint, index int) *shard {
	return &shard{
		e: e, index: index, in: make(chan *session.Inbound, e.cfg.ShardQueue),
		table: map[uint32]*entry{}, boot: cryptoutil.NewStartupDecrypter(), waiting: map[netip.Prefix]*atomic.Int32{},
		sweepWaiting: minSweepWaiting,
	}
}

func (s *shard) run() {
	defer s.e.wg.Done()
	for in := range s.in {
		s.handle(in)
		s.queued.Add(-1)
	}
}

func (s *shard) lookup(id uint32) *entry {
	s.mu.Lock()
	ent := s.table[id]
	s.mu.Unlock()
	return ent
}

func (s *shard) handle(in *session.Inbound) {
	st := &s.e.Stats
	data := in.Buffer()
	id, _ := cryptoutil.SessionID(data)
	if id == 0 {
		s.startup(in, 0)
		return
	}
	ent := s.lookup(id)
	switch {
	case ent == nil:
		st.DropUnknownSession.Add(1)
		in.Release()
		return
	case ent.startup:
		s.startup(in, id)
		return
	}
	if ent.waiting.Load() >= maxWaiting {
		// The session does not keep up with what its far end sends: dropped at the door,
		// before it costs a decryption (the sender sees a loss and slows down), rather
		// than queued without bound, each in a read buffer.
		st.DropBacklog.Add(1)
		in.Release()
		return
	}
	if in.At-s.swept >= session.KeyScheduleIdle/2 {
		s.sweep(in.At)
	}
	packet, _, err := ent.dec.OpenInPlace(data)
	if err != nil {
		st.countDecrypt(err)
		in.Release()
		return
	}
	ent.lastIn = in.At
	if !ent.heard.Load() {
		ent.heard.Store(true)
		s.e.sys.Root.Send(s.e.handshake, &sessionHeard{id: id})
	}
	if s.e.cfg.Dump == DumpAll {
		s.dump("in", in, packet)
	}
	r, err := rtmfp.NewPacketReader(packet)
	if err != nil || r.Header().Mode() == rtmfp.ModeStartup {
		st.DropMalformed.Add(1)
		in.Release()
		return
	}
	in.Header = r.Header()
	for r.Next() {
		c := r.Chunk()
		ic := session.InChunk{Type: c.Type, Payload: c.Payload}
		if c.Type == rtmfp.ChunkUserData || c.Type == rtmfp.ChunkNextUserData {
			ud, err := r.UserData()
			if err != nil {
				st.DropMalformedChunk.Add(1)
				continue
			}
			ic.UD = ud
		}
		in.Chunks = append(in.Chunks, ic)
	}
	if r.Err() != nil {
		st.DropMalformedChunk.Add(1)
	}
	st.PacketsIn.Add(1)
	in.Count(&ent.waiting)
	s.e.sys.Root.Send(ent.pid, in)
}

// maxWaiting bounds the datagrams waiting for one session actor: what a session whose
// far end sends faster than it can handle holds in read buffers (4.5 KB each) is at most
// about two megabytes, and a burst of a few hundred fragments (a key frame) still fits.
const maxWaiting = 512

// sweep releases the decrypter key schedules of the shard's sessions that have received
// nothing for session.KeyScheduleIdle (they are rebuilt by the next datagram). It runs in
// the shard's handle, the only user of the decrypters (one datagram at a time), at most
// twice per KeyScheduleIdle, when a datagram arrives.
func (s *shard) sweep(now time.Duration) {
	s.swept = now
	n := 0
	s.mu.Lock()
	for _, ent := range s.table {
		if !ent.startup && now-ent.lastIn >= session.KeyScheduleIdle && ent.dec.HoldsKeySchedule() {
			ent.dec.ReleaseKeySchedule()
			n++
		}
	}
	s.mu.Unlock()
	s.e.Stats.KeyReleases.Add(uint64(n))
}

// startupMsg is a handshake chunk for the handshake actor; Payload is its own copy.
type startupMsg struct {
	from  session.Inbound // only From and At are set
	ssid  uint32          // the session ID the packet was addressed to (0, or our pending ID)
	size  int             // of the datagram
	ts    uint16
	hasTS bool
	// forwarded: an IHello a rendezvous server forwarded to us (FIHello) in one of our
	// sessions, not a datagram from From.
	forwarded bool
	typ       byte
	payload   []byte
	waiting   *atomic.Int32 // its source address's count of waiting packets (nil: forwarded)
}

// startup decrypts a startup packet with the default key and hands its first handshake
// chunk to the handshake actor.
func (s *shard) startup(in *session.Inbound, ssid uint32) {
	defer in.Release()
	st := &s.e.Stats
	waiting := s.startupWaiting(in.From)
	if waiting.Load() >= maxStartupWaiting || s.e.startupWaiting.Load() >= maxStartupWaitingAll {
		// The handshake actor has more of this address's handshake packets to handle than
		// any initiator needs, or more of everybody's than it handles in a moment:
		// dropped before it costs a decryption (initiators retransmit).
		st.DropHandshakeBacklog.Add(1)
		return
	}
	packet, _, err := s.boot.OpenInPlace(in.Buffer())
	if err != nil {
		st.countDecrypt(err)
		return
	}
	if s.e.cfg.Dump != DumpNone {
		s.dump("in", in, packet)
	}
	r, err := rtmfp.NewPacketReader(packet)
	if err != nil || r.Header().Mode() != rtmfp.ModeStartup {
		st.DropMalformed.Add(1)
		return
	}
	for r.Next() {
		c := r.Chunk()
		switch c.Type {
		case rtmfp.ChunkIHello, rtmfp.ChunkIIKeying, rtmfp.ChunkRHello, rtmfp.ChunkRedirect,
			rtmfp.ChunkRIKeying, rtmfp.ChunkCookieChange:
			m := &startupMsg{ssid: ssid, size: len(in.Buffer()), ts: r.Header().Timestamp, hasTS: r.Header().HasTimestamp(), typ: c.Type,
				payload: append([]byte(nil), c.Payload...)}
			m.from.From, m.from.At = in.From, in.At
			m.waiting = waiting
			waiting.Add(1)
			s.e.startupWaiting.Add(1)
			st.Handshakes.Add(1)
			s.e.sys.Root.Send(s.e.handshake, m)
			return // one handshake chunk per packet, as every implementation does
		}
	}
	st.DropMalformed.Add(1)
}

// The handshake packets waiting for the handshake actor, per source address and in all,
// are bounded: a flood from one address (of IIKeyings with genuine cookies, say) cannot
// make the handshakes of others wait behind it, and a flood from many cannot grow the
// actor's mailbox without bound.
const (
	maxStartupWaiting    = 256
	maxStartupWaitingAll = 8192
)

// startupWaiting returns the count of the handshake packets of from's source address
// waiting for the handshake actor. The startup packets of a source always go to the same
// shard (Endpoint.shardOf), which alone adds to its count (the handshake actor takes
// away). Once the map holds sweepWaiting sources, those with nothing waiting are
// forgotten, and the next sweep waits until it has doubled: under a flood from many
// sources whose packets all wait, a new source costs no scan of the others.
func (s *shard) startupWaiting(from netip.AddrPort) *atomic.Int32 {
	src := ratelimit.Source(from.Addr())
	c := s.waiting[src]
	if c == nil {
		if len(s.waiting) >= s.sweepWaiting {
			for k, v := range s.waiting {
				if v.Load() == 0 {
					delete(s.waiting, k) // nothing in flight refers to it
				}
			}
			s.sweepWaiting = max(minSweepWaiting, 2*len(s.waiting))
		}
		c = &atomic.Int32{}
		s.waiting[src] = c
	}
	return c
}

// minSweepWaiting is the fewest sources a shard's waiting map holds before it forgets
// those with nothing waiting.
const minSweepWaiting = 4096

func (s *shard) dump(dir string, in *session.Inbound, packet []byte) {
	s.e.log.Debug("packet", zap.String("dir", dir), zap.Stringer("addr", in.From), zap.String("hex", hex.EncodeToString(packet)))
}

// Stats counts what an endpoint received and why it dropped what it dropped.
type Stats struct {
	DatagramsIn, PacketsIn                  atomic.Uint64
	BytesIn                                 atomic.Uint64 // UDP payload bytes of DatagramsIn (counted per read batch)
	ReadBatches                             atomic.Uint64 // system calls that read DatagramsIn
	ReadInline                              atomic.Uint64 // datagrams the reader decrypted itself (read alone, their shard idle)
	DropOversize                            atomic.Uint64 // larger than the read buffer (cut by the kernel)
	DropBanned                              atomic.Uint64 // from an address on the Banlist
	DropDenied                              atomic.Uint64 // from an address the IP access lists deny (Config.Access)
	DatagramsOut, WriteBatches, WriteErrors atomic.Uint64 // sent, in how many system calls, refused by the kernel
	BytesOut                                atomic.Uint64 // UDP payload bytes of DatagramsOut
	DatagramsSegmented                      atomic.Uint64 // sent within segmented entries (UDP GSO runs)
	SegmentationRefused                     atomic.Uint64 // segmented sends refused by the kernel (segmentation then off)
	Handshakes                              atomic.Uint64 // handshake chunks passed to the handshake actor
	ReadErrors                              atomic.Uint64
	DropShort                               atomic.Uint64 // shorter than a minimal packet
	DropOverload                            atomic.Uint64 // shard queue full
	DropBacklog                             atomic.Uint64 // datagrams for a session that had maxWaiting waiting already
	DropHandshakeBacklog                    atomic.Uint64 // handshake packets from an address with maxStartupWaiting waiting already (or maxStartupWaitingAll in all)
	DropUnknownSession                      atomic.Uint64
	DropBadLength                           atomic.Uint64 // ciphertext not a multiple of 16
	DropBadChecksum                         atomic.Uint64
	DropBadHMAC                             atomic.Uint64
	DropReplay                              atomic.Uint64 // session sequence number already seen
	DropBadSequence                         atomic.Uint64
	DropMalformed                           atomic.Uint64 // undecodable header, wrong mode, no usable chunk
	DropMalformedChunk                      atomic.Uint64
	KeyReleases                             atomic.Uint64 // decrypter key schedules released by the idle sweep
	// Handshake refusals.
	BadCookie, StaleCookie, CookieAddress, CookieReused atomic.Uint64
	BadKeying                                           atomic.Uint64 // IIKeying/RIKeying that does not parse or negotiate
	SessionLimit                                        atomic.Uint64 // IIKeyings refused: the table is full and no pending session could make room
	UnknownPeer                                         atomic.Uint64 // rendezvous for a peer ID not here
	ForwardedHellos                                     atomic.Uint64 // FIHellos received: a rendezvous server introduced an initiator
	SessionFailures                                     supervision.Counter
	HandshakePanics                                     atomic.Uint64 // handshake messages whose handling panicked (recovered, logged)
	// What the responder refused to hostile initiators (docs/security.md).
	HelloRateLimited atomic.Uint64 // IHellos beyond their address's rate (Config.HelloRate), not answered
	AnswersWithheld  atomic.Uint64 // answers not sent: more than 3× the bytes the address sent
	PendingLimit     atomic.Uint64 // IIKeyings refused: the address holds Config.PendingPerAddress sessions not heard from
	PendingNearFull  atomic.Uint64 // … an eighth of that, the session table being nearly full
	PendingExpired   atomic.Uint64 // sessions freed, not heard from within Config.PendingTimeout
	PendingEvicted   atomic.Uint64 // sessions not heard from, freed to make room in a full table
	StartupBytesIn   atomic.Uint64 // bytes of the handshake datagrams received
	StartupBytesOut  atomic.Uint64 // bytes of the handshake datagrams sent
}

func (st *Stats) countDecrypt(err error) {
	switch {
	case errors.Is(err, cryptoutil.ErrBadChecksum):
		st.DropBadChecksum.Add(1)
	case errors.Is(err, cryptoutil.ErrBadHMAC):
		st.DropBadHMAC.Add(1)
	case errors.Is(err, cryptoutil.ErrReplay):
		st.DropReplay.Add(1)
	case errors.Is(err, cryptoutil.ErrBadSequence):
		st.DropBadSequence.Add(1)
	case errors.Is(err, cryptoutil.ErrBadLength):
		st.DropBadLength.Add(1)
	default:
		st.DropShort.Add(1)
	}
}
