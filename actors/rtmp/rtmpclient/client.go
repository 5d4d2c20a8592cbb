// Package rtmpclient is a small RTMP and RTMPS client: connect, create streams, publish
// (live, record, append) and play (live or recorded, with seek and pause), calls. The
// server's tests and the load tool use it; it speaks the wire as Flash Player, ffmpeg
// and OBS do (the digest handshake when asked, chunks of 4096 bytes, message stream IDs
// per NetStream), on gortmplib's chunk reader and writer.
package rtmpclient

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"

	"github.com/actorrtmfp/actorrtmfp/actors/rtmp/handshake"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// Options configure a connection.
type Options struct {
	// TLS is the configuration of an rtmps:// URL (nil: the defaults).
	TLS *tls.Config
	// Digest makes the handshake Flash Player's digest one.
	Digest bool
	// Args are the extra arguments of connect.
	Args []any
	// Props are added to the connect command object (e.g. fourCcList).
	Props []amf.Property
	// ChunkSize is the chunk size the client sets (0: 4096).
	ChunkSize uint32
}

// Message is one message of a stream: audio, video or data.
type Message struct {
	Type      byte
	Timestamp uint32
	Body      []byte
	// Received is when the message was read.
	Received time.Time
}

// Conn is a connected RTMP client.
type Conn struct {
	nc     net.Conn
	app    string
	result flash.Status
	props  *amf.Object

	wmu sync.Mutex
	w   *rawmessage.Writer

	mu      sync.Mutex
	nextTxn float64
	calls   map[float64]chan reply
	streams map[uint32]*Stream
	err     error
	done    chan struct{}
}

type reply struct {
	name string
	args []any
}

// Errors of the client.
var (
	ErrClosed = errors.New("rtmpclient: connection closed")
)

// StatusError is a refused connect, publish or play: the server's status.
type StatusError struct{ Status flash.Status }

func (e *StatusError) Error() string {
	return fmt.Sprintf("rtmpclient: %s (%s)", e.Status.Code, e.Status.Description)
}

// Dial connects to rawURL (rtmp://host[:port]/app[/instance][?query] or rtmps://…) and
// sends connect; it returns once the server accepted it.
func Dial(ctx context.Context, rawURL string, opts Options) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	host := u.Host
	if u.Port() == "" {
		port := "1935"
		if u.Scheme == "rtmps" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "rtmp":
	case "rtmps":
		cfg := opts.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: u.Hostname()}
		}
		t := tls.Client(nc, cfg)
		if err := t.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = t
	default:
		nc.Close()
		return nil, fmt.Errorf("rtmpclient: %q is not an rtmp:// or rtmps:// URL", rawURL)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if err := handshake.Client(nc, opts.Digest); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	app := strings.TrimPrefix(u.Path, "/")
	if u.RawQuery != "" {
		app += "?" + u.RawQuery
	}
	c := &Conn{nc: nc, app: app, nextTxn: 2, calls: map[float64]chan reply{}, streams: map[uint32]*Stream{}, done: make(chan struct{})}
	counted := bytecounter.NewWriter(nc)
	c.w = rawmessage.NewWriter(counted, counted, false)
	chunk := opts.ChunkSize
	if chunk == 0 {
		chunk = 4096
	}
	c.writeControl(1, chunk)
	c.w.SetChunkSize(chunk)
	go c.read()

	obj := amf.NewObject(
		amf.Property{Key: "app", Value: app}, amf.Property{Key: "type", Value: "nonprivate"},
		amf.Property{Key: "flashVer", Value: "FMLE/3.0 (compatible; actorrtmfp)"}, amf.Property{Key: "tcUrl", Value: rawURL},
		amf.Property{Key: "fpad", Value: false}, amf.Property{Key: "capabilities", Value: 15.0},
		amf.Property{Key: "audioCodecs", Value: 4071.0}, amf.Property{Key: "videoCodecs", Value: 252.0},
		amf.Property{Key: "videoFunction", Value: 1.0})
	obj.Props = append(obj.Props, opts.Props...)
	ch := c.expect(1)
	if err := c.sendCommand(0, flash.Command{Name: flash.CommandConnect, TransactionID: 1, Object: obj, Args: opts.Args}); err != nil {
		c.Close()
		return nil, err
	}
	r, err := c.wait(ctx, ch)
	if err != nil {
		c.Close()
		return nil, err
	}
	st, _ := statusOf(r.args)
	c.result = st
	if len(r.args) > 1 {
		c.props, _ = r.args[0].(*amf.Object)
	}
	if r.name != flash.CommandResult {
		c.Close()
		return nil, &StatusError{Status: st}
	}
	return c, nil
}

