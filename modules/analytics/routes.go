package analytics

import (
	"github.com/labstack/echo/v4"
)

// Routes registers every analytics route (openapi.json, tag "analytics"). Every member
// reads; every query is of the token's workspace.
func (m *Module) Routes(v1 *echo.Group) {
	h := &handlers{svc: m.svc}
	g := v1.Group("/analytics", m.authed...)
	g.GET("", h.report)
	g.GET("/agents/:id", h.agent)
	g.GET("/export", h.export)

	v1.GET("/notifications", h.notifications, m.authed...)
}
