package p2p

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/ratelimit"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// RelayStats counts Cirrus-style relay calls.
type RelayStats struct {
	Relays        atomic.Uint64 // relay calls
	RelaysLimited atomic.Uint64 // refused by the rate or size limits
	RelaysUnknown atomic.Uint64 // target not connected
}

// Relay limits: calls per second per client (burst twice that), payload size, lookups
// in progress per client.
const (
	relaysPerSecond = 50
	maxRelayPayload = 64 << 10
	maxRelaysActive = 256
)

// Relay is the relay state of one client that makes relay calls (few do: a connection
// makes it at the first call). Cirrus' relay(targetPeerID, args…) reaches the target's
// connection as a messages.RelayMessage, which it delivers as onRelay(senderPeerID,
// args…); the caller gets an empty _result, or _error when the target is not connected
// (Mona's recipe, which the Cirrus samples expect).
type Relay struct {
	pending map[uint64]RelayCall // directory lookups of relay targets
	next    uint64
	limit   ratelimit.Bucket
}

// RelayCall is a relay call waiting for its target's lookup: what its answer needs.
type RelayCall struct {
	Txn  float64
	AMF3 bool
	args []byte // AMF0
}

// Start checks a relay call (its command arguments) against the limits and asks the
// directory for its target; the answer goes to replyTo as a *messages.LookupPeerResult,
// for Deliver. An error is the call's answer (its _error description).
func (r *Relay) Start(ctx actor.Context, directory, replyTo *actor.PID, stats *RelayStats, txn float64, amf3 bool, args []any, now time.Time) error {
	stats.Relays.Add(1)
	var target cryptoutil.PeerID
	var err error
	if len(args) > 0 {
		s, _ := args[0].(string)
		target, err = cryptoutil.ParsePeerID(s)
	}
	if len(args) == 0 || err != nil {
		return errors.New("relay needs the target's peer ID (64 hex digits)")
	}
	if !r.limit.Take(relaysPerSecond, 2*relaysPerSecond, now) {
		stats.RelaysLimited.Add(1)
		return errors.New("relay rate limit exceeded")
	}
	var payload []byte
	for _, a := range args[1:] {
		if payload, err = amf.AppendAMF0(payload, a); err != nil {
			return errors.New("relay arguments cannot be encoded")
		}
	}
	if len(payload) > maxRelayPayload {
		stats.RelaysLimited.Add(1)
		return errors.New("relay payload too large")
	}
	if r.pending == nil {
		r.pending = map[uint64]RelayCall{}
	}
	if len(r.pending) >= maxRelaysActive {
		stats.RelaysLimited.Add(1)
		return errors.New("too many relays in progress")
	}
	r.next++
	r.pending[r.next] = RelayCall{Txn: txn, AMF3: amf3, args: payload}
	ctx.Send(directory, &messages.LookupPeer{PeerId: target[:], RequestId: r.next, ReplyTo: replyTo})
	return nil
}

// Deliver sends the relayed message of the call res answers to its target's connection,
// or, for a target served by another node of the cluster, to cluster (ToNode with a
// *messages.RelayTo). ok is false if res answers no call of r; otherwise call is the call
// to answer, and err, if not nil, its _error description.
func (r *Relay) Deliver(ctx actor.Context, res *messages.LookupPeerResult, sender cryptoutil.PeerID, cluster *actor.PID, stats *RelayStats) (call RelayCall, ok bool, err error) {
	call, ok = r.pending[res.RequestId]
	if !ok {
		return call, false, nil
	}
	delete(r.pending, res.RequestId)
	remote := res.Found && res.Peer.Origin != "" && cluster != nil
	if !res.Found || res.Peer.Connection == nil && !remote {
		stats.RelaysUnknown.Add(1)
		id, _ := cryptoutil.PeerIDFromBytes(res.PeerId)
		return call, true, fmt.Errorf("peer %s not found", id)
	}
	msg := &messages.RelayMessage{SenderPeerId: sender[:], Method: "onRelay", ArgsAmf0: call.args}
	if remote {
		ctx.Send(cluster, &ToNode{Msg: &messages.RelayTo{ToNode: res.Peer.Origin, TargetPeerId: res.Peer.PeerId, TargetSessionId: res.Peer.SessionId, Relay: msg}})
		return call, true, nil
	}
	ctx.Send(res.Peer.Connection, msg)
	return call, true, nil
}

// Relayed decodes a relayed message for its target: the method to call on the client and
// its arguments (the sender's peer ID first).
func Relayed(m *messages.RelayMessage) (method string, args []any, err error) {
	sender, ok := cryptoutil.PeerIDFromBytes(m.SenderPeerId)
	if !ok || m.Method == "" {
		return "", nil, errors.New("relay message without sender or method")
	}
	args = []any{sender.String()}
	var dec amf.Decoder
	dec.Reset(m.ArgsAmf0)
	for dec.Len() > 0 {
		v, err := dec.ReadAMF0()
		if err != nil {
			return "", nil, err
		}
		args = append(args, v)
	}
	return m.Method, args, nil
}
