package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"riverqueue.com/riverui"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/web"
)

func runServe(ctx context.Context, o *Options, withWorker bool, role string) error {
	p, err := boot(ctx, o, role, true)
	if err != nil {
		return err
	}
	defer p.close()
	reg, worker, err := p.queue(ctx, o, withWorker)
	if err != nil {
		return err
	}

	e := BuildHTTP(p.deps, reg, p.redisPing(), p.started)
	drain := &web.Drain{}
	e.Pre(drain.Middleware())
	if hub := p.deps.Hub; hub != nil {
		// One LISTEN connection per replica. Its SSE streams never go idle, so the hub closes
		// them as soon as the HTTP shutdown begins (clients reconnect to another replica).
		if err := hub.Start(ctx); err != nil {
			return errf("realtime: cannot LISTEN on %s: %v", realtime.Channel, err)
		}
		defer hub.Close()
		e.Server.RegisterOnShutdown(hub.Close)
	}
	if err := mountQueueUI(e, p, o); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", ":"+strconv.Itoa(p.cfg.Port))
	if err != nil {
		return errf("PORT %d: %v", p.cfg.Port, err)
	}
	e.Listener = ln
	srvErr := make(chan error, 1)
	go func() { srvErr <- e.Start("") }()
	p.log.Info("api listening", "addr", ln.Addr().String(), "withWorker", withWorker, "version", o.Version)

	if worker != nil {
		if err := startWorker(ctx, worker); err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ShutdownTimeout)
			defer cancel()
			return errors.Join(err, e.Shutdown(sctx))
		}
		p.log.Info("workers started")
	}

	select {
	case <-ctx.Done():
	case err := <-srvErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	// The shutdown sequence (docs/operations.md, "Shutdown"): /health fails for the drain
	// while every request is still served, then the listener closes, the realtime hub ends
	// its SSE streams with a retry hint (RegisterOnShutdown above), in-flight requests finish
	// within SHUTDOWN_TIMEOUT, and the in-process workers stop like `work`'s.
	p.log.Info("shutting down", "drain", p.cfg.ShutdownDrain.String(), "timeout", p.cfg.ShutdownTimeout.String())
	drain.Start()
	if p.cfg.ShutdownDrain > 0 {
		select {
		case <-time.After(p.cfg.ShutdownDrain):
		case err := <-srvErr:
			p.log.Error("the server stopped during the drain", "err", err)
		}
	}
	p.log.Info("drained; closing the listener and finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ShutdownTimeout)
	defer cancel()
	err = e.Shutdown(sctx)
	if err != nil {
		p.log.Error("in-flight requests did not finish within SHUTDOWN_TIMEOUT; closing their connections", "err", err)
		_ = e.Close()
	}
	if worker != nil {
		err = errors.Join(err, stopWorker(ctx, p, worker))
	}
	return err
}

// BuildHTTP assembles the echo server: /health first, /openapi.json and /docs, then /v1 with
// every module's routes.
func BuildHTTP(d *kernel.Deps, reg *kernel.Registry, redisPing func(context.Context) error, started time.Time) *echo.Echo {
	o := web.Options{
		Logger: d.Log, FrontendURLs: d.Config.FrontendURL, Production: d.Config.Production(), Limiter: d.Limiter,
		TrustedProxies: d.Config.TrustedProxies,
	}
	if d.Issuer != nil {
		// authn.Authenticated's per-user limit, checked with the per-IP limit in one Redis
		// round trip (docs/performance.md, "The authenticated read").
		o.Prelimits = []web.Prelimit{authn.UserPrelimit(d.Issuer)}
	}
	if d.Metrics != nil {
		o.Observe = d.Metrics.Middleware()
	}
	e := web.New(o)
	checks := []web.Check{
		{Name: "db", Fn: func(ctx context.Context) error { return d.DB.PingContext(ctx) }},
		{Name: "redis", Fn: redisPing},
	}
	for name, c := range reg.Checkers() {
		checks = append(checks, web.Check{Name: name, Fn: c.Check})
	}
	e.GET("/health", web.Health(d.Config.Version, started, checks...))
	web.OpenAPI(e)
	if d.Metrics != nil {
		if user, pass, ok := adminCredentials(d); ok {
			e.GET("/metrics", echo.WrapHandler(d.Metrics.Handler()), basicAuth(user, pass))
		}
	}
	v1 := e.Group("/v1")
	reg.MountRoutes(e, v1)
	return e
}

func (p *process) redisPing() func(context.Context) error {
	if p.redis == nil {
		return nil
	}
	return p.redis.Ping
}

// mountQueueUI serves River UI at /admin/queues behind basic auth. Outside development it is
// absent unless ADMIN_USER and ADMIN_PASSWORD are set.
func mountQueueUI(e *echo.Echo, p *process, o *Options) error {
	user, pass, ok := adminCredentials(p.deps)
	if !ok {
		return nil
	}
	if p.cfg.AdminUser == "" {
		p.log.Info("default: /admin/queues and /metrics use basic auth admin/admin (set ADMIN_USER and ADMIN_PASSWORD)")
	}
	client, err := queue.NewInsertOnly(p.db.DB.DB, nil, p.log)
	if err != nil {
		return err
	}
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(client, nil),
		Logger:    p.log,
		Prefix:    "/admin/queues",
	})
	if err != nil {
		return fmt.Errorf("river ui: %w", err)
	}
	if err := h.Start(context.Background()); err != nil {
		return fmt.Errorf("river ui: %w", err)
	}
	g := e.Group("/admin/queues", basicAuth(user, pass))
	g.Any("", echo.WrapHandler(h))
	g.Any("/*", echo.WrapHandler(h))
	return nil
}

// adminCredentials are the basic-auth credentials of /admin/queues and /metrics:
// ADMIN_USER/ADMIN_PASSWORD, or admin/admin in development; outside development both routes
// are absent when they are unset.
func adminCredentials(d *kernel.Deps) (user, pass string, ok bool) {
	user, pass = d.Config.AdminUser, d.Config.AdminPassword
	if user != "" && pass != "" {
		return user, pass, true
	}
	if d.Config.Development() {
		return "admin", "admin", true
	}
	return "", "", false
}

func basicAuth(user, pass string) echo.MiddlewareFunc {
	return middleware.BasicAuth(func(u, pw string, _ echo.Context) (bool, error) {
		return constantEq(u, user) && constantEq(pw, pass), nil
	})
}
