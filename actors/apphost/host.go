package apphost

import (
	"errors"
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
)

// host is an application's app.Host.
type host struct {
	path string
	cfg  *Config
	self *actor.PID
	root *actor.RootContext
	log  *zap.Logger
}

func (h *host) Path() string       { return h.path }
func (h *host) Clock() clock.Clock { return h.cfg.Clock }
func (h *host) Log() *zap.Logger   { return h.log }
func (h *host) Post(f func())      { h.root.Send(h.self, &post{f: f}) }

// errNoPublishing answers Publish on a host without publications (an embedding program's
// test host).
var errNoPublishing = errors.New("this server does not publish for applications")

func (h *host) Publish(name string) (app.Publisher, error) {
	if h.cfg.Publish == nil {
		return nil, errNoPublishing
	}
	return h.cfg.Publish(h.path, name)
}

func (h *host) Ban(ip netip.Addr) {
	if h.cfg.Ban != nil {
		h.cfg.Ban(ip, true)
	}
}

func (h *host) Unban(ip netip.Addr) {
	if h.cfg.Ban != nil {
		h.cfg.Ban(ip, false)
	}
}
