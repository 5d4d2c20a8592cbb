// Command actorrtmfp runs the RTMFP server. It needs no configuration: by default it
// serves RTMFP on UDP port 1935 and RTMP on TCP port 1935, on every interface, IPv4 and
// IPv6, with the Lua applications of a www folder in the working directory
// (docs/applications.md), or, without one, accepts every client.
// Settings come from environment variables with the prefix ACTORRTMFP_; run
// `actorrtmfp --help` for the list. SIGINT or SIGTERM stops it gracefully: every client
// is sent a session close first; SIGHUP rereads the access lists. ACTORRTMFP_HTTP serves
// the operators' status API, page and metrics (package httpapi).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/luaapp"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr, nil))
}

// run is main with its inputs and outputs made explicit for tests; ready, if not nil,
// receives the server once it listens.
func run(args, environ []string, stdout, stderr io.Writer, ready chan<- *server.Server) int {
	fs := flag.NewFlagSet("actorrtmfp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // --help is answered below, once, on stdout
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return 0
		}
		fmt.Fprintln(stderr, "actorrtmfp: see --help")
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "actorrtmfp", server.Version())
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "actorrtmfp: unexpected argument %q (settings are environment variables; see --help)\n", fs.Arg(0))
		return 2
	}
	st, err := loadSettings(environ)
	if err != nil {
		fmt.Fprintf(stderr, "actorrtmfp: %v\n", err)
		return 2
	}
	cfg := st.Config
	log, err := newLogger(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "actorrtmfp: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	if st.PProf != "" {
		_, stopPprof, err := servePprof(st.PProf, st.HTTPToken, log)
		if err != nil {
			fmt.Fprintf(stderr, "actorrtmfp: %sPPROF: %v\n", envPrefix, err)
			return 2
		}
		defer stopPprof()
	}

	apps, appsDesc, closeApps, err := applications(st, environ, log)
	if err != nil {
		fmt.Fprintf(stderr, "actorrtmfp: %v\n", err)
		return 2
	}
	defer closeApps()

	sys := actors.NewActorSystem(log)
	// A node that finds itself dropped from its cluster exits (status 1): restarted by its
	// supervisor, it rejoins as a new member.
	lost := make(chan string, 1)
	srv, err := server.Start(sys.Root, cfg, server.Options{Log: log, Apps: apps, ClusterLost: func(reason string) {
		select {
		case lost <- reason:
		default:
		}
	}})
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		sys.Shutdown()
		return 1
	}
	var httpAddr net.Addr
	if st.HTTP != "" {
		addr, stopHTTP, err := serveHTTP(st, srv, log)
		if err != nil {
			log.Error("cannot serve the HTTP API", zap.String("setting", envPrefix+"HTTP"), zap.Error(err))
			_ = srv.Stop(context.Background())
			sys.Shutdown()
			return 1
		}
		httpAddr = addr
		defer stopHTTP()
	}
	fields := []zap.Field{zap.String("version", server.Version()), zap.Stringers("addrs", srv.Addrs()),
		zap.Stringers("rtmp", srv.RTMPAddrs()), zap.Stringers("rtmps", srv.RTMPSAddrs()), zap.Any("http", httpAddr),
		zap.Stringer("peer_id", srv.Endpoints()[0].PeerID()), zap.String("applications", appsDesc)}
	if id := srv.ClusterMember(); id != "" {
		fields = append(fields, zap.String("cluster_member", id))
	}
	log.Info("actorrtmfp started", fields...)
	// Every socket listens: systemd (Type=notify) may start what depends on us.
	sd := newNotifier(environ)
	if err := sd.notify("READY=1\nSTATUS=serving"); err != nil {
		log.Warn("cannot tell systemd the server is ready (NOTIFY_SOCKET)", zap.Error(err))
	}
	if ready != nil {
		ready <- srv
	}
	code := 0
wait:
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(srv, sd, log)
				continue
			}
			log.Info("stopping: closing every session", zap.Stringer("signal", sig), zap.Int("sessions", srv.Sessions()))
			break wait
		case reason := <-lost:
			log.Error("stopping: no longer a member of the cluster", zap.String("reason", reason), zap.Int("sessions", srv.Sessions()))
			code = 1
			break wait
		}
	}
	_ = sd.notify("STOPPING=1")
	if err := srv.Stop(context.Background()); err != nil {
		log.Warn("some clients did not acknowledge the close in time", zap.Error(err))
	}
	sys.Shutdown()
	log.Info("stopped")
	return code
}

// reload rereads what can be reread without dropping a client: the access lists (DENY and
// ALLOW files, AUTH_FILE). A list that does not load keeps what it had.
func reload(srv *server.Server, sd notifier, log *zap.Logger) {
	_ = sd.notify("RELOADING=1")
	if err := srv.Reload(); err != nil {
		log.Error("SIGHUP: the access lists did not reload; those in force stay", zap.Error(err))
	} else {
		log.Info("SIGHUP: access lists reloaded", zap.Int("sessions", srv.Sessions()))
	}
	_ = sd.notify("READY=1\nSTATUS=serving")
}

// applications is the command's registry of applications: the Lua applications of the
// ACTORRTMFP_APPS folder, or, when the default folder is not there, every client accepted
// (app.Everyone). A folder named explicitly must exist.
func applications(st settings, environ []string, log *zap.Logger) (app.Registry, string, func(), error) {
	explicit := false
	for _, kv := range environ {
		if strings.HasPrefix(kv, envPrefix+"APPS=") {
			explicit = true
		}
	}
	if fi, err := os.Stat(st.Apps); err != nil || !fi.IsDir() {
		if explicit {
			return nil, "", nil, fmt.Errorf("%sAPPS=%q is not a folder", envPrefix, st.Apps)
		}
		return app.Everyone(), "every client accepted (no " + st.Apps + " folder)", func() {}, nil
	}
	reg, err := luaapp.New(luaapp.Config{Root: st.Apps, CallTimeout: st.LuaCallTimeout, Memory: int64(st.LuaMemory),
		Configs: st.configs(), Log: log})
	if err != nil {
		return nil, "", nil, fmt.Errorf("%sAPPS=%q: %w", envPrefix, st.Apps, err)
	}
	abs, _ := filepath.Abs(st.Apps)
	return reg, "Lua applications of " + abs, func() { _ = reg.Close() }, nil
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
