package media

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/codec/flv"
)

// recorder writes one publication to an FLV file: the messages its stream queued (a
// Recording), in order, as tags. The file has one onMetaData, first (a second one in the
// middle of a file makes ffmpeg's demuxer see a subtitle stream), with its duration and
// size written when the file is closed; no end-of-sequence tags (an appended file would
// have them in its middle); timestamps from 0, or, appended, after the file's last one.
type recorder struct {
	m      *Media
	p      RecordParams
	q      *recordQueue
	parent *actor.PID

	f      *os.File
	w      *bufio.Writer
	path   string
	size   int64 // bytes in the file, written or buffered
	metaAt int64 // offset of the patchable onMetaData body; -1: none
	meta   bool  // the file has its metadata (no other is written)
	base   int64 // timestamp of the first media written now (append: after the file's)
	first  int64 // the publisher's timestamp of its first media
	began  bool  // first is known
	last   uint32
	failed bool

	batch []*live.Ingest
	buf   []byte
	dec   amf.Decoder
}

func (r *recorder) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		r.parent = ctx.Parent()
		r.open(ctx)
	case *drain:
		r.writeQueued(ctx)
	case *fellBehind:
		r.fail(ctx, errors.New("the disk fell behind the stream"), false)
	case *actor.Stopping:
		r.writeQueued(ctx)
		r.close()
	}
}

// open creates (or, to append, opens and checks) the file and reports to the stream.
func (r *recorder) open(ctx actor.Context) {
	r.metaAt = -1
	if err := r.m.checkFolder(); err != nil {
		r.fail(ctx, err, true)
		return
	}
	path, err := r.m.File(r.p.Key.App, r.p.Key.Name)
	if err != nil {
		r.fail(ctx, err, true)
		return
	}
	r.path = path
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		r.fail(ctx, err, false)
		return
	}
	flags := os.O_RDWR | os.O_CREATE
	if !r.p.Append {
		flags |= os.O_TRUNC
	}
	if r.f, err = os.OpenFile(path, flags, 0o644); err != nil {
		r.fail(ctx, err, false)
		return
	}
	appended := false
	if r.p.Append {
		if appended, err = r.resume(); err != nil {
			r.fail(ctx, err, false)
			return
		}
	}
	r.w = bufio.NewWriterSize(r.f, 64<<10)
	if !appended {
		r.write(flv.Header{Audio: true, Video: true}.Append(r.buf[:0]))
	}
	r.m.cfg.Stats.Recordings.Add(1)
	r.m.cfg.Log.Info("recording", zap.String("file", path), zap.Bool("append", appended))
	ctx.Send(r.parent, &RecordStarted{Name: r.p.Key.Name, Append: appended})
}

// resume prepares an existing file for appending: it checks it, cuts a torn last tag and
// a last end of sequence, and takes up its timestamps and metadata. It reports false for
// an empty file (written from the start).
func (r *recorder) resume() (bool, error) {
	fi, err := r.f.Stat()
	if err != nil || fi.Size() == 0 {
		return false, err
	}
	ix, err := scanFile(r.f, fi.Size())
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			r.m.cfg.Stats.BadFiles.Add(1)
			return false, fmt.Errorf("cannot append to %s: %w", r.p.Key.Name, err)
		}
		return false, err
	}
	end := ix.end
	if ix.lastEnd.off >= 0 {
		end = ix.lastEnd.off
	}
	if err := r.f.Truncate(end); err != nil {
		return false, err
	}
	if _, err := r.f.Seek(end, io.SeekStart); err != nil {
		return false, err
	}
	r.size, r.last, r.meta = end, ix.last, true
	if ix.tags > 0 {
		r.base = int64(ix.last) + 1
	}
	if ix.meta.off == ix.first {
		var prefix [flv.TagHeaderLen + 64]byte
		if n, _ := r.f.ReadAt(prefix[:], ix.meta.off); n == len(prefix) && flv.Patchable(prefix[flv.TagHeaderLen:]) {
			r.metaAt = ix.meta.off + flv.TagHeaderLen
		}
	}
	return true, nil
}

// writeQueued writes what the stream queued.
func (r *recorder) writeQueued(ctx actor.Context) {
	r.batch = r.q.take(r.batch)
	for i, in := range r.batch {
		if !r.failed {
			r.record(ctx, in.Msg)
		}
		r.batch[i] = nil
	}
}

