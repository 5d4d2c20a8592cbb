// Package luaapp serves server applications written in Lua as Cumulus and MonaServer
// users write them: www/main.lua serves rtmfp://host/, www/a/b/main.lua serves
// rtmfp://host/a/b, with Cumulus' events (onConnection, client methods, onPublish…) and
// objects (cumulus, client, publication…). It runs on gopher-lua (Lua 5.1): one Lua state
// per application, owned by that application's actor (package apphost), so the events of
// one application run one at a time and applications run in parallel.
//
// A Registry is the app.Registry of an applications folder. Scripts are sandboxed (no
// process, no files outside their application's folder), each call has a time budget and
// each state a memory limit, and an edited main.lua reloads its application without
// dropping its clients. docs/applications.md is the user's guide.
package luaapp

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// Config configures a Registry. Zero fields take the defaults of the command's settings.
type Config struct {
	// Root is the applications folder (www).
	Root string
	// CallTimeout is the time budget of one call into a script: beyond it the call stops
	// with an error (default 1 s).
	CallTimeout time.Duration
	// Memory is the memory limit of one application's Lua state, in bytes (0: none).
	Memory int64
	// Configs are the server's settings as scripts see them (cumulus.configs).
	Configs map[string]string
	Log     *zap.Logger
}

// DefaultCallTimeout is the default time budget of a call.
const DefaultCallTimeout = time.Second

// maxStringCap bounds the strings scripts make (and the files they load), below a
// quarter of the memory limit.
const maxStringCap = 16 << 20

// Stats counts what the Lua applications did.
type Stats struct {
	Errors      atomic.Uint64 // script errors (every event and call that raised one)
	Timeouts    atomic.Uint64 // calls stopped by the time budget
	MemoryStops atomic.Uint64 // calls stopped, or states refused, for their memory
	BadValues   atomic.Uint64 // values a script returned that AMF cannot carry
	LoadErrors  atomic.Uint64 // loads (and reloads) that failed
	Reloads     atomic.Uint64 // successful reloads
}

// Registry serves the Lua applications of a folder (app.Registry), and answers
// handshakes and unknown rendezvous for them (app.HandshakeHandler,
// app.RendezvousResolver). The root application starts with the server
// (app.Preloader).
type Registry struct {
	cfg      Config
	root     *os.Root
	rootName string
	stats    Stats

	mu      sync.Mutex
	running map[string]*App
}

// New opens the applications folder cfg.Root.
func New(cfg Config) (*Registry, error) {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	fi, err := os.Stat(cfg.Root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a folder", cfg.Root)
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(cfg.Root)
	if err != nil {
		abs = cfg.Root
	}
	return &Registry{cfg: cfg, root: root, rootName: filepath.Base(abs), running: map[string]*App{}}, nil
}

// Close closes the folder.
func (r *Registry) Close() error { return r.root.Close() }

// Stats returns the registry's counters.
func (r *Registry) Stats() *Stats { return &r.stats }

// maxString is the size bound of the strings a script makes.
func (r *Registry) maxString() int {
	if r.cfg.Memory > 0 && r.cfg.Memory/4 < maxStringCap {
		return int(max(r.cfg.Memory/4, 1<<16))
	}
	return maxStringCap
}

// Lookup implements app.Registry: an application exists where its main.lua does.
func (r *Registry) Lookup(p string) (app.Application, bool) {
	if !validPath(p) || !r.stamp(appFile(p)).exists {
		return nil, false
	}
	return newApp(r, p), true
}

// Preload implements app.Preloader: the root application starts with the server, as in
// Cumulus.
func (r *Registry) Preload() []string {
	if r.stamp(appFile("")).exists {
		return []string{""}
	}
	return nil
}

func (r *Registry) started(a *App) {
	r.mu.Lock()
	r.running[a.path] = a
	r.mu.Unlock()
}

func (r *Registry) stopped(a *App) {
	r.mu.Lock()
	if r.running[a.path] == a {
		delete(r.running, a.path)
	}
	r.mu.Unlock()
}

func (r *Registry) app(p string) *App {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[p]
}

// WantsHandshake implements app.HandshakeHandler: the running application of path
// defines onHandshake.
func (r *Registry) WantsHandshake(p string) bool {
	a := r.app(p)
	return a != nil && a.wantsHandshake.Load()
}

// OnHandshake implements app.HandshakeHandler: onHandshake runs on the application's
// actor, and its answer redirects the client or lets the handshake go on.
func (r *Registry) OnHandshake(h app.Handshake, answer func([]netip.AddrPort)) {
	a := r.app(h.Path)
	if a == nil {
		answer(nil)
		return
	}
	a.host.Post(func() { answer(a.onHandshake(h)) })
}

// ResolveRendezvous implements app.RendezvousResolver: onRendezVousUnknown runs in every
// running application that defines it; the addresses they give are merged.
func (r *Registry) ResolveRendezvous(peer cryptoutil.PeerID, answer func([]netip.AddrPort)) {
	r.mu.Lock()
	var apps []*App
	for _, a := range r.running {
		if a.wantsRendezvous.Load() {
			apps = append(apps, a)
		}
	}
	r.mu.Unlock()
	if len(apps) == 0 {
		answer(nil)
		return
	}
	var mu sync.Mutex
	var all []netip.AddrPort
	left := len(apps)
	var once sync.Once
	finish := func() {
		once.Do(func() {
			mu.Lock()
			out := all
			mu.Unlock()
			answer(out)
		})
	}
	// An application that does not answer in time (busy, stopping) is not waited for.
	t := apps[0].clock.AfterFunc(2*r.cfg.CallTimeout, finish)
	for _, a := range apps {
		a.host.Post(func() {
			addrs := a.onRendezvousUnknown(peer)
			mu.Lock()
			all = append(all, addrs...)
			left--
			done := left == 0
			mu.Unlock()
			if done {
				t.Stop()
				finish()
			}
		})
	}
}

// Overlay serves the paths of Apps with those applications (Go ones, say) and every
// other path with the Lua applications of Registry, whose optional interfaces (the root
// application's start, handshakes, rendezvous) it keeps: both kinds serve one server.
type Overlay struct {
	*Registry
	Apps map[string]app.Application
}

// Lookup implements app.Registry.
func (o Overlay) Lookup(p string) (app.Application, bool) {
	if a, ok := o.Apps[p]; ok {
		return a, true
	}
	return o.Registry.Lookup(p)
}
