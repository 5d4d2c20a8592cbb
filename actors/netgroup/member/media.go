package member

import (
	"bytes"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/codec/group"
)

// Bounds of a member's media state.
const (
	maxStreams      = 64       // streams a member knows at once (a lane each)
	maxStreamBytes  = 32 << 20 // fragment bytes kept per stream, whatever the window
	maxAhead        = 8192     // a fragment this far beyond what any map announced is a lie
	maxMissing      = 4096     // missing fragments tracked per stream
	rebalanceTicks  = 20       // push masks are reconsidered every 20 ticks (2 s by default)
	maxPullsPerTick = 128      // pull requests a stream sends per tick
	// firstFragment is the number of a stream's first fragment: sources number them from
	// 1 (librtmfp's GroupMedia and ours), so a player offered it knows the stream's start.
	firstFragment = 1
)

// stream is one stream of the group, published here (source) or played from neighbours.
type stream struct {
	lane   int
	name   string
	key    [group.StreamKeyLen]byte
	source bool
	ended  bool   // nothing more of it is handled (its fragments go with the window)
	ending bool   // its end was told: fragments up to last are still taken
	last   uint64 // its last fragment, once ending
	info   group.MediaInfo

	frags   map[uint64]*frag
	order   []uint64 // ids in arrival order, for the window
	stored  uint64   // fragments stored so far: what a fragments map tells changed
	bytes   int
	lo, hi  uint64 // lowest id kept, highest held
	knownHi uint64 // highest id a neighbour's map announced (or hi)
	scanned uint64 // ids up to here were checked for holes
	missing map[uint64]*miss
	next    uint64 // next fragment to deliver (0: not started)
	firstAt time.Time
	// fromStart: before the player started, a neighbour offered (or we got) the stream's
	// first fragment, so the player plays it from its start.
	fromStart bool
	// pushedOut is the highest id the byte bound gave up (Config.Lossless: the holes
	// before it are waited for no longer).
	pushedOut uint64
	// servedAt is, once the stream is ending, when it last took a fragment or was pulled
	// from: its neighbours may still miss some of it, and it serves them a window more.
	servedAt time.Time

	owner [8]*neighbor // who pushes each bit of the ids to us
	got   [8]int       // fragments of each bit received from its owner since the last rebalance
	bitHi [8]uint64    // the highest id of each bit received, and when
	bitAt [8]time.Time

	// source: the configuration repeated before each key frame
	configs map[byte][]byte // by Flash type (metadata, audio and video configuration)
	counter uint64
}

type frag struct {
	f    group.Fragment
	wire []byte // the fragment as sent, shared by every copy
	at   time.Time
}

type miss struct {
	since, pulled time.Time
	tries         int
}

// peerStream is what a member knows of a stream with one neighbour.
type peerStream struct {
	farFlow   uint64 // the neighbour's media report flow of the stream (0: it never announced it)
	announced bool
	pushOut   uint8 // bits the neighbour asked us to push
	pushIn    uint8 // bits we asked it to push
	fmap      group.FragmentsMap
	hasMap    bool
	mapSent   uint64              // the stream's stored count when our map was last sent
	sent      map[uint64]struct{} // fragments sent to the neighbour, within the window
}

func (n *neighbor) stream(s *stream) *peerStream {
	ps := n.streams[s.lane]
	if ps == nil {
		ps = &peerStream{}
		n.streams[s.lane] = ps
	}
	return ps
}

func reportKeyOf(n *neighbor, s *stream) session.FlowKey {
	return session.FlowKey{Metadata: group.MetaMediaReport, Assoc: n.reportFlow, HasAssoc: true, Lane: uint8(s.lane)}
}

func mediaKeyOf(ps *peerStream, s *stream) session.FlowKey {
	return session.FlowKey{Metadata: group.MetaMedia, Assoc: ps.farFlow, HasAssoc: true, Lane: uint8(s.lane)}
}

