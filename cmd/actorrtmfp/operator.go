package main

import (
	"errors"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/httpapi"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

// serveHTTP serves the operators' API, page and metrics (ACTORRTMFP_HTTP) until the
// returned function is called, and returns the address it listens on.
func serveHTTP(st settings, srv *server.Server, log *zap.Logger) (net.Addr, func(), error) {
	ln, err := httpapi.Listen(st.HTTP, st.HTTPToken)
	if err != nil {
		return nil, nil, err
	}
	hs := &http.Server{Handler: httpapi.Handler(srv, httpapi.Options{Token: st.HTTPToken, Listen: ln.Addr().String(), Log: log}),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("the HTTP API stopped", zap.Error(err))
		}
	}()
	log.Info("HTTP API, status page and metrics", zap.String("url", "http://"+ln.Addr().String()+"/"), zap.Bool("token_required", st.HTTPToken != ""))
	return ln.Addr(), func() { _ = hs.Close() }, nil
}
