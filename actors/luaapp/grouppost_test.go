package luaapp_test

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/group"
)

// TestLuaPostsToAGroupAndReceivesItsPosts: a script joins a NetGroup (cumulus:joinGroup),
// maps a stream into its multicast (cumulus:multicast; a bad specifier is refused),
// receives a member's post in onGroupPost, and posts to the group (cumulus:postToGroup),
// which the member receives.
func TestLuaPostsToAGroupAndReceivesItsPosts(t *testing.T) {
	t.Parallel()
	spec := "G:0101" + "0a0e" + hex.EncodeToString([]byte("luagroup1")) + "00"
	f := start(t, map[string]string{"main.lua": probe + `
SPEC = "` + spec + `"
function onConnection(client)
	probeMethods(client)
	record("joined", cumulus:joinGroup(SPEC))
	record("multicast", cumulus:multicast("cam", SPEC), cumulus:multicast("cam", "G:zz"), cumulus:joinGroup("nonsense"))
	function client:post(v) return cumulus:postToGroup(SPEC, v) end
end
function onGroupPost(id, value) record("post", id, value) end
`}, options{})
	posts := make(chan any, 4)
	c := f.mustDial("", client.Options{AcceptPeers: true})
	_, id, _ := group.GroupText(spec)
	waitEvent(t, c, "joined "+hex.EncodeToString(id[:]))
	waitEvent(t, c, "multicast true false nil")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mb, err := c.JoinGroupSpec(ctx, spec, client.MemberOptions{OnPost: func(b []byte) {
		v, _, _ := amf.DecodeAMF0(b)
		posts <- v
	}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a session with the server's member", func() bool {
		n, err := mb.Neighbors(ctx)
		return err == nil && n == 1
	})
	body, _ := amf.AppendAMF0(nil, "from a member")
	mb.Post(body)
	waitEvent(t, c, "post "+hex.EncodeToString(id[:])+" from a member")
	if got := call(t, c, "post", "from lua"); len(got) != 1 || got[0] != true {
		t.Fatalf("postToGroup returned %v", got)
	}
	select {
	case v := <-posts:
		if v != "from lua" {
			t.Fatalf("the member got %v", v)
		}
	case <-ctx.Done():
		t.Fatal("the member never got the script's post")
	}
}