// newStream makes a stream on a free lane (reusing one whose stream ended and emptied).
func (m *member) newStream(name string, key [group.StreamKeyLen]byte, source bool) *stream {
	s := &stream{name: name, key: key, source: source, frags: map[uint64]*frag{}, missing: map[uint64]*miss{}, lane: -1}
	for i, old := range m.streams {
		if old.ended && len(old.frags) == 0 {
			s.lane = i
			m.streams[i] = s
			break
		}
	}
	if s.lane < 0 {
		if len(m.streams) >= maxStreams {
			return nil
		}
		s.lane = len(m.streams)
		m.streams = append(m.streams, s)
	}
	s.info = group.MediaInfo{Name: name, Key: key, WindowMs: uint64(m.cfg.Window / time.Millisecond),
		UpdatePeriodMs: uint64(m.cfg.UpdatePeriod / time.Millisecond), FetchPeriodMs: uint64(m.cfg.FetchPeriod / time.Millisecond)}
	if source {
		s.configs = map[byte][]byte{}
	}
	return s
}

// announce tells a neighbour about a stream (and what we hold of it).
func (m *member) announce(ctx actor.Context, n *neighbor, s *stream) {
	ps := n.stream(s)
	if ps.announced {
		return
	}
	ps.announced = true
	m.write(ctx, n, reportKeyOf(n, s), s.info.Append(nil), session.PriorityControl)
	if s.hi > 0 {
		m.sendMap(ctx, n, ps, s, m.fragmentsMap(s))
	}
	if s.ending {
		m.write(ctx, n, reportKeyOf(n, s), group.MediaEnd{Last: s.last}.Append(nil), session.PriorityControl)
	}
}

// subscribe announces a stream we now play to every neighbour: to those that have it, so
// that they offer it to us; to the others, so that they hear of it. A neighbour may know
// the stream from no one else (its other neighbours are players too, and like it, they
// announce only what they were told of), and a player told of it announces it back and
// pulls from us.
func (m *member) subscribe(ctx actor.Context, s *stream) {
	for _, n := range m.byPeer {
		m.announce(ctx, n, s)
	}
}

func (m *member) onMediaInfo(ctx actor.Context, n *neighbor, flowID uint64, mi group.MediaInfo) {
	var s *stream
	for _, x := range m.streams {
		if x.key == mi.Key && !(x.ended && len(x.frags) == 0) {
			s = x
		}
	}
	if s == nil {
		if s = m.newStream(mi.Name, mi.Key, false); s == nil {
			return // too many streams: this one is ignored
		}
	}
	if s.source {
		// Someone announces our own stream back (a subscription): fine.
	} else if s.name != mi.Name {
		m.cut(ctx, n, &m.cfg.Stats.BadMessages, "a stream key announced under two names")
		return
	}
	n.flows[flowID] = flowRef{meta: group.MetaMediaReport, lane: s.lane, known: true}
	ps := n.stream(s)
	ps.farFlow = flowID
	if s.source {
		m.announce(ctx, n, s)
	} else if m.plays[s.name] {
		m.subscribe(ctx, s)
	}
}

