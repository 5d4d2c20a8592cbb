package luaapp_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

const streamsApp = probe + `
function onConnection(client)
	probeMethods(client)
	function client:pubinfo(name)
		local p = cumulus.publications(name)
		if not p then return "none" end
		local ids = {}
		for id, l in p.listeners:pairs() do ids[#ids + 1] = l.client.id end
		return {name = p.name, mine = p.publisherId > 0, listeners = p.listeners.count, listenerIds = ids,
			count = cumulus.publications.count}
	end
end
function onPublish(client, publication)
	record("publish", publication.name, client == publication.publisher)
	if publication.name == "forbidden" then return false end
	if publication.name == "bad" then error("no way") end
end
function onUnpublish(client, publication) record("unpublish", publication.name) end
function onSubscribe(client, listener)
	record("subscribe", listener.publication.name, listener.client == client)
	if listener.publication.name == "secret" then return false end
	if client.novideo then listener.receiveVideo = false end
end
function onUnsubscribe(client, listener) record("unsubscribe", listener.publication.name) end
function onAudioPacket(client, publication, time, packet) record("audio", publication.name, time, #packet) end
function onVideoPacket(client, publication, time, packet) record("video", publication.name, time, #packet) end
function onDataPacket(client, publication, name, packet) record("data", publication.name, name, (cumulus:fromAMF(packet))) end
`

var (
	audioFrame = client.Media{Type: flash.TypeAudio, Timestamp: 10, Data: []byte{0xAF, 0x01, 1, 2, 3}}
	videoKey   = client.Media{Type: flash.TypeVideo, Timestamp: 10, Data: []byte{0x17, 0x01, 0, 0, 0, 9, 9}}
)

func dataFrame(values ...any) client.Media {
	var b []byte
	for _, v := range values {
		b, _ = amf.AppendAMF0(b, v)
	}
	return client.Media{Type: flash.TypeDataAMF0, Timestamp: 10, Data: b}
}

func TestPublishPlayAndMediaEvents(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": streamsApp}, options{})
	pc := f.mustDial("", client.Options{})
	pub, err := pc.Publish(ctxT(t), "live")
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, pc, "publish live true")
	for _, m := range []client.Media{audioFrame, videoKey, dataFrame("hello", "world")} {
		if err := pub.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent(t, pc, "audio live 10 5")
	waitEvent(t, pc, "video live 10 7")
	waitEvent(t, pc, "data live hello world")

	player := f.mustDial("", client.Options{})
	pl, err := player.Play(ctxT(t), "live")
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, pc, "subscribe live true")
	info, _ := call(t, pc, "pubinfo", "live")[0].(*amf.Object)
	if info == nil {
		t.Fatal("no publication info")
	}
	if v, _ := info.Get("listeners"); v != 1.0 {
		t.Errorf("listeners.count = %v, want 1", v)
	}
	if v, _ := info.Get("mine"); v != true {
		t.Errorf("publisherId not set")
	}
	if v, _ := info.Get("count"); v != 1.0 {
		t.Errorf("cumulus.publications.count = %v", v)
	}
	pl.Close()
	waitEvent(t, pc, "unsubscribe live")
	pub.Close()
	waitEvent(t, pc, "unpublish live")
	if got := call(t, pc, "pubinfo", "live"); len(got) != 1 || got[0] != "none" {
		t.Errorf("after unpublish: %v", got)
	}
}

func TestPublishAndPlayRefused(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": streamsApp}, options{})
	c := f.mustDial("", client.Options{})
	line := strings.Count(streamsApp[:strings.Index(streamsApp, "no way")], "\n") + 1
	for name, want := range map[string]string{"forbidden": "Not allowed to publish forbidden", "bad": fmt.Sprintf("www/main.lua:%d: no way", line)} {
		_, err := c.Publish(ctxT(t), name)
		var se *client.StreamError
		if !errors.As(err, &se) || se.Status.Code != flash.CodePublishBadName || se.Status.Description != want {
			t.Errorf("publish %s: %v, want BadName %q", name, err, want)
		}
	}
	_, err := c.Play(ctxT(t), "secret")
	var se *client.StreamError
	if !errors.As(err, &se) || se.Status.Code != flash.CodePlayFailed || se.Status.Description != "Not authorized to play secret" {
		t.Errorf("play secret: %v", err)
	}
	// The same name twice: the second publisher is refused by the application, which knows
	// the first.
	if _, err := c.Publish(ctxT(t), "once"); err != nil {
		t.Fatal(err)
	}
	other := f.mustDial("", client.Options{})
	if _, err := other.Publish(ctxT(t), "once"); !errors.As(err, &se) || se.Status.Code != flash.CodePublishBadName {
		t.Errorf("second publisher of a name: %v", err)
	}
}

