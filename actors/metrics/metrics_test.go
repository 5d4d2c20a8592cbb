package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/metrics"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// echoApp accepts everyone, echoes "echo" and fails "fail".
type echoApp struct{}

func (echoApp) OnConnect(app.Client, []any) ([]amf.Property, error) { return nil, nil }
func (echoApp) OnDisconnect(app.Client)                             {}
func (echoApp) OnCall(_ app.Client, method string, args []any) ([]any, error) {
	if method == "fail" {
		return nil, errors.New("asked to fail")
	}
	return args, nil
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// scrape reads the node's /metrics as the Prometheus server would.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value returns the value of the metric name with labels (name=value pairs).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

// A run of known size — three clients in both dialects, calls, a publisher with two
// players, two members of a group — and the figures /metrics reports of it.
func TestMetricsOfAKnownRun(t *testing.T) {
	sys := actors.NewActorSystem(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	defer sys.Shutdown()
	cfg := server.Defaults()
	cfg.Listen, cfg.RTMP, cfg.Media, cfg.Shards = []string{"127.0.0.1:0"}, server.Off, server.Off, 2
	srv, err := server.Start(sys.Root, cfg, server.Options{Apps: app.Static{Apps: map[string]app.Application{"live": echoApp{}}}, Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	h := metrics.Handler(srv)
	url := "rtmfp://" + srv.Addrs()[0].String() + "/live"

	var conns []*client.Conn
	for _, d := range []client.Dialect{client.Flash, client.Flash, client.RFC7425} {
		c, err := client.Dial(ctxT(t, 10*time.Second), sys, url, client.Options{Dialect: d})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	const calls = 5
	for _, c := range conns {
		for range calls {
			if _, err := c.Call(ctxT(t, 10*time.Second), "echo", "x"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := conns[0].Call(ctxT(t, 10*time.Second), "fail"); err == nil {
		t.Fatal("fail did not fail")
	}
	pub, err := conns[0].Publish(ctxT(t, 10*time.Second), "cam")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 100)
	for _, c := range conns[1:] {
		if _, err := c.PlayFunc(ctxT(t, 10*time.Second), "cam", func(m client.Media) {
			if m.Type == flash.TypeAudio {
				got <- struct{}{}
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	const media = 10
	for i := range media {
		if err := pub.Write(client.Media{Type: flash.TypeAudio, Timestamp: uint32(i * 20), Data: []byte{0xaf, 0x01, byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 * media {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("the players did not get the media")
		}
	}
	var gid [32]byte
	gid[0] = 7
	for _, c := range conns[1:] {
		if _, err := c.JoinGroup(ctxT(t, 10*time.Second), gid); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for what the run did to be counted (joins land in the group actor after the
	// client's join returns).
	waitFor(t, "the members", func() bool { return value(t, scrape(t, h), "actorrtmfp_group_members") == 2 })

	fams := scrape(t, h)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"actorrtmfp_sessions", nil, 3},
		{"actorrtmfp_clients", []string{"protocol", "rtmfp", "dialect", "flash"}, 2},
		{"actorrtmfp_clients", []string{"protocol", "rtmfp", "dialect", "rfc7425"}, 1},
		{"actorrtmfp_clients", []string{"protocol", "rtmp"}, 0},
		{"actorrtmfp_handshakes_total", []string{"result", "completed"}, 3},
		{"actorrtmfp_connects_total", []string{"result", "accepted"}, 3},
		{"actorrtmfp_application_calls_total", []string{"app", "/live"}, 3*calls + 1},
		{"actorrtmfp_application_errors_total", []string{"app", "/live"}, 1},
		{"actorrtmfp_publications", nil, 1},
		{"actorrtmfp_players", nil, 2},
		{"actorrtmfp_netstreams", nil, 3},
		{"actorrtmfp_media_messages_total", []string{"direction", "in"}, media},
		{"actorrtmfp_groups", nil, 1},
		{"actorrtmfp_group_members", nil, 2},
		{"actorrtmfp_rtt_seconds", nil, 3},
		{"actorrtmfp_datagrams_dropped_total", []string{"reason", "denied"}, 0},
		{"actorrtmfp_build_info", []string{"version", server.Version()}, 1},
	} {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	in, out := value(t, fams, "actorrtmfp_datagrams_total", "direction", "in"), value(t, fams, "actorrtmfp_datagrams_total", "direction", "out")
	bin, bout := value(t, fams, "actorrtmfp_bytes_total", "direction", "in"), value(t, fams, "actorrtmfp_bytes_total", "direction", "out")
	// Every call and media message is a datagram at least; an RTMFP datagram is 20 bytes
	// at least and at most 1,500 or so.
	if in < 3*calls+media || out < 3*calls+2*media || bin < 20*in || bin > 1500*in || bout < 20*out || bout > 1500*out {
		t.Errorf("datagrams in %v out %v, bytes in %v out %v: not what the run sent", in, out, bin, bout)
	}
	if fams["go_goroutines"] == nil || fams["process_cpu_seconds_total"] == nil {
		t.Error("the Go runtime's and the process's collectors are missing")
	}

	// Everyone leaves: the gauges go back to zero.
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "the clients to leave", func() bool {
		fams := scrape(t, h)
		return value(t, fams, "actorrtmfp_clients", "protocol", "rtmfp", "dialect", "flash") == 0 &&
			value(t, fams, "actorrtmfp_players") == 0 && value(t, fams, "actorrtmfp_group_members") == 0
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A scrape between the two counts of an auth refusal (AuthRefused, then ConnectsRejected)
// reports the other rejections as 0, not as a count wrapped around below 0.
func TestRejectedConnectsNeverWrap(t *testing.T) {
	sys := actors.NewActorSystem(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	defer sys.Shutdown()
	cfg := server.Defaults()
	cfg.Listen, cfg.RTMP, cfg.Media, cfg.Shards = []string{"127.0.0.1:0"}, server.Off, server.Off, 1
	srv, err := server.Start(sys.Root, cfg, server.Options{Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	srv.Stats().NetConn.AuthRefused.Add(1) // its ConnectsRejected.Add(1) is still to come
	fams := scrape(t, metrics.Handler(srv))
	if v := value(t, fams, "actorrtmfp_connects_total", "result", "rejected"); v != 0 {
		t.Fatalf("rejected connects = %v mid-count, want 0", v)
	}
	if v := value(t, fams, "actorrtmfp_connects_total", "result", "auth_refused"); v != 1 {
		t.Fatalf("auth-refused connects = %v, want 1", v)
	}
}