func (m *member) onMediaReport(ctx actor.Context, n *neighbor, s *stream, msg group.Message) {
	ps := n.stream(s)
	switch msg := msg.(type) {
	case group.MediaEnd:
		if !s.source && !s.ended {
			if s.knownHi > 0 && msg.Last+maxAhead < s.knownHi || msg.Last > s.knownHi+maxAhead {
				m.cut(ctx, n, &m.cfg.Stats.BadFragments, "a stream's end far from the stream")
				return
			}
			m.endStream(ctx, s, msg.Last, n)
		}
	case group.FragmentsMap:
		if ps.hasMap && msg.Last < ps.fmap.Last {
			return
		}
		if s.source && msg.Last > s.hi {
			m.cut(ctx, n, &m.cfg.Stats.BadFragments, "a fragments map beyond the source")
			return
		}
		if s.hi > 0 && msg.Last > s.hi+maxAhead {
			// Thousands of fragments ahead of what we hold: no honest neighbour is, within
			// a window; believed, it would draw our pulls and push requests.
			m.cut(ctx, n, &m.cfg.Stats.BadFragments, "a fragments map far beyond the stream")
			return
		}
		ps.fmap = group.FragmentsMap{Last: msg.Last, Bits: append(ps.fmap.Bits[:0], msg.Bits...)}
		ps.hasMap = true
		s.knownHi = max(s.knownHi, msg.Last)
		if s.next == 0 && ps.fmap.Has(firstFragment) {
			s.fromStart = true
		}
	case group.PushMode:
		ps.pushOut = msg.Mask
	case group.Pull:
		if s.ending {
			// A neighbour still wants the stream (what we sent it may be on its way):
			// it is served a window more.
			s.servedAt = m.cfg.Clock.Now()
		}
		if _, done := ps.sent[msg.ID]; done {
			// Already on its way (a push the neighbour did not have yet, or an earlier
			// pull): the flow is reliable within the window, a second copy only adds load.
			m.cfg.Stats.PullsIgnored.Add(1)
			return
		}
		if fr := s.frags[msg.ID]; fr != nil && ps.farFlow != 0 {
			m.sendFragment(ctx, n, ps, s, fr)
		}
	}
}

func (m *member) sendFragment(ctx actor.Context, n *neighbor, ps *peerStream, s *stream, fr *frag) {
	// A fragment older than the window is worth nothing to anyone: a neighbour that
	// cannot take the stream loses fragments (and pulls them elsewhere), it does not
	// queue them without end.
	w := &session.Write{Key: mediaKeyOf(ps, s), Data: fr.wire, Priority: session.PriorityVideo, Lifetime: m.cfg.Window}
	if m.cfg.Lossless {
		w.Lifetime = 0
	}
	if fr.f.MediaType == flash.TypeAudio && fr.f.First() {
		w.Priority = session.PriorityAudio
	}
	ctx.Send(n.session, w)
	if ps.sent == nil {
		ps.sent = map[uint64]struct{}{}
	}
	ps.sent[fr.f.ID] = struct{}{}
	m.cfg.Stats.FragmentsOut.Add(1)
	m.cfg.Stats.BytesOut.Add(uint64(len(fr.f.Data)))
}

// mediaTypeOK says whether a fragment's first byte names a Flash message a stream carries.
func mediaTypeOK(t byte) bool {
	switch t {
	case flash.TypeAudio, flash.TypeVideo, flash.TypeDataAMF0, flash.TypeDataAMF3, flash.TypeCommandAMF0, flash.TypeCommandAMF3:
		return true
	}
	return false
}

// follows says whether b may come right after a in a stream.
func follows(a, b group.Fragment) bool {
	if a.Last() {
		return b.First()
	}
	return !b.First() && b.Split+1 == a.Split
}

