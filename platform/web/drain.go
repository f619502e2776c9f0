package web

import (
	"net/http"
	"sync/atomic"

	"github.com/labstack/echo/v4"
)

// Drain is a serve replica's readiness during shutdown. Until Start it does nothing. After
// Start, GET /health answers 503 {"status":"draining"} without running its checks, so the
// load balancer stops sending new requests to this replica, while every other route keeps
// answering; and every response carries "Connection: close", so clients open their next
// request on a new connection (to another replica) instead of reusing one that the listener's
// close would later cut. serve calls Start on SIGTERM and closes the listener SHUTDOWN_DRAIN
// later (docs/operations.md, "Shutdown").
type Drain struct{ on atomic.Bool }

// Start begins the drain; it is idempotent.
func (d *Drain) Start() { d.on.Store(true) }

// Draining reports whether Start was called.
func (d *Drain) Draining() bool { return d.on.Load() }

// Middleware applies the drain; register it with echo's Pre so it sees /health before
// routing.
func (d *Drain) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !d.on.Load() {
				return next(c)
			}
			h := c.Response().Header()
			h.Set(echo.HeaderConnection, "close")
			if c.Request().URL.Path == "/health" {
				h.Set("Cache-Control", "no-store")
				return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "draining", "checks": map[string]string{}})
			}
			return next(c)
		}
	}
}
