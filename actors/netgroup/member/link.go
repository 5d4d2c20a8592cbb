package member

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/group"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// What a link tells its member.
type (
	linkUp struct {
		link, session *actor.PID
		info          endpoint.SessionInfo
		initiator     bool
	}
	linkFlow struct {
		link     *actor.PID
		flowID   uint64
		meta     string
		hasAssoc bool
		assocKey session.FlowKey
	}
	linkMsg struct {
		link   *actor.PID
		flowID uint64
		data   []byte
	}
	linkDown   struct{ link *actor.PID }
	dialFailed struct{ peer [32]byte }
)

// DialFailed tells a member that its Dial of peer did not open a session.
func DialFailed(peer [32]byte) any { return &dialFailed{peer: peer} }

// Link is the upper actor of a session between two members: it accepts the group's
// flows and hands what they carry to its member. The session that dialled knows its
// member (NewLink); one that was accepted finds it by the group ID of the first group
// message (NewAcceptedLink).
type Link struct {
	member  *actor.PID
	resolve func(group [32]byte) *actor.PID
	info    endpoint.SessionInfo
	self    *actor.PID
	session *actor.PID
	early   []any // what arrived before the member was known
	up      bool
}

// NewLink returns the link of a session this side dialled for member.
func NewLink(member *actor.PID, info endpoint.SessionInfo) *Link {
	return &Link{member: member, info: info}
}

// NewAcceptedLink returns the link of an accepted session: resolve finds the member of
// a group (nil: none here, the session is closed).
func NewAcceptedLink(info endpoint.SessionInfo, resolve func(group [32]byte) *actor.PID) *Link {
	return &Link{resolve: resolve, info: info}
}

// IsGroupFlow says whether a flow's metadata is one of the group's peer-to-peer flows.
func IsGroupFlow(meta []byte) bool {
	switch string(meta) {
	case group.MetaReport, group.MetaPost, group.MetaMediaReport, group.MetaMedia:
		return true
	}
	return false
}

// maxEarly bounds what an accepted link keeps before its group handshake.
const maxEarly = 16

func (l *Link) Receive(ctx actor.Context) {
	defer supervision.Repanic()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		l.self, l.session = ctx.Self(), ctx.Parent()
		if l.member != nil {
			l.start(ctx, true)
		}
	case *session.FlowOpened:
		if !IsGroupFlow(m.Metadata) {
			ctx.Send(l.session, &session.RejectFlow{FlowID: m.FlowID})
			return
		}
		ctx.Send(l.session, &session.AcceptFlow{FlowID: m.FlowID, PID: ctx.Self()})
		l.forward(ctx, &linkFlow{link: l.self, flowID: m.FlowID, meta: string(m.Metadata), hasAssoc: m.HasAssoc, assocKey: m.AssocKey})
	case *session.FlowMessage:
		lm := &linkMsg{link: l.self, flowID: m.FlowID, data: m.Data}
		if l.member == nil {
			l.resolveBy(ctx, m.Data)
		}
		l.forward(ctx, lm)
	case *session.Closing, *actor.Stopping:
		if l.member != nil && l.up {
			l.up = false
			ctx.Send(l.member, &linkDown{link: l.self})
		}
	}
}

// Attach makes the link the upper actor of ctx's session when it was made after the
// actor started (an actor that hands its session over to the link).
func (l *Link) Attach(ctx actor.Context) { l.self, l.session = ctx.Self(), ctx.Parent() }

func (l *Link) start(ctx actor.Context, initiator bool) {
	l.up = true
	ctx.Send(l.member, &linkUp{link: l.self, session: l.session, info: l.info, initiator: initiator})
	for _, e := range l.early {
		ctx.Send(l.member, e)
	}
	l.early = nil
}

// resolveBy finds the member from the first message of an accepted session, which must
// be the group handshake.
func (l *Link) resolveBy(ctx actor.Context, data []byte) {
	init, err := group.ParseInit(data)
	if err == nil && l.resolve != nil {
		l.member = l.resolve(init.Group)
	}
	if l.member == nil {
		ctx.Send(l.session, &session.Close{Reason: session.ReasonFlowViolation})
		l.early = nil
		return
	}
	l.start(ctx, false)
}

func (l *Link) forward(ctx actor.Context, m any) {
	if l.member != nil {
		if l.up {
			ctx.Send(l.member, m)
		}
		return
	}
	if len(l.early) < maxEarly {
		l.early = append(l.early, m)
	}
}