func (m *member) onFragment(ctx actor.Context, n *neighbor, s *stream, f group.Fragment) {
	if s.source || s.ended || !m.plays[s.name] || (s.ending && f.ID > s.last) {
		// The source needs nothing, an ended stream takes nothing more, and nobody asked
		// for a stream we do not play (what a neighbour pushes unasked is not kept).
		m.cfg.Stats.Unexpected.Add(1)
		return
	}
	if f.First() && !mediaTypeOK(f.MediaType) {
		m.cut(ctx, n, &m.cfg.Stats.BadFragments, "a fragment of no media type")
		return
	}
	if s.knownHi > 0 && f.ID > s.knownHi+maxAhead {
		m.cut(ctx, n, &m.cfg.Stats.BadFragments, "a fragment far beyond the stream")
		return
	}
	if old := s.frags[f.ID]; old != nil {
		if old.f.Marker != f.Marker || old.f.Split != f.Split || !bytes.Equal(old.f.Data, f.Data) {
			m.cut(ctx, n, &m.cfg.Stats.BadFragments, "a fragment that contradicts the stream")
			return
		}
		m.cfg.Stats.Duplicates.Add(1)
		return
	}
	if s.next > 0 && f.ID < s.next {
		// Too old to matter: the player is past it. Before the player starts, an earlier
		// fragment than those held is taken, whether or not we knew of it yet: it may be
		// the stream's start, pushed by a neighbour that got it late, and a neighbour that
		// sent a fragment does not answer its pulls.
		m.cfg.Stats.Duplicates.Add(1)
		return
	}
	if p := s.frags[f.ID-1]; p != nil && !follows(p.f, f) {
		m.cut(ctx, n, &m.cfg.Stats.BadFragments, "a fragment that contradicts the stream")
		return
	}
	if q := s.frags[f.ID+1]; q != nil && !follows(f, q.f) {
		m.cut(ctx, n, &m.cfg.Stats.BadFragments, "a fragment that contradicts the stream")
		return
	}
	// f.Data is the session's message, which it handed over; the copies we send are one
	// encoding shared by every neighbour.
	m.store(s, &frag{f: f, wire: f.Append(make([]byte, 0, len(f.Data)+12)), at: m.cfg.Clock.Now()})
	m.cfg.Stats.FragmentsIn.Add(1)
	if s.ending {
		s.servedAt = m.cfg.Clock.Now()
	}
	if s.owner[f.ID%8] == n {
		s.got[f.ID%8]++
	}
	if b := f.ID % 8; f.ID > s.bitHi[b] {
		s.bitHi[b], s.bitAt[b] = f.ID, m.cfg.Clock.Now()
	}
	m.push(ctx, s, s.frags[f.ID], n)
	m.deliver(s)
}

// store keeps a fragment within the stream's bounds.
func (m *member) store(s *stream, fr *frag) {
	id := fr.f.ID
	if s.firstAt.IsZero() {
		s.firstAt = fr.at
	}
	s.frags[id] = fr
	s.stored++
	s.order = append(s.order, id)
	s.bytes += len(fr.f.Data)
	if id > s.hi {
		s.hi = id
	}
	s.knownHi = max(s.knownHi, s.hi)
	if s.lo == 0 || id < s.lo {
		s.lo = id
	}
	delete(s.missing, id)
	for s.bytes > maxStreamBytes && len(s.order) > 0 {
		s.pushedOut = max(s.pushedOut, s.order[0])
		m.evictOldest(s)
	}
}

// evictOldest gives up the stream's oldest fragment. The lowest id kept moves up to the
// next one held: ids are numbered in order, so the scan from the old lowest id costs, over a
// stream's life, its range of ids once, where a scan of every fragment kept per eviction made
// a window's worth of evictions quadratic.
func (m *member) evictOldest(s *stream) {
	id := s.order[0]
	s.order = s.order[1:]
	if fr := s.frags[id]; fr != nil {
		s.bytes -= len(fr.f.Data)
		delete(s.frags, id)
	}
	if len(s.frags) == 0 {
		s.lo = 0
		return
	}
	for s.frags[s.lo] == nil && s.lo < s.hi {
		s.lo++
	}
}

// push sends a new fragment to the neighbours that asked for its bit, but not to the one
// it came from nor to one whose map says it has it.
func (m *member) push(ctx actor.Context, s *stream, fr *frag, from *neighbor) {
	bit := uint8(1) << (fr.f.ID % 8)
	for _, n := range m.byPeer {
		if n == from {
			continue
		}
		ps := n.streams[s.lane]
		if ps == nil || ps.farFlow == 0 || ps.pushOut&bit == 0 || (ps.hasMap && ps.fmap.Has(fr.f.ID)) {
			continue
		}
		m.sendFragment(ctx, n, ps, s, fr)
	}
}

