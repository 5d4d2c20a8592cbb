package httpapi

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/netconn"
)

// Publication is one live stream of /v1/publications.
type Publication struct {
	App       string    `json:"app"`
	Name      string    `json:"name"`
	Publisher *Peer     `json:"publisher"` // null while nobody publishes
	Since     time.Time `json:"publishing_since,omitzero"`
	BitRate   float64   `json:"bitrate_bps"` // over the last whole second
	Bytes     uint64    `json:"bytes"`
	Players   []Peer    `json:"players"`
}

// Peer names a client in a publication or a group.
type Peer struct {
	PeerID   string `json:"peer_id,omitempty"`
	Address  string `json:"address,omitempty"`
	Protocol string `json:"protocol,omitempty"`
}

func peerOf(c app.Client) Peer {
	p := Peer{Address: c.Address().String(), Protocol: c.Protocol()}
	if c.Protocol() == app.ProtocolRTMFP {
		p.PeerID = c.PeerID().String()
	}
	return p
}

func (a *api) publications(w http.ResponseWriter, r *http.Request) {
	views := a.srv.PublicationIndex().Views(trimApp(r.URL.Query().Get("app")))
	out := make([]Publication, 0, len(views))
	for _, v := range views {
		p := Publication{App: "/" + v.Key.App, Name: v.Key.Name, BitRate: v.BitRate, Bytes: v.Bytes, Players: []Peer{}}
		if v.Publisher != nil {
			pp := peerOf(v.Publisher)
			p.Publisher, p.Since = &pp, v.Since.UTC()
		}
		for _, c := range v.Players {
			p.Players = append(p.Players, peerOf(c))
		}
		out = append(out, p)
	}
	writeJSON(w, out)
}

// Group is one NetGroup of /v1/groups.
type Group struct {
	ID      string   `json:"id"` // the group specifier's hash, hex
	Members []Member `json:"members"`
}

// Member is one member of a group.
type Member struct {
	PeerID string    `json:"peer_id"`
	Joined time.Time `json:"joined"`
}

func (a *api) groups(w http.ResponseWriter, _ *http.Request) {
	views := a.srv.GroupIndex().Views()
	out := make([]Group, 0, len(views))
	for _, v := range views {
		g := Group{ID: v.ID.String(), Members: make([]Member, len(v.Members))}
		for i, m := range v.Members {
			g.Members[i] = Member{PeerID: m.PeerID.String(), Joined: m.Joined.UTC()}
		}
		out = append(out, g)
	}
	writeJSON(w, out)
}

func zapClient(c *netconn.Connected) []zap.Field {
	return []zap.Field{zap.Uint64("id", c.ID), zap.String("protocol", c.Client.Protocol()), zap.Stringer("addr", c.Client.Address()),
		zap.String("app", "/"+c.Client.Path())}
}
