package apphost

import (
	"errors"
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
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

// errNoGroups answers the group methods on a host without NetGroup membership.
var errNoGroups = errors.New("this server is not a NetGroup member")

// JoinGroup implements app.GroupHost.
func (h *host) JoinGroup(spec string) (app.GroupID, error) {
	if h.cfg.Groups == nil {
		return app.GroupID{}, errNoGroups
	}
	return h.cfg.Groups.Join(spec, h.path, h.onGroupPost)
}

// onGroupPost runs on a member's actor: the post goes on to the application's actor.
func (h *host) onGroupPost(group app.GroupID, body []byte) {
	v, _, err := amf.DecodeAMF0(body)
	if err != nil {
		h.log.Debug("a group post is not AMF0", zap.Error(err))
		return
	}
	h.root.Send(h.self, &groupPost{group: group, value: v})
}

// PostToGroup implements app.GroupHost.
func (h *host) PostToGroup(spec string, value any) error {
	if h.cfg.Groups == nil {
		return errNoGroups
	}
	body, err := amf.AppendAMF0(nil, value)
	if err != nil {
		return err
	}
	return h.cfg.Groups.Post(spec, body)
}

// Multicast implements app.GroupHost.
func (h *host) Multicast(name, spec string) error {
	if h.cfg.Groups == nil {
		return errNoGroups
	}
	return h.cfg.Groups.Multicast(h.path, name, spec)
}