// deliver hands the player the whole messages that are ready, in order.
func (m *member) deliver(s *stream) {
	if s.source || !m.plays[s.name] {
		return
	}
	now := m.cfg.Clock.Now()
	// A fragment is given up once pulls had time to fail twice, and at least half a window
	// on: a starved machine (or neighbour) is late, not lossy.
	giveUp := max(2*m.cfg.FetchPeriod+time.Second, m.cfg.Window/2)
	// Late is not lost: a fragment a neighbour still offers is waited for up to the window
	// (a loaded machine or neighbour is slow, and pulls get it); one nobody offers, for
	// giveUp.
	lost := func(id uint64) bool {
		mi := s.missing[id]
		if mi == nil {
			return id < s.lo // gone with the window
		}
		if m.cfg.Lossless {
			return id < s.pushedOut // waiting would hold up what the byte bound now takes
		}
		waited := now.Sub(mi.since)
		return waited > m.cfg.Window || waited > giveUp && !m.offered(s, id)
	}
	if s.next == 0 {
		// The first fragments come from several neighbours in any order: wait a fetch
		// period for the earliest ones (and pull the holes) before starting.
		if s.firstAt.IsZero() || now.Sub(s.firstAt) < m.cfg.FetchPeriod {
			return
		}
		first := uint64(0)
		for id, fr := range s.frags {
			if fr.f.First() && (first == 0 || id < first) {
				first = id
			}
		}
		if first == 0 {
			return
		}
		// The maps and fragments that came since the last tick may tell of earlier ones
		// (a start decided on a fragment, the tick being late on a loaded machine).
		m.findHoles(s, now)
		// Earlier fragments we were told of and are pulling come first, unless given up.
		for id := range s.missing {
			if id < first && !lost(id) {
				return
			}
		}
		s.next = first
	}
	end := s.hi
	if s.ending {
		end = max(end, s.last)
	}
	for s.next <= end {
		fr := s.frags[s.next]
		if fr == nil {
			if !lost(s.next) {
				return
			}
			m.cfg.Stats.Lost.Add(1)
			delete(s.missing, s.next)
			s.next++
			continue
		}
		if !fr.f.First() {
			s.next++ // the rest of a message given up
			continue
		}
		count := uint64(fr.f.Split) + 1
		var body []byte
		complete := true
		for i := uint64(0); i < count; i++ {
			p := s.frags[s.next+i]
			if p == nil {
				complete = false
				if lost(s.next + i) {
					m.cfg.Stats.Lost.Add(1)
					delete(s.missing, s.next+i)
					s.next += i + 1
					break
				}
				return
			}
			if count > 1 {
				body = append(body, p.f.Data...)
			} else {
				body = p.f.Data
			}
		}
		if !complete {
			continue
		}
		s.next += count
		m.cfg.Stats.MessagesOut.Add(1)
		if m.cfg.OnMedia != nil {
			m.cfg.OnMedia(s.name, fr.f.MediaType, fr.f.Time, body)
		}
	}
}

// onInject adds a message of a stream the member publishes.
func (m *member) onInject(ctx actor.Context, in *Inject) {
	var s *stream
	for _, x := range m.streams {
		// One that ended is still served a window, but a new publishing is a new stream.
		if x.source && !x.ending && x.name == in.Name {
			s = x
		}
	}
	if s == nil {
		if s = m.newStream(in.Name, randomKey(), true); s == nil {
			return
		}
		for _, n := range m.byPeer {
			m.announce(ctx, n, s)
		}
	}
	if in.Config {
		s.configs[configSlot(in.Type)] = in.Body
	}
	if in.KeyFrame {
		// Members that joined since the last key frame need the configuration to decode.
		for _, t := range []byte{flash.TypeDataAMF0, flash.TypeAudio, flash.TypeVideo} {
			if b := s.configs[t]; b != nil {
				m.inject(ctx, s, t, in.Time, b)
			}
		}
	}
	m.inject(ctx, s, in.Type, in.Time, in.Body)
}

