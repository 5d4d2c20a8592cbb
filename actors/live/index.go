package live

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
)

// Index is what operators see of a node's publications (the status API, the metrics):
// each publication's publisher, players and bit rate. A publication enters it when it is
// spawned and leaves it when it retires; it updates its entry when its members change,
// and its bit rate once a second of media.
type Index struct {
	clock clock.Clock
	mu    sync.RWMutex
	byID  map[uint64]*PublicationInfo
}

// NewIndex returns an empty index whose bit rates are on c (the node's clock; nil: the
// real one).
func NewIndex(c clock.Clock) *Index {
	return &Index{clock: clock.Or(c), byID: map[uint64]*PublicationInfo{}}
}

func (ix *Index) add(p *PublicationInfo) {
	if ix == nil {
		return
	}
	ix.mu.Lock()
	ix.byID[p.id] = p
	ix.mu.Unlock()
}

func (ix *Index) remove(id uint64) {
	if ix == nil {
		return
	}
	ix.mu.Lock()
	delete(ix.byID, id)
	ix.mu.Unlock()
}

// Views returns every publication of app (every one if app is empty), by application
// and name.
func (ix *Index) Views(app string) []PublicationView {
	ix.mu.RLock()
	infos := make([]*PublicationInfo, 0, len(ix.byID))
	for _, p := range ix.byID {
		if app == "" || p.key.App == app {
			infos = append(infos, p)
		}
	}
	ix.mu.RUnlock()
	out := make([]PublicationView, len(infos))
	for i, p := range infos {
		out[i] = p.view(ix.clock.Now())
	}
	slices.SortFunc(out, func(a, b PublicationView) int {
		return cmp.Or(cmp.Compare(a.Key.App, b.Key.App), cmp.Compare(a.Key.Name, b.Key.Name))
	})
	return out
}

// Counts returns how many publications have a publisher and how many players they have
// in all.
func (ix *Index) Counts() (published, players int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, p := range ix.byID {
		p.mu.Lock()
		if p.publisher != nil {
			published++
		}
		players += len(p.players)
		p.mu.Unlock()
	}
	return published, players
}

// PublicationView is one publication as operators see it.
type PublicationView struct {
	Key       Key
	Publisher app.Client // nil while nobody publishes
	Since     time.Time  // when the publisher started
	Players   []app.Client
	// BitRate is the publisher's media in bits per second over the last whole second
	// (0 when nothing came for two seconds).
	BitRate float64
	Bytes   uint64 // media bytes received since the publication started
}

// PublicationInfo is the index entry of one publication.
type PublicationInfo struct {
	key Key
	id  uint64

	mu        sync.Mutex
	publisher app.Client
	since     time.Time
	players   map[subKey]app.Client

	bytes atomic.Uint64
	// The bit rate, measured by the publication actor over windows of a second.
	rate        atomic.Uint64 // bits per second of the last whole window
	rateAt      atomic.Int64  // Unix nanoseconds of the end of that window
	windowStart time.Time     // the actor's alone
	windowBytes uint64
}

func newPublicationInfo(key Key, id uint64) *PublicationInfo {
	return &PublicationInfo{key: key, id: id, players: map[subKey]app.Client{}}
}

func (p *PublicationInfo) setPublisher(c app.Client, at time.Time) {
	p.mu.Lock()
	p.publisher, p.since = c, at
	p.mu.Unlock()
}

func (p *PublicationInfo) setPlayer(k subKey, c app.Client, playing bool) {
	p.mu.Lock()
	if playing {
		p.players[k] = c
	} else {
		delete(p.players, k)
	}
	p.mu.Unlock()
}

// media counts n bytes of media received at now.
func (p *PublicationInfo) media(n int, now time.Time) {
	p.bytes.Add(uint64(n))
	if p.windowStart.IsZero() {
		p.windowStart = now
	}
	p.windowBytes += uint64(n)
	if d := now.Sub(p.windowStart); d >= time.Second {
		p.rate.Store(uint64(float64(p.windowBytes*8) / d.Seconds()))
		p.rateAt.Store(now.UnixNano())
		p.windowStart, p.windowBytes = now, 0
	}
}

func (p *PublicationInfo) view(now time.Time) PublicationView {
	v := PublicationView{Key: p.key, Bytes: p.bytes.Load()}
	if at := p.rateAt.Load(); at != 0 && now.Sub(time.Unix(0, at)) < 2*time.Second {
		v.BitRate = float64(p.rate.Load())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	v.Publisher, v.Since = p.publisher, p.since
	for _, c := range p.players {
		if c != nil {
			v.Players = append(v.Players, c)
		}
	}
	slices.SortFunc(v.Players, func(a, b app.Client) int { return cmp.Compare(a.Address().String(), b.Address().String()) })
	return v
}
