package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/httpapi"
)

// pprofAddr is where ACTORRTMFP_PPROF asks the profiles to be served: a bare ":port"
// means loopback, not every interface as it would for net.Listen — profiles, traces and
// the command line are for the operator of this host.
func pprofAddr(setting string) string {
	if host, port, err := net.SplitHostPort(setting); err == nil && host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return setting
}

// servePprof serves the runtime profiles on addr (pprofAddr of the setting) until the
// returned function is called, and returns the address it listens on. Beyond loopback it
// serves only with a token; with a token, every request must bear it.
func servePprof(setting, token string, log *zap.Logger) (net.Addr, func(), error) {
	ln, err := httpapi.Listen(pprofAddr(setting), token)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: httpapi.Bearer(token, log)(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("profiling endpoint stopped", zap.Error(err))
		}
	}()
	log.Warn("profiling endpoint open", zap.Stringer("addr", ln.Addr()), zap.Bool("token_required", token != ""))
	return ln.Addr(), func() { _ = hs.Close() }, nil
}