// record writes one message of the publisher as a tag (or leaves it out).
func (r *recorder) record(ctx actor.Context, msg flash.Message) {
	switch msg.Type {
	case flash.TypeDataAMF0, flash.TypeDataAMF3:
		if !r.meta {
			if props, ok := r.metadata(msg); ok {
				r.writeMetadata(ctx, props)
			}
		}
		return // other data (cue points, NetStream.send) is live only
	case flash.TypeAudio:
		if flash.IsAudioSequenceEnd(msg.Body) {
			return
		}
	case flash.TypeVideo:
		if flash.IsVideoSequenceEnd(msg.Body) {
			return
		}
	default:
		return
	}
	if !r.meta {
		r.writeMetadata(ctx, nil)
	}
	tag, _ := flv.FromMessage(msg)
	tag.Timestamp = r.stamp(msg.Timestamp)
	b, err := flv.AppendTag(r.buf[:0], tag)
	if err != nil {
		r.fail(ctx, err, false)
		return
	}
	r.buf = b[:0]
	if err := r.write(b); err != nil {
		r.fail(ctx, err, false)
	}
}

// metadata returns the properties of a publisher's @setDataFrame("onMetaData", props).
func (r *recorder) metadata(msg flash.Message) ([]amf.Property, bool) {
	d, err := flash.ParseData(msg, &r.dec)
	if err != nil || d.Name() != "@setDataFrame" || len(d.Values) < 3 || d.Values[1] != flv.MetadataName {
		return nil, false
	}
	switch o := d.Values[2].(type) {
	case *amf.ECMAArray:
		return o.Props, true
	case *amf.Object:
		return o.Props, true
	}
	return nil, true
}

func (r *recorder) writeMetadata(ctx actor.Context, props []amf.Property) {
	r.meta = true
	body, err := flv.AppendMetadata(nil, 0, 0, props)
	if err != nil {
		// Properties AMF0 cannot carry: the file gets the duration and size alone.
		r.m.cfg.Log.Info("recording's metadata left out", zap.String("app", r.p.Key.App), zap.String("name", r.p.Key.Name), zap.Error(err))
		body, _ = flv.AppendMetadata(nil, 0, 0, nil)
	}
	b, err := flv.AppendTag(r.buf[:0], flv.Tag{Type: flv.TagScript, Timestamp: uint32(r.base), Body: body})
	if err != nil {
		r.fail(ctx, err, false)
		return
	}
	r.metaAt = r.size + flv.TagHeaderLen
	if err := r.write(b); err != nil {
		r.fail(ctx, err, false)
	}
}

// stamp maps a publisher's timestamp to the file's: from the first media on, after base.
func (r *recorder) stamp(ts uint32) uint32 {
	if !r.began {
		r.first, r.began = int64(ts), true
	}
	d := max(int64(int32(ts-uint32(r.first))), 0) // wraps around with the publisher's
	out := uint32(r.base + d)
	r.last = max(r.last, out)
	return out
}

func (r *recorder) write(b []byte) error {
	n, err := r.w.Write(b)
	r.size += int64(n)
	return err
}

// fail ends the recording with err and tells the stream; noAccess marks a refusal.
func (r *recorder) fail(ctx actor.Context, err error, noAccess bool) {
	if r.failed {
		return
	}
	r.failed = true
	r.q.mu.Lock()
	r.q.over = true
	r.q.mu.Unlock()
	r.m.cfg.Stats.RecordFailures.Add(1)
	r.m.cfg.Log.Warn("recording failed", zap.String("app", r.p.Key.App), zap.String("name", r.p.Key.Name), zap.Error(err))
	ctx.Send(r.parent, &RecordFailed{Name: r.p.Key.Name, Err: err, NoAccess: noAccess})
	r.close()
}

// close writes what is buffered, the final duration and size, and closes the file.
func (r *recorder) close() {
	if r.f == nil {
		return
	}
	f := r.f
	r.f = nil
	var err error
	if r.w != nil {
		err = r.w.Flush()
	}
	if err == nil && r.w != nil && r.metaAt >= 0 {
		var prefix [64]byte
		if n, _ := f.ReadAt(prefix[:], r.metaAt); n == len(prefix) && flv.Patchable(prefix[:]) {
			flv.PutDuration(prefix[:], float64(r.last)/1000)
			flv.PutFileSize(prefix[:], float64(r.size))
			_, err = f.WriteAt(prefix[:], r.metaAt)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.m.cfg.Log.Warn("recording not closed cleanly", zap.String("file", r.path), zap.Error(err))
	}
	r.m.cfg.Stats.Closed.Add(1)
}
