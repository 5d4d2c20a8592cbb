package server_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// greeter is an application: it accepts clients that give a name and answers their
// "hello" calls.
type greeter struct{}

func (greeter) OnConnect(c app.Client, args []any) ([]amf.Property, error) {
	if len(args) == 0 {
		return nil, errors.New("who are you?")
	}
	return []amf.Property{{Key: "motd", Value: "welcome"}}, nil
}

func (greeter) OnCall(c app.Client, method string, args []any) ([]any, error) {
	if method != "hello" || len(args) == 0 {
		return nil, app.ErrMethodNotFound
	}
	return []any{fmt.Sprintf("hello, %v", args[0])}, nil
}

// A program embeds the server: it starts a node with its own application on
// rtmfp://host/greeter, and stops it when done.
func Example() {
	sys := actors.NewActorSystem(zap.NewNop())
	defer sys.Shutdown()
	srv, err := server.Start(sys.Root, server.Config{Listen: []string{"127.0.0.1:0"}, RTMP: server.Off, Media: server.Off}, server.Options{
		Apps: app.Static{Apps: map[string]app.Application{"greeter": greeter{}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop(context.Background())

	// A client of this repository connects and calls the application.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := fmt.Sprintf("rtmfp://%s/greeter", srv.Addrs()[0])
	c, err := client.Dial(ctx, sys, url, client.Options{Args: []any{"Ada"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	answer, err := c.Call(ctx, "hello", "Ada")
	fmt.Println(answer, err)
	// Output: [hello, Ada] <nil>
}
