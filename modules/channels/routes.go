package channels

import (
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/web"
)

// Routes registers every channels route. MEMBER reads and also replies, hands off and
// resolves: support staff are members (docs/decisions.md).
func (m *Module) Routes(v1 *echo.Group) {
	h := &handlers{svc: m.svc, hooks: m.hooks}

	conv := v1.Group("/conversations", m.authed...)
	conv.GET("", h.listConversations)
	conv.GET("/:id", h.getConversation)
	conv.PATCH("/:id", h.patchConversation)
	conv.POST("/:id/messages", h.postMessage)
	conv.POST("/:id/handoff", h.postHandoff)
	conv.GET("/:id/handoffs", h.listHandoffs)

	v1.PATCH("/handoffs/:id", h.patchHandoff, m.authed...)

	// Channel configuration and integrations (channels_http.go): MEMBER reads, ADMIN writes.
	admin := authn.RequireRole(authn.RoleAdmin)
	ch := v1.Group("/channels", m.authed...)
	ch.GET("", h.listChannels)
	ch.PUT("/:type", h.putChannel, admin)
	authedAdmin := append(slices.Clip(m.authed), admin)
	v1.PUT("/agents/:agentId/channels/:type", h.linkChannel, authedAdmin...)
	v1.DELETE("/agents/:agentId/channels/:type", h.unlinkChannel, authedAdmin...)
	v1.PUT("/integrations/:kind", h.putIntegration, authedAdmin...)

	ch.POST("/:type/test", h.testChannel, admin)

	// The platforms' webhooks (webhooks_http.go): no JWT, no rate limit; the slug names the
	// channel and each platform's signature is verified on the raw body.
	wh := v1.Group("/webhooks/:slug")
	wh.GET("/whatsapp", h.metaChallenge("WHATSAPP"))
	wh.POST("/whatsapp", h.whatsappWebhook)
	wh.GET("/messenger", h.metaChallenge("MESSENGER"))
	wh.POST("/messenger", h.messengerWebhook)
	wh.POST("/telegram", h.telegramWebhook)
	wh.POST("/slack", h.slackWebhook)
	wh.POST("/sms", h.smsWebhook)
	wh.POST("/email", h.emailWebhook)
	wh.POST("/voice", h.voiceWebhook)
	wh.POST("/voice/turn", h.voiceTurnWebhook)

	// Realtime events (platform/realtime): ?conversationId= must be one of the caller's.
	if m.events != nil && len(m.authedQuery) > 0 {
		v1.GET("/events", m.events.Handler(m.svc.AuthorizeConversation), m.authedQuery...)
	}

	// The dashboard's test chat (chat_http.go): 30 a minute per user.
	s := m.surf
	v1.POST("/agents/:id/chat", s.chat, append(m.authed,
		middleware.BodyLimit(chatBodyLimit),
		web.RateLimit(s.Limiter, "chat", 30, time.Minute, userKey))...)

	// The public widget (widget_http.go): no login; CORS from the agent's allowedOrigins
	// (the server-wide CORS skips /v1/widget/); limits per IP, per visitor and per agent.
	perIP := web.RateLimit(s.Limiter, "widget-ip", widgetPerIP, time.Minute, web.ByIP)
	perAgent := web.RateLimit(s.Limiter, "widget-agent", widgetPerAgent, time.Minute, agentKey)
	perVisitor := web.RateLimit(s.Limiter, "widget-visitor", widgetPerVisitor, time.Minute, visitorKey)
	reads := web.RateLimit(s.Limiter, "widget-read", widgetReadPerIP, time.Minute, web.ByIP)
	body := middleware.BodyLimit(widgetBodyLimit)
	w := v1.Group("/widget/:agentId", s.widgetAgent)
	w.GET("/config", s.widgetConfig)
	w.POST("/sessions", s.createSession, body, perIP, perAgent)
	w.POST("/messages", s.postWidgetMessage, body, perIP, s.widgetAuth, perVisitor, perAgent)
	w.GET("/messages", s.widgetHistory, reads, s.widgetAuth)
	paths := []string{"/config", "/sessions", "/messages"}
	if m.events != nil {
		// The session's conversation's events (widget_events.go): human replies appear live.
		w.GET("/events", s.widgetEvents(m.events), reads, s.widgetAuth)
		paths = append(paths, "/events")
	}
	for _, p := range paths {
		w.OPTIONS(p, preflightHandled) // widgetAgent answers preflights
	}
}

// RootRoutes registers the widget script and its demo page, outside /v1 (widget_script.go).
func (m *Module) RootRoutes(e *echo.Echo) {
	e.GET("/widget.js", widgetScript)
	e.GET("/widget/:file", widgetScriptVersioned)
	e.GET("/widget/demo/:agentId", m.surf.widgetDemo)
}
