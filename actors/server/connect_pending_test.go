package server_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// gatedApp is testApp whose OnConnect waits until the test releases it.
type gatedApp struct {
	testApp
	entered, release chan struct{}
}

func (a *gatedApp) OnConnect(c app.Client, args []any) ([]amf.Property, error) {
	close(a.entered)
	<-a.release
	return a.testApp.OnConnect(c, args)
}

// TestCallsDuringConnectRunAfterItIsAccepted: calls that reach the server while the
// application is still deciding on the connect wait for its answer and are then run in
// order, after the connect's _result (Flash pipelines commands behind its connect).
func TestCallsDuringConnectRunAfterItIsAccepted(t *testing.T) {
	t.Parallel()
	ga := &gatedApp{entered: make(chan struct{}), release: make(chan struct{})}
	f := startServer(t, server.Options{Apps: app.Static{Apps: map[string]app.Application{"live": ga}}}, nil)
	p := newRawPeer(t)
	s, err := p.handshake(f.srv.Addrs()[0], f.url, cryptoutil.FlashInitiatorPolicy())
	if err != nil {
		t.Fatal(err)
	}
	command := func(c flash.Command) []byte {
		b, err := flash.AppendCommand(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	connect := command(flash.Command{Name: flash.CommandConnect, TransactionID: 1,
		Object: amf.NewObject(amf.Property{Key: "app", Value: "live"}, amf.Property{Key: "tcUrl", Value: f.url})})
	echo1 := command(flash.Command{Name: "echo", TransactionID: 2, Args: []any{"first"}})
	echo2 := command(flash.Command{Name: "echo", TransactionID: 3, Args: []any{"second"}})
	meta := rtmfp.FlowOptions{Metadata: flash.Metadata{Kind: flash.KindNetConnection}.Append(nil)}.Append(nil)
	// One datagram: the connect and both calls reach the connection together, before the
	// application can have answered.
	dgram := s.seal(nil,
		rtmfp.UserData{Flags: rtmfp.UserDataOptions, FlowID: 1, SequenceNumber: 1, FSNOffset: 1, Options: meta, Data: connect},
		rtmfp.UserData{FlowID: 1, SequenceNumber: 2, FSNOffset: 2, Data: echo1},
		rtmfp.UserData{FlowID: 1, SequenceNumber: 3, FSNOffset: 3, Data: echo2})
	if err := p.send(s.server, dgram); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ga.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the application was not asked about the connect")
	}
	if got := s.readCommands(t, 300*time.Millisecond, 0); len(got) != 0 {
		t.Fatalf("answered %v before the application decided", got)
	}
	close(ga.release)
	got := s.readCommands(t, 10*time.Second, 3)
	want := []string{"_result 1", "_result 2 first", "_result 3 second"}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Fatalf("answers %q, want %q", got, want)
		}
	}
}

// readCommands reads the server's datagrams on s for up to d (or until n commands came)
// and returns the commands of whole messages on the server's flows as "name txn
// [first string argument]", each (flow, sequence number) once.
func (s *rawSession) readCommands(t *testing.T, d time.Duration, n int) []string {
	t.Helper()
	var got []string
	seen := map[[2]uint64]bool{}
	deadline := time.Now().Add(d)
	for n == 0 || len(got) < n {
		_ = s.peer.conn.SetReadDeadline(deadline)
		k, _, err := s.peer.conn.ReadFromUDPAddrPort(s.peer.buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return got
			}
			t.Fatal(err)
		}
		packet, _, err := s.dec.Open(nil, s.peer.buf[:k])
		if err != nil {
			continue
		}
		r, err := rtmfp.NewPacketReader(packet)
		if err != nil {
			continue
		}
		for r.Next() {
			c := r.Chunk()
			if c.Type != rtmfp.ChunkUserData {
				continue
			}
			ud, err := rtmfp.ParseUserData(c.Payload)
			if err != nil || ud.Fragment() != 0 || seen[[2]uint64{ud.FlowID, ud.SequenceNumber}] {
				continue
			}
			seen[[2]uint64{ud.FlowID, ud.SequenceNumber}] = true
			msg, err := flash.ParseMessage(ud.Data)
			if err != nil || (msg.Type != flash.TypeCommandAMF0 && msg.Type != flash.TypeCommandAMF3) {
				continue
			}
			cmd, err := flash.ParseCommand(msg, amf.NewDecoder(nil))
			if err != nil {
				t.Fatalf("server command: %v", err)
			}
			line := fmt.Sprintf("%s %g", cmd.Name, cmd.TransactionID)
			if len(cmd.Args) > 0 {
				if a, ok := cmd.Args[0].(string); ok {
					line += " " + a
				}
			}
			got = append(got, line)
		}
	}
	return got
}