// TestListenerGatesVideo: a listener whose receiveVideo the script turned off in
// onSubscribe gets no video until the script turns it on again; then it gets the video
// sent after that, never the earlier frames (its video lane is in order).
//
// The gate the application sets in onSubscribe holds from the first message: every
// live.Gate a session gets is held back until the listener has its first audio, so a
// gate that took effect only by a Gate sent after the play was bound would let the
// video sent before it through.
func TestListenerGatesVideo(t *testing.T) {
	t.Parallel()
	var gatesOpen atomic.Bool
	var held sync.Mutex // the gates held back, in order, until gatesOpen
	var heldGates []func()
	holdGates := func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			if _, ok := env.Message.(*live.Gate); ok && !gatesOpen.Load() {
				held.Lock()
				root, self, m := c.ActorSystem().Root, c.Self(), env.Message
				heldGates = append(heldGates, func() { root.Send(self, m) })
				held.Unlock()
				return
			}
			next(c, env)
		}
	}
	f := start(t, map[string]string{"main.lua": streamsApp + `
local subscribe = onSubscribe
function onSubscribe(client, listener)
	client.listener = listener
	return subscribe(client, listener)
end
local connect = onConnection
function onConnection(client)
	connect(client)
	function client:videoOn() client.listener.receiveVideo = true end
end`}, options{sessions: []actor.ReceiverMiddleware{holdGates}})
	pc := f.mustDial("", client.Options{})
	pub, err := pc.Publish(ctxT(t), "gated")
	if err != nil {
		t.Fatal(err)
	}
	viewer := f.mustDial("?novideo=1", client.Options{})
	pl, err := viewer.Play(ctxT(t), "gated")
	if err != nil {
		t.Fatal(err)
	}
	send := func(from uint32) {
		for i := range uint32(5) {
			v, a := videoKey, audioFrame
			v.Timestamp, a.Timestamp = from+i*40, from+i*40
			_ = pub.Write(v)
			_ = pub.Write(a)
		}
	}
	// next returns the next message of the kind, failing after a while.
	next := func(typ byte) client.Media {
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m := <-pl.C:
				if m.Type == typ {
					return m
				}
			case <-deadline:
				t.Fatalf("no message of type %d", typ)
			}
		}
	}
	send(100)
	for range 5 {
		next(flash.TypeAudio)
	}
	held.Lock()
	gatesOpen.Store(true)
	for _, resend := range heldGates {
		resend()
	}
	held.Unlock()
	call(t, viewer, "videoOn")
	send(1000)
	if v := next(flash.TypeVideo); v.Timestamp < 1000 {
		t.Errorf("the first video the gated listener got is from %d ms, sent while its video was off", v.Timestamp)
	}
}

