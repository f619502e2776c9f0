package channels

import (
	"github.com/labstack/echo/v4"
)

// Routes registers every channels route. MEMBER reads and also replies, hands off and
// resolves: support staff are members (docs/decisions.md).
func (m *Module) Routes(v1 *echo.Group) {
	h := &handlers{svc: m.svc}

	conv := v1.Group("/conversations", m.authed...)
	conv.GET("", h.listConversations)
	conv.GET("/:id", h.getConversation)
	conv.PATCH("/:id", h.patchConversation)
	conv.POST("/:id/messages", h.postMessage)
	conv.POST("/:id/handoff", h.postHandoff)
	conv.GET("/:id/handoffs", h.listHandoffs)

	v1.PATCH("/handoffs/:id", h.patchHandoff, m.authed...)
}
