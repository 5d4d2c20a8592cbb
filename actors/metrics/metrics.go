// Package metrics exposes a node's counters to Prometheus (github.com/prometheus/
// client_golang). The collector reads, at each scrape, the counters the server keeps
// anyway — endpoint, session, Flash-layer, publication, group, rendezvous, RTMP and
// application counters — and the operators' tables (clients, publications, groups): it
// adds nothing to the path of a packet. A scrape costs one pass over those tables.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/apphost"
	"github.com/actorrtmfp/actorrtmfp/actors/netconn"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

// Handler returns the /metrics handler of srv: the node's collector and the Go runtime's
// and process's own.
func Handler(srv *server.Server) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(srv), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Collector is the node's prometheus.Collector.
type Collector struct{ srv *server.Server }

// New returns the collector of srv.
func New(srv *server.Server) *Collector { return &Collector{srv: srv} }

const ns = "actorrtmfp"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(ns+"_"+name, help, labels, nil)
}

// The metrics, by concern. Counters end in _total; the rest are gauges, but for the RTT
// histogram.
var (
	dBuild     = desc("build_info", "The server's version (label), always 1.", "version")
	dUptime    = desc("uptime_seconds", "Seconds since the node started.")
	dSessions  = desc("sessions", "RTMFP sessions open (including those not connected yet).")
	dClients   = desc("clients", "Connected clients by protocol and, for RTMFP, dialect.", "protocol", "dialect")
	dHandshake = desc("handshakes_total", "RTMFP handshakes: completed (a session opened) or refused, by reason.", "result")
	dDatagrams = desc("datagrams_total", "UDP datagrams received and sent.", "direction")
	dBytes     = desc("bytes_total", "UDP payload bytes received and sent.", "direction")
	dDrops     = desc("datagrams_dropped_total", "Datagrams dropped before reaching a session, by reason.", "reason")
	dRetrans   = desc("retransmissions_total", "Fragments declared lost (by negative acknowledgements or timeout) and resent.")
	dResent    = desc("fragments_resent_total", "Fragments sent again.")
	dSessEnd   = desc("sessions_closed_total", "Sessions ended, by why (idle timeout, retransmission limit; others: closed).", "reason")
	dRTT       = desc("rtt_seconds", "Smoothed round-trip time of the connected RTMFP clients, as measured now (0 until measured; RTMFP's timestamps tick every 4 ms).")
	dStreams   = desc("netstreams", "NetStreams open.")
	dFlowsRej  = desc("flows_rejected_total", "Receive flows the server rejected.")
	dPubs      = desc("publications", "Live publications with a publisher.")
	dPlayers   = desc("players", "Players of live publications.")
	dMedia     = desc("media_messages_total", "Media messages received from publishers, and sent to subscribers' sinks.", "direction")
	dGroups    = desc("groups", "NetGroups.")
	dMembers   = desc("group_members", "Members of NetGroups.")
	dGroupJoin = desc("group_joins_total", "NetGroup joins, by result.", "result")
	dRendez    = desc("rendezvous_lookups_total", "P2P rendezvous lookups, by result (found: introduced; unknown; redirected by an application; limited: over the per-address rate).", "result")
	dConnects  = desc("connects_total", "NetConnection connects, by result.", "result")
	dCalls     = desc("application_calls_total", "Client calls handled by each application.", "app")
	dCallErrs  = desc("application_errors_total", "Client calls answered with an error, by application.", "app")
	dAppPanics = desc("application_panics_total", "Application handlers that panicked.")
	dRTMP      = desc("rtmp_connections", "RTMP and RTMPS connections open.")
	dRTMPTotal = desc("rtmp_connections_total", "RTMP and RTMPS connections, by result.", "result")
	dEvents    = desc("event_lines_left_out_total", "Event log lines left out by its rate limit.")
)

// rttBuckets are the upper bounds of the RTT histogram, in seconds.
var rttBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dBuild, dUptime, dSessions, dClients, dHandshake, dDatagrams, dBytes, dDrops, dRetrans, dResent,
		dSessEnd, dRTT, dStreams, dFlowsRej, dPubs, dPlayers, dMedia, dGroups, dMembers, dGroupJoin, dRendez, dConnects, dCalls, dCallErrs,
		dAppPanics, dRTMP, dRTMPTotal, dEvents} {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

// minus is a - b, or 0 if b is more: a counter that another counts within, read while
// both are being incremented.
func minus(a, b uint64) uint64 { return a - min(a, b) }

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	srv := c.srv
	gauge(ch, dBuild, 1, server.Version())
	gauge(ch, dUptime, time.Since(srv.StartedAt()).Seconds())
	gauge(ch, dSessions, float64(srv.Sessions()))
	c.collectEndpoints(ch)
	c.collectClients(ch)
	st := srv.Stats()
	gauge(ch, dStreams, float64(st.NetConn.Streams.Load()))
	pubs, players := srv.PublicationIndex().Counts()
	gauge(ch, dPubs, float64(pubs))
	gauge(ch, dPlayers, float64(players))
	counter(ch, dMedia, st.Live.Media.Load(), "in")
	counter(ch, dMedia, st.Live.Fanout.Load(), "out")
	groups, members := srv.GroupIndex().Counts()
	gauge(ch, dGroups, float64(groups))
	gauge(ch, dMembers, float64(members))
	counter(ch, dGroupJoin, st.Groups.Joins.Load(), "answered")
	counter(ch, dGroupJoin, st.Groups.Refused.Load(), "refused")
	r := &st.Rendezvous
	counter(ch, dRendez, r.Introductions.Load(), "found")
	counter(ch, dRendez, r.Unknown.Load(), "unknown")
	counter(ch, dRendez, r.Redirected.Load(), "redirected")
	counter(ch, dRendez, r.Limited.Load(), "limited")
	counter(ch, dConnects, st.NetConn.ConnectsAccepted.Load(), "accepted")
	// An auth refusal counts in AuthRefused, then in ConnectsRejected: a scrape between
	// the two must not take one from the other and wrap around.
	authRefused := st.NetConn.AuthRefused.Load()
	counter(ch, dConnects, minus(st.NetConn.ConnectsRejected.Load(), authRefused), "rejected")
	counter(ch, dConnects, authRefused, "auth_refused")
	st.Apps.EachApp(func(path string, a *apphost.AppCounters) {
		counter(ch, dCalls, a.Calls.Load(), "/"+path)
		counter(ch, dCallErrs, a.Errors.Load(), "/"+path)
	})
	counter(ch, dAppPanics, st.Apps.Panics.Load())
	gauge(ch, dRTMP, float64(st.RTMP.Active.Load()))
	counter(ch, dRTMPTotal, st.RTMP.Accepted.Load(), "accepted")
	counter(ch, dRTMPTotal, st.RTMP.Refused.Load(), "refused")
	counter(ch, dRTMPTotal, st.RTMP.HandshakeErrors.Load(), "handshake_error")
	counter(ch, dEvents, srv.Events().LeftOut())
}

