package luaapp

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strconv"

	lua "github.com/yuin/gopher-lua"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// maxRedirect bounds the addresses a script may return (an RTMFP redirect holds a few).
const maxRedirect = 16

// onHandshake runs onHandshake(address, path, properties, attempts) and returns the
// addresses it redirects the client to (none: the handshake goes on).
func (a *App) onHandshake(h app.Handshake) []netip.AddrPort {
	st := a.cur
	if st == nil {
		return nil
	}
	L := st.L
	props := L.CreateTable(0, len(h.Query))
	for k, vs := range h.Query {
		if len(vs) > 0 {
			props.RawSetString(k, lua.LString(vs[0]))
		}
	}
	results, found, err := a.event(st, "onHandshake", lua.MultRet,
		lua.LString(h.Address.String()), lua.LString(pathName(h.Path)), props, lua.LNumber(h.Attempt))
	if !found || err != nil {
		return nil
	}
	return a.addresses(results, urlHost(h.URL))
}

// onRendezvousUnknown runs onRendezVousUnknown(peerIdRaw) (the 32 raw bytes of the peer
// ID) and returns the addresses it gives.
func (a *App) onRendezvousUnknown(peer cryptoutil.PeerID) []netip.AddrPort {
	st := a.cur
	if st == nil {
		return nil
	}
	results, found, err := a.event(st, "onRendezVousUnknown", lua.MultRet, lua.LString(peer[:]))
	if !found || err != nil {
		return nil
	}
	return a.addresses(results, "")
}

// addresses reads what onHandshake and onRendezVousUnknown return: "host:port" strings
// ("again": the host and port of the client's URL) and tables of them, nested. Host
// names are resolved (on this application's actor, bounded by the call budget); bad
// entries are logged and skipped.
func (a *App) addresses(vs []lua.LValue, again string) []netip.AddrPort {
	var out []netip.AddrPort
	var walk func(v lua.LValue, depth int)
	walk = func(v lua.LValue, depth int) {
		if len(out) >= maxRedirect || depth > 8 {
			return
		}
		switch x := v.(type) {
		case lua.LString:
			s := string(x)
			if s == "again" {
				s = again
			}
			if ap, ok := a.resolve(s); ok {
				out = append(out, ap)
			} else {
				a.log.Warn("not an address to redirect to: skipped", zap.String("value", string(x)))
			}
		case *lua.LTable:
			for i := 1; i <= x.Len(); i++ {
				walk(x.RawGetInt(i), depth+1)
			}
		case *lua.LNilType:
		default:
			a.log.Warn("not an address to redirect to: skipped", zap.String("type", v.Type().String()))
		}
	}
	for _, v := range vs {
		walk(v, 0)
	}
	return out
}

// resolve reads "ip:port" or "host:port" (the default port 1935 if none).
func (a *App) resolve(s string) (netip.AddrPort, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = s, "1935"
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || host == "" {
		return netip.AddrPort{}, false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), uint16(p)), true
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.reg.cfg.CallTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(p)), true
}

// urlHost is the host:port of a connection URL.
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
