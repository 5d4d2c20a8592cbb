package cluster

import (
	"net"
	"net/http"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/labstack/echo"
)

// newStaticProvider returns protoactor's automanaged provider over the static member
// list: each member answers GET /_health on the port after its cluster port, and polls
// the others' every TTL; the members that answer, with our cluster's name, are the
// cluster. Its own start would serve the health endpoint on every interface (0.0.0.0)
// and print a banner on stdout: it gets our own listener on the cluster host instead.
// The provider keeps package-level state (mutexes held while it sleeps): one per
// process, which is what a node is.
func newStaticProvider(cfg Config, sys *actor.ActorSystem) (*automanaged.AutoManagedProvider, error) {
	bindHealth, err := HealthAddr(cfg.Bind)
	if err != nil {
		return nil, err
	}
	_, healthPort, _ := net.SplitHostPort(bindHealth)
	port, _ := net.LookupPort("tcp", healthPort)
	hosts := make([]string, 0, len(cfg.Members))
	for _, m := range cfg.Members {
		h, err := HealthAddr(m)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, h)
	}
	ln, err := net.Listen("tcp", bindHealth)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Listener = ln // echo serves a preset listener and ignores the provider's 0.0.0.0
	e.GET("/_health", func(ctx echo.Context) error {
		host, p, err := sys.GetHostPort()
		if err != nil {
			return ctx.NoContent(http.StatusServiceUnavailable)
		}
		return ctx.JSON(http.StatusOK, automanaged.NewNode(cfg.Name, sys.ID, host, p, port, nil))
	})
	return automanaged.NewWithTesting(cfg.TTL, port, e, hosts...), nil
}
