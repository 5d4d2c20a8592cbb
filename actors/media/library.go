package media

import (
	"encoding/binary"
	"os"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/codec/flv"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// LibraryProps returns the props of the node's library: the actor that answers questions
// about recordings that need no player (Length). It reads files: it runs on protoactor's
// default dispatcher.
func (m *Media) LibraryProps() *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &library{m: m} }, actor.WithReceiverMiddleware(supervision.Middleware))
}

type library struct{ m *Media }

func (l *library) Receive(ctx actor.Context) {
	if q, ok := ctx.Message().(*Length); ok {
		ctx.Send(q.ReplyTo, &LengthResult{Txn: q.Txn, AMF3: q.AMF3, Seconds: l.length(q)})
	}
}

// length reads the duration of a recording: the one its recorder wrote in its metadata,
// or else the timestamp of its last tag (the PreviousTagSize at its end says where that
// tag starts). It is 0 for no recording (or a file that does not end on a whole tag).
func (l *library) length(q *Length) float64 {
	path, err := l.m.File(q.Key.App, q.Key.Name)
	if err != nil {
		return 0
	}
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < flv.StartLen+flv.TagHeaderLen+flv.PrevSizeLen {
		return 0
	}
	var meta [flv.TagHeaderLen + 64]byte
	if _, err := f.ReadAt(meta[:], flv.StartLen); err == nil {
		if h, err := flv.ParseTagHeader(meta[:]); err == nil && h.Type == flv.TagScript && flv.Patchable(meta[flv.TagHeaderLen:]) {
			return flv.Duration(meta[flv.TagHeaderLen:])
		}
	}
	var b [flv.TagHeaderLen]byte
	if _, err := f.ReadAt(b[:flv.PrevSizeLen], fi.Size()-flv.PrevSizeLen); err != nil {
		return 0
	}
	last := int64(binary.BigEndian.Uint32(b[:]))
	at := fi.Size() - flv.PrevSizeLen - last
	if last < flv.TagHeaderLen || at < flv.StartLen {
		return 0
	}
	if _, err := f.ReadAt(b[:], at); err != nil {
		return 0
	}
	h, err := flv.ParseTagHeader(b[:])
	if err != nil || int64(h.DataSize)+flv.TagHeaderLen != last {
		return 0
	}
	return float64(h.Timestamp) / 1000
}