// statusOf returns the status among a reply's values.
func statusOf(args []any) (flash.Status, bool) {
	for _, a := range args {
		if s, err := flash.ParseStatus(a); err == nil {
			return s, true
		}
	}
	return flash.Status{}, false
}

// Result is the server's answer to connect.
func (c *Conn) Result() flash.Status { return c.result }

// Properties is the command object of the server's answer to connect (fmsVer,
// capabilities…), nil if it sent none.
func (c *Conn) Properties() *amf.Object { return c.props }

// NetConn is the connection's socket.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (after Done).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Call calls a method of the server's application and returns its results.
func (c *Conn) Call(ctx context.Context, method string, args ...any) ([]any, error) {
	txn, ch := c.newTxn()
	if err := c.sendCommand(0, flash.Command{Name: method, TransactionID: txn, Args: args}); err != nil {
		return nil, err
	}
	r, err := c.wait(ctx, ch)
	if err != nil {
		return nil, err
	}
	if r.name != flash.CommandResult {
		st, _ := statusOf(r.args)
		return nil, &StatusError{Status: st}
	}
	return r.args, nil
}

func (c *Conn) newTxn() (float64, chan reply) {
	c.mu.Lock()
	txn := c.nextTxn
	c.nextTxn++
	c.mu.Unlock()
	return txn, c.expect(txn)
}

func (c *Conn) expect(txn float64) chan reply {
	ch := make(chan reply, 1)
	c.mu.Lock()
	c.calls[txn] = ch
	c.mu.Unlock()
	return ch
}

func (c *Conn) wait(ctx context.Context, ch chan reply) (reply, error) {
	select {
	case r := <-ch:
		return r, nil
	case <-c.done:
		return reply{}, errors.Join(ErrClosed, c.Err())
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
}

// sendCommand writes a command on message stream msid.
func (c *Conn) sendCommand(msid uint32, cmd flash.Command) error {
	b, err := flash.AppendCommand(nil, cmd)
	if err != nil {
		return err
	}
	csid := byte(3)
	if msid != 0 {
		csid = 8
	}
	return c.writeMessage(csid, msid, b)
}

// writeControl writes a protocol control message with a u32 body.
func (c *Conn) writeControl(typ byte, v uint32) {
	b := flash.AppendMessageHeader(nil, typ, 0)
	_ = c.writeMessage(2, 0, binary.BigEndian.AppendUint32(b, v))
}

// writeMessage writes a whole Flash message (type, timestamp, body).
func (c *Conn) writeMessage(csid byte, msid uint32, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Write(&rawmessage.Message{ChunkStreamID: csid, Type: data[0], MessageStreamID: bits.ReverseBytes32(msid),
		Timestamp: time.Duration(binary.BigEndian.Uint32(data[1:5])) * time.Millisecond, Body: data[5:]})
}

// WriteRaw writes a message as it is, on chunk stream csid and message stream msid (for
// tests of what a server does with unusual messages).
func (c *Conn) WriteRaw(csid byte, msid uint32, typ byte, ts uint32, body []byte) error {
	return c.writeMessage(csid, msid, append(flash.AppendMessageHeader(nil, typ, ts)[:5], body...))
}
