// Command actorrtmfp runs the RTMFP server. It needs no configuration: by default it
// serves UDP port 1935 on every interface, IPv4 and IPv6, and accepts every client.
// Settings come from environment variables with the prefix ACTORRTMFP_; run
// `actorrtmfp --help` for the list. SIGINT or SIGTERM stops it gracefully: every client
// is sent a session close first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"

	"github.com/caarlos0/env/v11"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

const envPrefix = "ACTORRTMFP_"

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr, nil))
}

// run is main with its inputs and outputs made explicit for tests; ready, if not nil,
// receives the server once it listens.
func run(args, environ []string, stdout, stderr io.Writer, ready chan<- *server.Server) int {
	fs := flag.NewFlagSet("actorrtmfp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "actorrtmfp: unexpected argument %q (settings are environment variables; see --help)\n", fs.Arg(0))
		return 2
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		fmt.Fprintf(stderr, "actorrtmfp: %v\n", err)
		return 2
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "actorrtmfp: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	sys := actors.NewActorSystem(log)
	srv, err := server.Start(sys, cfg, server.Options{Log: log})
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		sys.Shutdown()
		return 1
	}
	log.Info("actorrtmfp started", zap.Stringers("addrs", srv.Addrs()), zap.Stringer("peer_id", srv.Endpoints()[0].PeerID()))
	if ready != nil {
		ready <- srv
	}
	sig := <-sigs
	log.Info("stopping: closing every session", zap.Stringer("signal", sig), zap.Int("sessions", srv.Sessions()))
	if err := srv.Stop(context.Background()); err != nil {
		log.Warn("some clients did not acknowledge the close in time", zap.Error(err))
	}
	sys.Shutdown()
	log.Info("stopped")
	return 0
}

// loadConfig reads the configuration from environ (KEY=VALUE strings) and validates it.
// Every error names the variable concerned.
func loadConfig(environ []string) (server.Config, error) {
	var cfg server.Config
	err := env.ParseWithOptions(&cfg, env.Options{Prefix: envPrefix, Environment: env.ToMap(environ)})
	if err != nil {
		var agg env.AggregateError
		if errors.As(err, &agg) && len(agg.Errors) > 0 {
			err = agg.Errors[0]
		}
		var pe env.ParseError
		if errors.As(err, &pe) {
			return cfg, fmt.Errorf("%s%s: %v", envPrefix, envKey(pe.Name), pe.Err)
		}
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// envKey returns the variable name (without prefix) of a Config field.
func envKey(field string) string {
	if f, ok := reflect.TypeOf(server.Config{}).FieldByName(field); ok {
		return f.Tag.Get("env")
	}
	return field
}

// usage prints every variable with its default and meaning.
func usage(w io.Writer) {
	fmt.Fprintf(w, `actorrtmfp — an RTMFP server (Flash Player / AIR and RFC 7016/7425 peers)

Usage: actorrtmfp [--help]

With no settings it serves UDP :1935 (every interface, IPv4 and IPv6) and accepts every
client. Settings are environment variables:

`)
	t := reflect.TypeOf(server.Config{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("env")
		if key == "" {
			continue
		}
		def := f.Tag.Get("envDefault")
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  %s%s (default %s)\n      %s\n", envPrefix, key, def, f.Tag.Get("desc"))
	}
	fmt.Fprintln(w, "\nSIGINT or SIGTERM stops the server after sending every client a session close.")
}

// newLogger builds the zap logger of the configuration.
func newLogger(cfg server.Config, out io.Writer) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.Set(cfg.LogLevel); err != nil {
		return nil, err
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if strings.EqualFold(cfg.LogFormat, "json") {
		enc = zapcore.NewJSONEncoder(encCfg)
	} else {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(out), lvl)), nil
}