func configSlot(t byte) byte {
	if t == flash.TypeDataAMF3 {
		return flash.TypeDataAMF0
	}
	return t
}

func (m *member) inject(ctx actor.Context, s *stream, typ byte, ts uint32, body []byte) {
	frags, err := group.Split(nil, s.counter+1, typ, ts, body)
	if err != nil {
		return // larger than a group message can be: dropped
	}
	now := m.cfg.Clock.Now()
	for _, f := range frags {
		fr := &frag{f: f, wire: f.Append(nil), at: now}
		s.counter = f.ID
		m.store(s, fr)
		m.push(ctx, s, fr, nil)
	}
}

func (m *member) onEndStream(ctx actor.Context, name string) {
	for _, s := range m.streams {
		if s.source && !s.ended && s.name == name {
			m.endStream(ctx, s, s.counter, nil)
		}
	}
}

// endStream passes a stream's end on. The source's ends at once; a player's once it has
// delivered (or given up) every fragment up to the last, which may still be on its way.
func (m *member) endStream(ctx actor.Context, s *stream, last uint64, from *neighbor) {
	if s.ending {
		return
	}
	s.ending, s.last, s.servedAt = true, last, m.cfg.Clock.Now()
	s.knownHi = max(s.knownHi, last)
	end := group.MediaEnd{Last: last}.Append(nil)
	for _, n := range m.byPeer {
		if ps := n.streams[s.lane]; n != from && ps != nil && ps.announced {
			m.write(ctx, n, reportKeyOf(n, s), end, session.PriorityControl)
		}
	}
	m.deliver(s)
	m.finishIfDone(ctx, s)
}

// finishIfDone frees an ending stream's flows once nothing more is to come of it and its
// neighbours had a window to pull what they miss of it (the end overtakes fragments, and a
// neighbour on a starved machine is seconds behind: the source that stopped answering at
// the end left its neighbours without the stream's last fragments); its fragments go with
// the window.
func (m *member) finishIfDone(ctx actor.Context, s *stream) {
	if !s.ending || s.ended || (!s.source && m.plays[s.name] && s.next <= s.last) {
		return
	}
	if len(s.frags) > 0 && m.cfg.Clock.Now().Sub(s.servedAt) < m.cfg.Window {
		return
	}
	s.ended = true
	for _, n := range m.byPeer {
		ps := n.streams[s.lane]
		if ps == nil {
			continue
		}
		if ps.announced {
			ctx.Send(n.session, &session.CloseFlow{Key: reportKeyOf(n, s)})
		}
		if ps.farFlow != 0 {
			ctx.Send(n.session, &session.CloseFlow{Key: mediaKeyOf(ps, s)})
		}
		delete(n.streams, s.lane)
	}
	s.owner = [8]*neighbor{}
	s.missing = map[uint64]*miss{}
}

// fragmentsMap is what we hold of a stream, as a map.
func (m *member) fragmentsMap(s *stream) group.FragmentsMap {
	fm := group.FragmentsMap{Last: s.hi}
	if s.hi <= 1 {
		return fm
	}
	lo := max(s.lo, 1)
	span := s.hi - lo // ids before hi
	span = min(span, group.MaxMapBytes*8)
	fm.Bits = make([]byte, (span+7)/8)
	for d := uint64(0); d < span; d++ {
		if _, ok := s.frags[s.hi-1-d]; ok {
			fm.Bits[d/8] |= 1 << (d % 8)
		}
	}
	return fm
}

func (m *member) sendMap(ctx actor.Context, n *neighbor, ps *peerStream, s *stream, fm group.FragmentsMap) {
	ps.mapSent = s.stored
	m.write(ctx, n, reportKeyOf(n, s), fm.Append(nil), session.PriorityControl)
}

