package rtmp

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"

	"github.com/actorrtmfp/actorrtmfp/actors/rtmp/handshake"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/codec/flv"
)

// protocolError is a client that sent what is not RTMP (or breaks its limits): the
// connection closes with it.
type protocolError struct{ err error }

func (e *protocolError) Error() string { return "rtmp: " + e.err.Error() }
func (e *protocolError) Unwrap() error { return e.err }

func protoErr(format string, a ...any) error { return &protocolError{fmt.Errorf(format, a...)} }

// errBanned ends the connection of a client whose address was banned meanwhile.
var errBanned = errors.New("rtmp: the client's address is banned")

// Limits of what a client sends.
const (
	// maxChunkSize is the largest chunk size a client may set (gortmplib's own bound).
	maxChunkSize = 10 << 20
	// maxUnfinished bounds the bytes read since the last whole message: interleaved
	// messages a client leaves unfinished cost their bytes until they complete.
	maxUnfinished = 16 << 20
)

// serve runs the connection's reading: the TLS and RTMP handshakes, then every message
// of the client, until the socket closes. Protocol control is applied here, before the
// next read (chunk size, window); acknowledgements and pings are answered through the
// queue; everything else goes to the actor.
func (c *conn) serve() {
	err := c.read()
	c.root.Send(c.self, &readEnded{err: err})
}

func (c *conn) read() error {
	if t, ok := c.nc.(*tls.Conn); ok {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-c.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := t.HandshakeContext(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
	}
	digest, err := handshake.Server(c.nc)
	if err != nil {
		return err
	}
	c.touch()
	c.root.Send(c.self, &handshaken{digest: digest})
	counted := bytecounter.NewReader(c.nc)
	lim := &unfinishedLimit{r: counted, c: c}
	r := rawmessage.NewReader(lim, counted, func(n uint32) error {
		c.out.push(item{data: controlMessage(3, n), csid: csidControl}) // Acknowledgement
		return nil
	})
	for {
		m, err := r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || lim.err != nil {
				return errors.Join(err, lim.err)
			}
			var pe *protocolError
			if !errors.As(err, &pe) && !isNetError(err) {
				err = &protocolError{err} // gortmplib's framing errors
			}
			return err
		}
		lim.n = 0
		c.bytesIn.Store(counted.Count())
		if c.cfg.Banned != nil && c.cfg.Banned.Banned(c.addr.Addr()) {
			return errBanned
		}
		// gortmplib reads a type-0 chunk's message stream ID big-endian; RTMP writes it
		// little-endian (stream 1 arrives as 0x01000000).
		m.MessageStreamID = bits.ReverseBytes32(m.MessageStreamID)
		if err := c.onMessage(r, m); err != nil {
			return err
		}
	}
}

// onMessage applies protocol control and hands the rest to the actor.
func (c *conn) onMessage(r *rawmessage.Reader, m *rawmessage.Message) error {
	ts := uint32(m.Timestamp / time.Millisecond)
	switch m.Type {
	case 1: // Set Chunk Size
		if len(m.Body) < 4 {
			return protoErr("short Set Chunk Size")
		}
		v := binary.BigEndian.Uint32(m.Body) & 0x7FFFFFFF
		if v == 0 || v > maxChunkSize {
			return protoErr("chunk size %d out of range (1-%d)", v, maxChunkSize)
		}
		return r.SetChunkSize(v)
	case 2: // Abort
		if len(m.Body) >= 4 {
			r.AbortChunkStream(binary.BigEndian.Uint32(m.Body))
		}
	case 3, 6: // Acknowledgement, Set Peer Bandwidth: nothing to do for a server
	case 5: // Window Acknowledgement Size
		if len(m.Body) < 4 {
			return protoErr("short Window Acknowledgement Size")
		}
		r.SetWindowAckSize(binary.BigEndian.Uint32(m.Body))
	case flash.TypeUserControl:
		u, err := flash.ParseUserControl(flash.Message{Type: m.Type, Body: m.Body})
		if err != nil {
			return protoErr("user control: %w", err)
		}
		if t, ok := u.PingTime(); ok && u.Event == flash.EventPingRequest {
			c.out.push(item{data: flash.PingResponse(t).Append(nil), csid: csidControl})
		}
	case flash.TypeAudio, flash.TypeVideo, flash.TypeDataAMF0, flash.TypeDataAMF3, flash.TypeCommandAMF0, flash.TypeCommandAMF3:
		c.deliver(m.MessageStreamID, m.Type, ts, m.Body)
	case flash.TypeAggregate:
		return c.deliverAggregate(m.MessageStreamID, ts, m.Body)
	default:
		// Shared objects (0x10, 0x13), which neither RTMFP nor this server serves, and
		// types no client sends.
		c.cfg.Stats.BadMessages.Add(1)
	}
	return nil
}

// deliver hands one message to the actor as a Flash message (type, timestamp, body: the
// RTMP body as it is, the format byte of 0x0F and 0x11 included), waiting while the actor
// is behind.
func (c *conn) deliver(msid uint32, typ byte, ts uint32, body []byte) {
	data := make([]byte, flash.HeaderLen+len(body))
	data[0] = typ
	binary.BigEndian.PutUint32(data[1:], ts)
	copy(data[flash.HeaderLen:], body)
	for c.inflight.Add(int64(len(data))) > maxInflight {
		c.inflight.Add(-int64(len(data)))
		select {
		case <-c.drained:
		case <-c.done:
			return
		}
	}
	c.root.Send(c.self, &inbound{msid: msid, data: data})
}

// deliverAggregate splits an aggregate message (FLV tags with their PreviousTagSize, as
// Wowza and some encoders send) into its messages, shifted to the aggregate's timestamp.
func (c *conn) deliverAggregate(msid uint32, ts uint32, body []byte) error {
	var first uint32
	for i := 0; len(body) > 0; i++ {
		tag, n, err := flv.ParseTag(body)
		if err != nil {
			return protoErr("aggregate message: %w", err)
		}
		if i == 0 {
			first = tag.Timestamp
		}
		m := tag.Message()
		c.deliver(msid, m.Type, ts+(tag.Timestamp-first), m.Body)
		body = body[n:]
	}
	return nil
}

// touch records that the client sent something.
func (c *conn) touch() { c.lastIn.Store(c.cfg.Clock.Now().UnixNano()) }

// unfinishedLimit counts the bytes read since the last whole message and fails beyond
// maxUnfinished; each read is the client's sign of life.
type unfinishedLimit struct {
	r   io.Reader
	c   *conn
	n   int
	err error
}

func (l *unfinishedLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if n > 0 {
		l.c.touch()
		if l.n += n; l.n > maxUnfinished {
			l.err = protoErr("more than %d bytes without a whole message", maxUnfinished)
			return n, l.err
		}
	}
	return n, err
}

func isNetError(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne)
}
