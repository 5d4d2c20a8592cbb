package luaapp_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
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

func TestListenerGatesVideo(t *testing.T) {
	t.Parallel()
	f := start(t, map[string]string{"main.lua": streamsApp}, options{})
	pc := f.mustDial("", client.Options{})
	pub, err := pc.Publish(ctxT(t), "gated")
	if err != nil {
		t.Fatal(err)
	}
	full := f.mustDial("", client.Options{})
	fullPl, err := full.Play(ctxT(t), "gated")
	if err != nil {
		t.Fatal(err)
	}
	audioOnly := f.mustDial("?novideo=1", client.Options{})
	aoPl, err := audioOnly.Play(ctxT(t), "gated")
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := range n {
		v, a := videoKey, audioFrame
		v.Timestamp, a.Timestamp = uint32(100+i*40), uint32(100+i*40)
		_ = pub.Write(v)
		_ = pub.Write(a)
	}
	count := func(p *client.Player, typ byte, want int) int {
		got := 0
		deadline := time.After(10 * time.Second)
		for got < want {
			select {
			case m := <-p.C:
				if m.Type == typ {
					got++
				}
			case <-deadline:
				return got
			}
		}
		return got
	}
	if got := count(fullPl, flash.TypeVideo, n); got != n {
		t.Fatalf("the full player got %d video frames of %d", got, n)
	}
	videos := 0
	audios := 0
	deadline := time.After(10 * time.Second)
	for audios < n {
		select {
		case m := <-aoPl.C:
			switch m.Type {
			case flash.TypeVideo:
				videos++
			case flash.TypeAudio:
				audios++
			}
		case <-deadline:
			t.Fatalf("the audio-only player got %d audio frames of %d", audios, n)
		}
	}
	if videos != 0 {
		t.Errorf("listener.receiveVideo = false, yet the player got %d video frames", videos)
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