// onTick sends fragments maps, pulls what is missing, reconsiders push masks and ages
// fragments out of the window.
func (m *member) onTick(ctx actor.Context) {
	m.ticks++
	now := m.cfg.Clock.Now()
	for _, s := range m.streams {
		// Lossless: a stream's fragments go by the byte bound only until it ended (then the
		// window frees its lane).
		for len(s.order) > 0 && (!m.cfg.Lossless || s.ended) {
			fr := s.frags[s.order[0]]
			if fr != nil && now.Sub(fr.at) < m.cfg.Window {
				break
			}
			m.evictOldest(s)
		}
		m.finishIfDone(ctx, s)
		if m.ticks%rebalanceTicks == 0 {
			for _, n := range m.byPeer {
				if ps := n.streams[s.lane]; ps != nil {
					for id := range ps.sent {
						if id < s.lo || s.lo == 0 {
							delete(ps.sent, id)
						}
					}
				}
			}
		}
		if s.ended || s.hi == 0 {
			continue
		}
		var fm *group.FragmentsMap
		for _, n := range m.byPeer {
			ps := n.streams[s.lane]
			// Sent again whenever we hold more, not only when the stream's head moved: a
			// hole filled behind it (pulled, pushed late) is offered to the neighbours
			// that miss it too, or they would take it for lost by no one.
			if ps == nil || !ps.announced || ps.mapSent == s.stored {
				continue
			}
			if fm == nil {
				x := m.fragmentsMap(s)
				fm = &x
			}
			m.sendMap(ctx, n, ps, s, *fm)
		}
	}
	for _, s := range m.streams {
		if s.source || s.ended || !m.plays[s.name] {
			continue
		}
		m.findHoles(s, now)
		m.pull(ctx, s, now)
		m.rebalance(ctx, s)
		m.deliver(s)
		m.finishIfDone(ctx, s)
	}
}

// findHoles records the fragments we know exist but do not hold. Before the player
// starts, when it was offered the stream's first fragment (it was there at the start),
// that includes all those before the first we got: the first to arrive may be a later one
// pushed, and the maps that tell of the earlier ones come after it. It does so while it
// holds nothing too: pushes bring only what a neighbour gets after our push request
// reached it, so a stream sent before that (a burst, a source gone quiet) comes only by
// pulls. A player that joined late starts from what it gets, near the live edge.
func (m *member) findHoles(s *stream, now time.Time) {
	from := max(s.scanned, s.next, s.lo)
	if s.next == 0 && (s.lo > 0 || s.fromStart) {
		// Looked at again from the lowest held: an earlier fragment than those scanned
		// may have come (pushed late), leaving holes behind the scan.
		if s.frags[firstFragment] != nil {
			s.fromStart = true
		}
		from = s.lo
		if s.fromStart {
			from = firstFragment
			if s.lo > firstFragment+maxMissing {
				from = s.lo - maxMissing
			}
		}
	}
	if s.knownHi > maxMissing && from < s.knownHi-maxMissing {
		from = s.knownHi - maxMissing
	}
	if from == 0 {
		return
	}
	for id := from; id <= s.knownHi && len(s.missing) < maxMissing; id++ {
		if _, ok := s.frags[id]; !ok && s.missing[id] == nil && id >= s.next {
			s.missing[id] = &miss{since: now}
		}
		s.scanned = id
	}
	for id := range s.missing {
		if id < s.next {
			delete(s.missing, id)
		}
	}
}

// offered says whether a neighbour's map has fragment id.
func (m *member) offered(s *stream, id uint64) bool {
	for _, n := range m.byPeer {
		if ps := n.streams[s.lane]; ps != nil && ps.hasMap && ps.fmap.Has(id) {
			return true
		}
	}
	return false
}

// suppliers are the neighbours we may pull a stream's fragments from or ask to push them:
// each announced it to us and we to it (both flows are open), and sent its map.
func (m *member) suppliers(s *stream) []*neighbor {
	var out []*neighbor
	for _, n := range m.byPeer {
		if ps := n.streams[s.lane]; ps != nil && ps.hasMap && ps.farFlow != 0 && ps.announced {
			out = append(out, n)
		}
	}
	return out
}

