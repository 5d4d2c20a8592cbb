package rtmp

import (
	"bufio"
	"encoding/binary"
	"math/bits"
	"time"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"

	"github.com/actorrtmfp/actorrtmfp/actors/live"
)

// write runs the connection's writer: it takes the queue's items in order and writes
// them with gortmplib's chunk writer into a buffer it flushes when the queue is empty, so
// that a burst (a batch of a fan-out, a late joiner's group of pictures) costs one system
// call. Media whose lifetime passed while queued is given up here — and when it is video,
// the binding's video after it too, up to its next key frame: a player must not get the
// frames of a group whose start it lacks.
func (c *conn) write() {
	bw := bufio.NewWriterSize(c.nc, 32<<10)
	// Not bw itself: gortmplib's writer would take a *bufio.Writer as its own buffer and
	// flush it — a system call — after every message.
	counted := bytecounter.NewWriter(bw)
	w := rawmessage.NewWriter(counted, counted, false)
	var m rawmessage.Message
	waitKey := map[*binding]bool{} // bindings whose video lost a frame here
	err := func() error {
		for {
			it, ok, closed := c.out.pop()
			if !ok {
				if bw.Buffered() > 0 {
					c.writing.Store(c.cfg.Clock.Now().UnixNano())
					err := bw.Flush()
					c.bytesOut.Store(counted.Count())
					c.writing.Store(0)
					if err != nil {
						return err
					}
				}
				if closed {
					return c.nc.Close()
				}
				select {
				case <-c.out.wake:
				case <-c.done:
					return nil
				}
				continue
			}
			now := c.cfg.Clock.Now().UnixNano()
			if it.media && it.kind == live.KindVideo {
				switch {
				case it.key:
					delete(waitKey, it.b)
				case waitKey[it.b]:
					c.cfg.Stats.MediaExpired.Add(1)
					continue
				}
			}
			if it.deadline != 0 && now > it.deadline {
				c.cfg.Stats.MediaExpired.Add(1)
				if it.media && it.kind == live.KindVideo && it.b != nil {
					waitKey[it.b] = true
				}
				continue
			}
			m = rawmessage.Message{
				ChunkStreamID:   it.csid,
				Timestamp:       time.Duration(binary.BigEndian.Uint32(it.data[1:5])) * time.Millisecond,
				Type:            it.data[0],
				MessageStreamID: bits.ReverseBytes32(it.msid), // see read
				Body:            it.data[5:],
			}
			c.writing.Store(now)
			err := w.Write(&m)
			c.writing.Store(0)
			if err != nil {
				return err
			}
			if m.Type == 1 { // our Set Chunk Size takes effect after it
				w.SetChunkSize(binary.BigEndian.Uint32(m.Body))
			}
		}
	}()
	c.root.Send(c.self, &writeEnded{err: err})
}