// collectEndpoints sums the counters of every socket.
func (c *Collector) collectEndpoints(ch chan<- prometheus.Metric) {
	var (
		in, out, bytesIn, bytesOut, opened, retrans, resent, idle, rto, closed, rejected uint64
		refused                                                                          = map[string]uint64{}
		drops                                                                            = map[string]uint64{}
	)
	for _, e := range c.srv.Endpoints() {
		s, ss := &e.Stats, &e.SessionStats
		in += s.DatagramsIn.Load()
		out += s.DatagramsOut.Load()
		bytesIn += s.BytesIn.Load()
		bytesOut += s.BytesOut.Load()
		opened += ss.Opened.Load()
		closed += ss.Closed.Load()
		retrans += ss.Retransmissions.Load()
		resent += ss.FragmentsResent.Load()
		idle += ss.IdleTimeouts.Load()
		rto += ss.RetransmitTimeouts.Load()
		rejected += ss.RejectedFlows.Load()
		for reason, v := range map[string]uint64{
			"bad_cookie": s.BadCookie.Load(), "stale_cookie": s.StaleCookie.Load(), "cookie_address": s.CookieAddress.Load(),
			"cookie_reused": s.CookieReused.Load(), "bad_keying": s.BadKeying.Load(), "session_limit": s.SessionLimit.Load(),
			"unknown_peer": s.UnknownPeer.Load(),
		} {
			refused[reason] += v
		}
		for reason, v := range map[string]uint64{
			"overload": s.DropOverload.Load(), "oversize": s.DropOversize.Load(), "short": s.DropShort.Load(),
			"bad_length": s.DropBadLength.Load(), "bad_checksum": s.DropBadChecksum.Load(), "bad_hmac": s.DropBadHMAC.Load(),
			"replay": s.DropReplay.Load(), "bad_sequence": s.DropBadSequence.Load(), "malformed": s.DropMalformed.Load(),
			"malformed_chunk": s.DropMalformedChunk.Load() + ss.DropMalformedChunk.Load(), "unknown_session": s.DropUnknownSession.Load(),
			"banned": s.DropBanned.Load(), "denied": s.DropDenied.Load(),
		} {
			drops[reason] += v
		}
	}
	counter(ch, dDatagrams, in, "in")
	counter(ch, dDatagrams, out, "out")
	counter(ch, dBytes, bytesIn, "in")
	counter(ch, dBytes, bytesOut, "out")
	counter(ch, dHandshake, opened, "completed")
	for reason, v := range refused {
		counter(ch, dHandshake, v, "refused_"+reason)
	}
	for reason, v := range drops {
		counter(ch, dDrops, v, reason)
	}
	counter(ch, dRetrans, retrans)
	counter(ch, dResent, resent)
	counter(ch, dSessEnd, idle, "idle")
	counter(ch, dSessEnd, rto, "retransmit_limit")
	counter(ch, dSessEnd, minus(closed, idle+rto), "closed")
	counter(ch, dFlowsRej, rejected)
}

// collectClients counts the connected clients by protocol and dialect and builds the
// histogram of their smoothed round-trip times.
func (c *Collector) collectClients(ch chan<- prometheus.Metric) {
	type kind struct{ protocol, dialect string }
	counts := map[kind]int{{app.ProtocolRTMFP, "flash"}: 0, {app.ProtocolRTMFP, "rfc7425"}: 0, {app.ProtocolRTMP, ""}: 0, {app.ProtocolRTMPS, ""}: 0}
	buckets := make(map[float64]uint64, len(rttBuckets))
	var n uint64
	var sum float64
	c.srv.Clients().Each(func(cl *netconn.Connected) {
		counts[kind{cl.Client.Protocol(), cl.Dialect}]++
		p, ok := cl.Client.(app.Pinger)
		if !ok || cl.Client.Protocol() != app.ProtocolRTMFP {
			return
		}
		// 0 until measured, and below RTMFP's 4-ms timestamp tick (loopback).
		rtt := p.Ping().Seconds()
		n++
		sum += rtt
		for _, b := range rttBuckets {
			if rtt <= b {
				buckets[b]++
			}
		}
	})
	for k, v := range counts {
		gauge(ch, dClients, float64(v), k.protocol, k.dialect)
	}
	ch <- prometheus.MustNewConstHistogram(dRTT, n, sum, buckets)
}