// pull asks for fragments missing longer than the fetch period, from a neighbour whose
// map has them, another one at each retry.
func (m *member) pull(ctx actor.Context, s *stream, now time.Time) {
	have := m.suppliers(s)
	if len(have) == 0 {
		return
	}
	sort.Slice(have, func(i, j int) bool { return lessPeer(have[i].peer, have[j].peer) })
	sent := 0
	for id, mi := range s.missing {
		// A pull is repeated (elsewhere) after a longer wait each time: under load the
		// answers are late, and pulling again at once would add to the load that makes
		// them late.
		// (At most half a window, which a lossless member may wait beyond: a neighbour
		// serves an ended stream for a window after the last pull it got.)
		if now.Sub(mi.since) < m.cfg.FetchPeriod || (!mi.pulled.IsZero() && now.Sub(mi.pulled) < min(time.Duration(mi.tries)*m.cfg.FetchPeriod, m.cfg.Window/2)) {
			continue
		}
		// A push still on its way is not pulled: pushes of one bit come in order on one
		// flow, so a fragment is missing for good once a later one of its bit came, or
		// when its bit stalled.
		if b := id % 8; mi.tries == 0 && s.bitHi[b] < id && now.Sub(s.bitAt[b]) < 2*m.cfg.FetchPeriod {
			continue
		}
		if sent >= maxPullsPerTick {
			return
		}
		for k := range have {
			n := have[(int(id)+mi.tries+k)%len(have)]
			if n.streams[s.lane].fmap.Has(id) {
				m.write(ctx, n, reportKeyOf(n, s), group.Pull{ID: id}.Append(nil), session.PriorityControl)
				m.cfg.Stats.Pulls.Add(1)
				mi.pulled = now
				mi.tries++
				sent++
				break
			}
		}
	}
}

// rebalance chooses who pushes each bit of the ids to us: neighbours at least as far in
// the stream as we are (nearer its source), the two most advanced sharing the bits, and
// replaces an owner that sent nothing of its bits for a period.
func (m *member) rebalance(ctx actor.Context, s *stream) {
	up := m.suppliers(s)
	if len(up) == 0 {
		return
	}
	sort.Slice(up, func(i, j int) bool {
		a, b := up[i].streams[s.lane].fmap.Last, up[j].streams[s.lane].fmap.Last
		if a != b {
			return a > b
		}
		return lessPeer(up[i].peer, up[j].peer)
	})
	ahead := up[:0:0]
	for _, n := range up {
		if n.streams[s.lane].fmap.Last >= s.hi {
			ahead = append(ahead, n)
		}
	}
	if len(ahead) == 0 {
		ahead = up[:1]
	}
	ahead = ahead[:min(len(ahead), 2)]
	period := m.ticks%rebalanceTicks == 0
	rot := m.ticks / rebalanceTicks
	for b := range s.owner {
		o := s.owner[b]
		keep := o != nil && !o.gone && o.verified && (!period || s.got[b] > 0)
		if keep {
			continue
		}
		s.owner[b] = ahead[(b+rot)%len(ahead)]
		if o != nil && s.owner[b] == o && len(up) > len(ahead) {
			s.owner[b] = up[len(ahead)+(b+rot)%(len(up)-len(ahead))]
		}
	}
	if period {
		s.got = [8]int{}
	}
	for _, n := range m.byPeer {
		ps := n.streams[s.lane]
		if ps == nil || ps.farFlow == 0 || !ps.announced {
			continue
		}
		var mask uint8
		for b, o := range s.owner {
			if o == n {
				mask |= 1 << b
			}
		}
		if mask != ps.pushIn {
			ps.pushIn = mask
			m.write(ctx, n, reportKeyOf(n, s), group.PushMode{Mask: mask}.Append(nil), session.PriorityControl)
		}
	}
}
