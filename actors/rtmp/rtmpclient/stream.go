package rtmpclient

import (
	"context"
	"errors"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// Stream is a NetStream of the connection: a publication or a play.
type Stream struct {
	c  *Conn
	ID uint32
	// Status receives the stream's onStatus events (and onPlayStatus ones); it drops them
	// when full.
	Status chan flash.Status
	fn     func(Message)
	start  chan error
	// Events receives the user control events of the stream (Stream Begin, EOF, Is
	// Recorded); it drops them when full.
	Events chan uint16
}

// CreateStream creates a NetStream.
func (c *Conn) CreateStream(ctx context.Context) (*Stream, error) {
	txn, ch := c.newTxn()
	if err := c.sendCommand(0, flash.Command{Name: flash.CommandCreateStream, TransactionID: txn}); err != nil {
		return nil, err
	}
	r, err := c.wait(ctx, ch)
	if err != nil {
		return nil, err
	}
	var id float64
	if len(r.args) > 0 {
		id, _ = amf.AsNumber(r.args[len(r.args)-1])
	}
	if r.name != flash.CommandResult || id < 1 {
		return nil, errors.New("rtmpclient: createStream failed")
	}
	s := &Stream{c: c, ID: uint32(id), Status: make(chan flash.Status, 64), start: make(chan error, 1), Events: make(chan uint16, 64)}
	c.mu.Lock()
	c.streams[s.ID] = s
	c.mu.Unlock()
	return s, nil
}

// Publish publishes name on a new stream with typ "live", "record" or "append", and
// returns once the server answered NetStream.Publish.Start.
func (c *Conn) Publish(ctx context.Context, name, typ string) (*Stream, error) {
	s, err := c.CreateStream(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Command(flash.CommandPublish, name, typ); err != nil {
		return nil, err
	}
	return s, s.waitStart(ctx)
}

// Play plays name on a new stream from start (ms into a recording; -2000: live, else the
// recording, else wait for live; -1000: live only), with fn called on the connection's
// reading goroutine for each message; it returns once the server answered
// NetStream.Play.Start (or Reset).
func (c *Conn) Play(ctx context.Context, name string, start float64, fn func(Message)) (*Stream, error) {
	s, err := c.CreateStream(ctx)
	if err != nil {
		return nil, err
	}
	s.fn = fn
	if err := s.Command(flash.CommandPlay, name, start); err != nil {
		return nil, err
	}
	return s, s.waitStart(ctx)
}

func (s *Stream) waitStart(ctx context.Context) error {
	select {
	case err := <-s.start:
		return err
	case <-s.c.done:
		return errors.Join(ErrClosed, s.c.Err())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Command sends a command on the stream (transaction 0, null object): play, seek,
// pause, receiveVideo, closeStream…
func (s *Stream) Command(name string, args ...any) error {
	return s.c.sendCommand(s.ID, flash.Command{Name: name, Args: args})
}

// Write publishes one message: audio, video, or data (@setDataFrame).
func (s *Stream) Write(typ byte, ts uint32, body []byte) error {
	csid := byte(4)
	switch typ {
	case flash.TypeAudio:
		csid = 6
	case flash.TypeVideo:
		csid = 7
	}
	b := flash.AppendMessageHeader(make([]byte, 0, flash.HeaderLen+len(body)), typ, ts)[:flash.HeaderLen]
	return s.c.writeMessage(csid, s.ID, append(b, body...))
}

// Delete deletes the stream (deleteStream): a publisher unpublishes, a player stops.
func (s *Stream) Delete() error {
	s.c.mu.Lock()
	delete(s.c.streams, s.ID)
	s.c.mu.Unlock()
	return s.c.sendCommand(0, flash.Command{Name: flash.CommandDeleteStream, Args: []any{float64(s.ID)}})
}

func (s *Stream) onStatus(st flash.Status) {
	select {
	case s.Status <- st:
	default:
	}
	var err error
	switch st.Code {
	case flash.CodePlayStart, flash.CodePlayReset, flash.CodePublishStart:
	case flash.CodePlayFailed, flash.CodePlayStreamNotFound, flash.CodePublishBadName:
		err = &StatusError{Status: st}
	default:
		return
	}
	select {
	case s.start <- err:
	default:
	}
}
