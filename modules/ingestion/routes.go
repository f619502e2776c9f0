package ingestion

import (
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/storage"
)

// Routes registers the knowledge and storage routes (openapi.json, tag "ingestion").
// Members read; admins manage. The local upload route exists only with the local store;
// its presigned signature is its authorisation, and its body may reach 25 MB (the global
// 2 MB body limit must skip storage.LocalRoutePrefix).
func (m *Module) Routes(v1 *echo.Group) {
	h := &handlers{svc: m.svc}
	admin := authn.RequireRole(authn.RoleAdmin)

	k := v1.Group("/agents/:agentId/knowledge", m.authed...)
	k.GET("", h.list)
	k.POST("", h.create, admin)
	k.POST("/search", h.search)
	k.GET("/:id", h.get)
	k.PATCH("/:id", h.update, admin)
	k.DELETE("/:id", h.delete, admin)
	k.POST("/:id/reindex", h.reindex, admin)

	v1.POST("/storage/presign", h.presign, append(slices.Clone(m.authed), admin)...)
	if m.local != nil {
		v1.PUT(strings.TrimPrefix(storage.LocalRoutePrefix, "/v1")+"*", h.localPut)
	}
}
