package agents

import (
	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/authn"
)

// Routes registers every agents route (openapi.json, tag "agents"). MEMBER reads; ADMIN
// writes.
func (m *Module) Routes(v1 *echo.Group) {
	h := &handlers{svc: m.svc}
	admin := authn.RequireRole(authn.RoleAdmin)

	g := v1.Group("/agents", m.authed...)
	g.GET("", h.list)
	g.POST("", h.create, admin)
	g.GET("/:id", h.get)
	g.PATCH("/:id", h.update, admin)
	g.DELETE("/:id", h.delete, admin)
	g.GET("/:id/widget", h.getWidget)
	g.PATCH("/:id/widget", h.patchWidget, admin)
}
