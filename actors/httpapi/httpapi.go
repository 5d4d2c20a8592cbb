// Package httpapi is the operators' HTTP side of a node: a JSON status and admin API
// (/v1/status, /v1/clients, /v1/publications, /v1/groups, DELETE /v1/clients/{id}), the
// health checks (/healthz, /readyz), the Prometheus metrics (/metrics, package metrics)
// and a status page (/) that reads the API. Everything but the health checks and the
// page itself needs the bearer token when one is set (Authorization: Bearer <token>), and
// Listen refuses an address beyond loopback without one.
//
// It reads what the node keeps for operators (server.Server's Clients, PublicationIndex,
// GroupIndex, Stats) when asked; nothing it serves costs the path of a packet anything.
package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/metrics"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

// Options configure the API.
type Options struct {
	// Token, if not empty, is the bearer token every request but the health checks and
	// the page must carry.
	Token string
	// Listen is the address the API is served on, told by /v1/status.
	Listen string
	Log    *zap.Logger
}

// ErrNeedsToken refuses to serve an operator endpoint (the API, the command's profiles)
// beyond loopback without a token.
var ErrNeedsToken = errors.New("serving operator endpoints beyond loopback needs ACTORRTMFP_HTTP_TOKEN")

// Listen listens on addr for an operator endpoint: only on a loopback address unless
// token is set. A host that is not an IP (a name) but localhost counts as beyond loopback.
func Listen(addr, token string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if token == "" && !Loopback(host) {
		return nil, fmt.Errorf("%q: %w", addr, ErrNeedsToken)
	}
	return net.Listen("tcp", addr)
}

// Loopback reports whether host (of a host:port) is a loopback address or "localhost".
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler returns the API, page and metrics of srv.
func Handler(srv *server.Server, o Options) http.Handler {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	a := &api{srv: srv, o: o}
	auth := Bearer(o.Token, o.Log)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /{$}", servePage)
	mux.Handle("GET /metrics", auth(metrics.Handler(srv)))
	mux.Handle("GET /v1/status", auth(http.HandlerFunc(a.status)))
	mux.Handle("GET /v1/clients", auth(http.HandlerFunc(a.clients)))
	mux.Handle("DELETE /v1/clients/{id}", auth(http.HandlerFunc(a.closeClient)))
	mux.Handle("GET /v1/publications", auth(http.HandlerFunc(a.publications)))
	mux.Handle("GET /v1/groups", auth(http.HandlerFunc(a.groups)))
	return mux
}

type api struct {
	srv *server.Server
	o   Options
}

// Bearer returns the gate of the operator endpoints (this API, the command's profiles):
// it lets through only requests with "Authorization: Bearer <token>", or every request
// if token is empty. Refusals are logged, sampled: whoever can reach the port can send
// them at will.
func Bearer(token string, log *zap.Logger) func(http.Handler) http.Handler {
	if token == "" {
		return func(next http.Handler) http.Handler { return next }
	}
	want := []byte("Bearer " + token)
	log = actors.Sampled(log)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
				log.Info("operator endpoint: request without the token refused", zap.String("remote", r.RemoteAddr), zap.String("path", r.URL.Path))
				w.Header().Set("WWW-Authenticate", `Bearer realm="actorrtmfp"`)
				writeError(w, http.StatusUnauthorized, "a bearer token is required (Authorization: Bearer <ACTORRTMFP_HTTP_TOKEN>)")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func (a *api) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 200 while the node serves, 503 once it stopped.
func (a *api) readyz(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-a.srv.Done():
		http.Error(w, "stopped", http.StatusServiceUnavailable)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ready\n"))
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// millis converts a duration to milliseconds with a fraction.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
