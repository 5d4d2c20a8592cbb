// Command actorrtmfp-example is what a program that embeds the server writes: a Go
// application (package app) serves rtmfp://host/go, and the Lua applications of a www
// folder (package luaapp) serve every other path of the same server. Its Go application
// answers echo(...) with its arguments, the method docs/benchmarks.md compares a Lua
// application's echo with.
//
// It reads the server's settings from the same ACTORRTMFP_ variables as actorrtmfp
// (ACTORRTMFP_APPS names the www folder, default www) and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/caarlos0/env/v11"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/luaapp"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// echo is the Go application: every call of echo is answered with its arguments.
type echo struct{}

func (echo) OnConnect(app.Client, []any) ([]amf.Property, error) { return nil, nil }

func (echo) OnCall(_ app.Client, method string, args []any) ([]any, error) {
	if method == "echo" {
		return args, nil
	}
	return nil, app.ErrMethodNotFound
}

// applications serves path "go" with the Go application, the others with the Lua
// applications of folder.
func applications(folder string, log *zap.Logger) (luaapp.Overlay, error) {
	lua, err := luaapp.New(luaapp.Config{Root: folder, Log: log})
	if err != nil {
		return luaapp.Overlay{}, err
	}
	return luaapp.Overlay{Registry: lua, Apps: map[string]app.Application{"go": echo{}}}, nil
}

func main() {
	var cfg server.Config
	if err := env.ParseWithOptions(&cfg, env.Options{Prefix: "ACTORRTMFP_"}); err != nil {
		fmt.Fprintln(os.Stderr, "actorrtmfp-example:", err)
		os.Exit(2)
	}
	folder := os.Getenv("ACTORRTMFP_APPS")
	if folder == "" {
		folder = "www"
	}
	log, _ := zap.NewProduction()
	defer func() { _ = log.Sync() }()

	apps, err := applications(folder, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "actorrtmfp-example:", err)
		os.Exit(2)
	}
	defer apps.Close()

	sys := actors.NewActorSystem(log)
	srv, err := server.Start(sys.Root, cfg, server.Options{Apps: apps, Log: log})
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		os.Exit(1)
	}
	log.Info("actorrtmfp-example started", zap.Stringers("addrs", srv.Addrs()))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	_ = srv.Stop(context.Background())
	sys.Shutdown()
}