func TestServerPublicationReachesPlayers(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": probe + `
function onPublish(client, publication) record("publish", publication.name) end
function onConnection(client)
	probeMethods(client)
	function client:startFeed(name) feed = cumulus:publish(name) return feed ~= nil end
	function client:again(name) return cumulus:publish(name) == nil end
	function client:push()
		feed:pushDataPacket("onMetaData", cumulus:toAMF({width = 320}))
		feed:pushAudioPacket(100, "\175\001abc")
		feed:pushVideoPacket(100, "\023\001\000\000\000xyz")
	end
	function client:stop() feed:close() end
	function client:listed(name) return cumulus.publications(name) ~= nil end
end`}, options{})
	c := f.mustDial("", client.Options{})
	if got := call(t, c, "startFeed", "feed"); got[0] != true {
		t.Fatalf("cumulus:publish returned nil")
	}
	if got := call(t, c, "again", "feed"); got[0] != true {
		t.Errorf("publishing a published name again did not return nil")
	}
	if got := call(t, c, "listed", "feed"); got[0] != true {
		t.Errorf("the server publication is not in cumulus.publications")
	}
	viewer := f.mustDial("", client.Options{})
	pl, err := viewer.Play(ctxT(t), "feed")
	if err != nil {
		t.Fatal(err)
	}
	call(t, c, "push")
	got := map[byte]client.Media{}
	deadline := time.After(10 * time.Second)
	for len(got) < 3 {
		select {
		case m := <-pl.C:
			if m.Type == flash.TypeDataAMF0 && bytes.Contains(m.Data, []byte("|RtmpSampleAccess")) {
				continue
			}
			got[m.Type] = m
		case <-deadline:
			t.Fatalf("the player got %d of the 3 pushed messages: %v", len(got), got)
		}
	}
	if a := got[flash.TypeAudio]; a.Timestamp != 100 || string(a.Data) != "\xaf\x01abc" {
		t.Errorf("audio %+v", a)
	}
	if v := got[flash.TypeVideo]; v.Timestamp != 100 || string(v.Data) != "\x17\x01\x00\x00\x00xyz" {
		t.Errorf("video %+v", v)
	}
	if d := got[flash.TypeDataAMF0]; !bytes.Contains(d.Data, []byte("onMetaData")) || !bytes.Contains(d.Data, []byte("width")) {
		t.Errorf("data %q", d.Data)
	}
	if evs := eventsOf(t, c); len(evs) != 0 {
		t.Errorf("a server publication triggered events %q", evs)
	}
	call(t, c, "stop")
	deadline = time.After(10 * time.Second)
	for {
		select {
		case st := <-pl.Status:
			if st.Code == flash.CodePlayUnpublishNotify {
				return
			}
		case <-deadline:
			t.Fatal("the player was not told the server's publication ended")
		}
	}
}

// TestScriptClosesAndGatesStreams: publication:close ends a client's publishing with the
// script's status; listener sample access reaches the player; the collections iterate.
func TestScriptClosesAndGatesStreams(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": `
function onSubscribe(client, listener) listener.videoSampleAccess = false end
function onConnection(client)
	function client:kick(name) cumulus.publications(name):close("NetStream.Publish.Kicked", "enough") end
	function client:names()
		local out = {}
		for name, p in pairs(cumulus.publications) do out[#out + 1] = name end
		for id, c in pairs(cumulus.clients) do out[#out + 1] = #id end
		out[#out + 1] = #cumulus.toAMF("dot call")
		return out
	end
end`}, options{})
	pc := f.mustDial("", client.Options{})
	pub, err := pc.Publish(ctxT(t), "show")
	if err != nil {
		t.Fatal(err)
	}
	_ = pub
	viewer := f.mustDial("", client.Options{})
	pl, err := viewer.Play(ctxT(t), "show")
	if err != nil {
		t.Fatal(err)
	}
	// The sample access the script set: |RtmpSampleAccess with video false.
	deadline := time.After(10 * time.Second)
	for found := false; !found; {
		select {
		case m := <-pl.C:
			if m.Type != flash.TypeDataAMF0 || !bytes.Contains(m.Data, []byte("|RtmpSampleAccess")) {
				continue
			}
			d := amf.NewDecoder(m.Data)
			var vs []any
			for d.Len() > 0 {
				v, err := d.ReadAMF0()
				if err != nil {
					break
				}
				vs = append(vs, v)
			}
			if len(vs) == 3 && vs[1] == true && vs[2] == false {
				found = true
			}
		case <-deadline:
			t.Fatal("no |RtmpSampleAccess with video refused")
		}
	}
	got := call(t, pc, "names")
	list, _ := got[0].([]any)
	if fmt.Sprint(list) != "[show 64 64 11]" {
		t.Errorf("names: %v", list)
	}
	call(t, pc, "kick", "show")
	eventually(t, "the publication to end", func() bool {
		got := call(t, viewer, "names")
		list, _ := got[0].([]any)
		return len(list) > 0 && list[0] != "show"
	})
}

// TestReloadHandsServerPublicationsOver: a new version that publishes the same name in its
// onStart takes the publication over; players see no end.
func TestReloadHandsServerPublicationsOver(t *testing.T) {
	t.Parallel()
	v := func(n string) string {
		return `
function onStart() feed = cumulus:publish("feed") end
function onConnection(client)
	function client:push() feed:pushAudioPacket(` + n + `, "\175\001` + n + `") end
end`
	}
	f := start(t, map[string]string{"main.lua": v("1")}, options{})
	c := f.mustDial("", client.Options{})
	pl, err := f.mustDial("", client.Options{}).Play(ctxT(t), "feed")
	if err != nil {
		t.Fatal(err)
	}
	call(t, c, "push")
	f.write("main.lua", v("2"))
	c2 := f.mustDial("", client.Options{})
	call(t, c2, "push")
	var got []uint32
	deadline := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case m := <-pl.C:
			if m.Type == flash.TypeAudio {
				got = append(got, m.Timestamp)
			}
		case st := <-pl.Status:
			if st.Code == flash.CodePlayUnpublishNotify {
				t.Fatal("the player was told the publication ended at the reload")
			}
		case <-deadline:
			t.Fatalf("the player got audio %v", got)
		}
	}
	if got[0] != 1 || got[1] != 2 {
		t.Errorf("audio timestamps %v, want the old version's then the new one's", got)
	}
}
