package rtmpclient

import (
	"encoding/binary"
	"math/bits"
	"time"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// read runs the connection's reading until the socket closes: protocol control, replies,
// statuses, user control events and the media of played streams.
func (c *Conn) read() {
	defer close(c.done)
	counted := bytecounter.NewReader(c.nc)
	r := rawmessage.NewReader(counted, counted, func(n uint32) error {
		c.writeControl(3, n)
		return nil
	})
	var dec amf.Decoder
	for {
		m, err := r.Read()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		at := time.Now()
		msid := bits.ReverseBytes32(m.MessageStreamID)
		switch m.Type {
		case 1:
			if len(m.Body) >= 4 {
				if err := r.SetChunkSize(binary.BigEndian.Uint32(m.Body) & 0x7FFFFFFF); err != nil {
					c.mu.Lock()
					c.err = err
					c.mu.Unlock()
					c.nc.Close()
					return
				}
			}
		case 5:
			if len(m.Body) >= 4 {
				r.SetWindowAckSize(binary.BigEndian.Uint32(m.Body))
			}
		case flash.TypeUserControl:
			c.onUserControl(m.Body)
		case flash.TypeCommandAMF0, flash.TypeCommandAMF3:
			msg, err := flash.ParseMessage(append(flash.AppendMessageHeader(nil, m.Type, 0)[:flash.HeaderLen], m.Body...))
			if err != nil {
				continue
			}
			cmd, err := flash.ParseCommand(msg, &dec)
			if err != nil {
				continue
			}
			c.onCommand(msid, cmd)
		case flash.TypeAudio, flash.TypeVideo, flash.TypeDataAMF0, flash.TypeDataAMF3:
			body := m.Body
			if m.Type == flash.TypeDataAMF3 && len(body) > 0 {
				body = body[1:]
			}
			ts := uint32(m.Timestamp / time.Millisecond)
			if m.Type != flash.TypeAudio && m.Type != flash.TypeVideo {
				if d, err := flash.ParseData(flash.Message{Type: flash.TypeDataAMF0, Body: body}, &dec); err == nil && d.Name() == "onPlayStatus" && len(d.Values) > 1 {
					if st, err := flash.ParseStatus(d.Values[1]); err == nil {
						if s := c.stream(msid); s != nil {
							s.onStatus(st)
						}
					}
				}
			}
			if s := c.stream(msid); s != nil && s.fn != nil {
				s.fn(Message{Type: m.Type, Timestamp: ts, Body: body, Received: at})
			}
		}
	}
}

func (c *Conn) stream(id uint32) *Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[id]
}

func (c *Conn) onUserControl(body []byte) {
	u, err := flash.ParseUserControl(flash.Message{Type: flash.TypeUserControl, Body: body})
	if err != nil {
		return
	}
	if t, ok := u.PingTime(); ok && u.Event == flash.EventPingRequest {
		b := flash.PingResponse(t).Append(nil)
		_ = c.writeMessage(2, 0, b)
		return
	}
	if id, ok := u.StreamID(); ok {
		if s := c.stream(id); s != nil {
			select {
			case s.Events <- u.Event:
			default:
			}
		}
	}
}

func (c *Conn) onCommand(msid uint32, cmd flash.Command) {
	switch cmd.Name {
	case flash.CommandResult, flash.CommandError:
		c.mu.Lock()
		ch := c.calls[cmd.TransactionID]
		delete(c.calls, cmd.TransactionID)
		c.mu.Unlock()
		if ch != nil {
			args := cmd.Args
			if cmd.Object != nil {
				args = append([]any{cmd.Object}, args...)
			}
			ch <- reply{name: cmd.Name, args: args}
		}
	case flash.CommandOnStatus:
		if s := c.stream(msid); s != nil {
			if st, ok := statusOf(cmd.Args); ok {
				s.onStatus(st)
			}
		}
	}
}
