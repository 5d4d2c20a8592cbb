package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/netconn"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
)

// ClientList is /v1/clients: a page of the connected clients, in order of connection.
type ClientList struct {
	Total   int      `json:"total"` // clients (of the application asked) in all
	Offset  int      `json:"offset"`
	Limit   int      `json:"limit"`
	Clients []Client `json:"clients"`
}

// Client is one connected client.
type Client struct {
	ID           uint64    `json:"id"` // DELETE /v1/clients/{id} closes it
	SessionID    uint32    `json:"session_id"`
	PeerID       string    `json:"peer_id,omitempty"` // RTMFP only
	Address      string    `json:"address"`
	Protocol     string    `json:"protocol"`          // rtmfp, rtmp, rtmps
	Dialect      string    `json:"dialect,omitempty"` // RTMFP: flash or rfc7425
	App          string    `json:"app"`
	FlashVersion string    `json:"flash_version,omitempty"`
	Since        time.Time `json:"connected_since"`
	RTT          float64   `json:"rtt_ms"` // RTMFP: the smoothed round-trip time (4-ms ticks)
	BytesIn      uint64    `json:"bytes_in"`
	BytesOut     uint64    `json:"bytes_out"`
}

// The page size of /v1/clients: by default, and at most.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// trafficWait bounds how long a listing waits for its clients' sessions to say their
// bytes (a session busy with a flood answers late; its bytes are then left at 0).
const trafficWait = time.Second

func (a *api) clients(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit := 0, defaultLimit
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "offset: want a number ≥ 0")
			return
		}
		offset = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, "limit: want 1-"+strconv.Itoa(maxLimit))
			return
		}
		limit = n
	}
	appPath := trimApp(q.Get("app"))
	page, total := a.srv.Clients().List(appPath, offset, limit)
	out := ClientList{Total: total, Offset: offset, Limit: limit, Clients: make([]Client, len(page))}
	var wg sync.WaitGroup
	root := a.srv.ActorSystem().Root
	for i, c := range page {
		out.Clients[i] = describe(c)
		wg.Add(1)
		go func(cl *Client, c *netconn.Connected) {
			defer wg.Done()
			res, err := root.RequestFuture(c.Transport, &session.QueryTraffic{}, trafficWait).Result()
			if t, ok := res.(*session.Traffic); ok && err == nil {
				cl.BytesIn, cl.BytesOut = t.In, t.Out
			}
		}(&out.Clients[i], c)
	}
	wg.Wait()
	writeJSON(w, out)
}

// trimApp lets ?app= name an application with or without its leading slash.
func trimApp(s string) string {
	for len(s) > 0 && s[0] == '/' {
		s = s[1:]
	}
	return s
}

func describe(c *netconn.Connected) Client {
	cl := c.Client
	out := Client{
		ID: c.ID, SessionID: cl.SessionID(), Address: cl.Address().String(), Protocol: cl.Protocol(), Dialect: c.Dialect,
		App: "/" + cl.Path(), FlashVersion: c.FlashVer, Since: c.Since.UTC(),
	}
	if cl.Protocol() == app.ProtocolRTMFP {
		out.PeerID = cl.PeerID().String()
	}
	if p, ok := cl.(app.Pinger); ok {
		out.RTT = millis(p.Ping())
	}
	return out
}

// closeClient closes a client: an RTMFP client is sent a session close, an RTMP client's
// connection ends after what was queued for it.
func (a *api) closeClient(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "id: want the id of /v1/clients")
		return
	}
	c := a.srv.Clients().Get(id)
	if c == nil {
		writeError(w, http.StatusNotFound, "no connected client has this id")
		return
	}
	c.Client.Close()
	a.o.Log.Info("client closed through the HTTP API", zapClient(c)...)
	w.WriteHeader(http.StatusNoContent)
}
