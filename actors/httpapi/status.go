package httpapi

import (
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

// Status is /v1/status.
type Status struct {
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	Uptime    float64   `json:"uptime_seconds"`
	Listen    Addresses `json:"listen"`
	Node      Node      `json:"node"`
	Counts    Counts    `json:"counts"`
}

// Addresses are the addresses the node serves.
type Addresses struct {
	RTMFP []string `json:"rtmfp"`
	RTMP  []string `json:"rtmp"`
	RTMPS []string `json:"rtmps"`
	HTTP  string   `json:"http,omitempty"`
}

// Node names the node.
type Node struct {
	Host   string `json:"host"`
	PeerID string `json:"peer_id"` // the server's RTMFP peer ID (of its first socket)
}

// Counts are what the node holds now.
type Counts struct {
	Sessions     int `json:"sessions"` // RTMFP sessions, connected or not yet
	Clients      int `json:"clients"`  // connected clients, RTMFP and RTMP
	RTMP         int `json:"rtmp_connections"`
	Publications int `json:"publications"` // with a publisher
	Players      int `json:"players"`
	Groups       int `json:"groups"`
	Members      int `json:"group_members"`
	NetStreams   int `json:"netstreams"`
}

func strs(as []netip.AddrPort) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func (a *api) status(w http.ResponseWriter, _ *http.Request) {
	srv := a.srv
	host, _ := os.Hostname()
	st := Status{
		Version: server.Version(), StartedAt: srv.StartedAt().UTC(), Uptime: time.Since(srv.StartedAt()).Seconds(),
		Listen: Addresses{RTMFP: strs(srv.Addrs()), RTMP: strs(srv.RTMPAddrs()), RTMPS: strs(srv.RTMPSAddrs()), HTTP: a.o.Listen},
		Node:   Node{Host: host},
	}
	if eps := srv.Endpoints(); len(eps) > 0 {
		st.Node.PeerID = eps[0].PeerID().String()
	}
	c := &st.Counts
	c.Sessions, c.Clients = srv.Sessions(), srv.Clients().Len()
	c.RTMP = int(srv.Stats().RTMP.Active.Load())
	c.Publications, c.Players = srv.PublicationIndex().Counts()
	c.Groups, c.Members = srv.GroupIndex().Counts()
	c.NetStreams = int(srv.Stats().NetConn.Streams.Load())
	writeJSON(w, st)
}
