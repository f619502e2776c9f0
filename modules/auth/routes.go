package auth

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/web"
)

// Routes registers every auth and workspace route (SPEC §5 "Auth and workspace").
func (m *Module) Routes(v1 *echo.Group) {
	h := &handlers{svc: m.svc, secure: m.secure}
	perIP := func(name string, n int, w time.Duration) echo.MiddlewareFunc {
		return web.RateLimit(m.limiter, name, n, w, web.ByIP)
	}
	authed := m.Authenticated()

	a := v1.Group("/auth")
	a.POST("/register", h.register, perIP("register", 5, time.Hour))
	a.POST("/login", h.login, perIP("login", 10, 15*time.Minute))
	a.POST("/refresh", h.refresh, perIP("refresh", 30, 15*time.Minute))
	a.POST("/logout", h.logout)
	a.POST("/accept-invitation", h.acceptInvitation, perIP("accept-invitation", 10, 15*time.Minute))
	a.GET("/me", h.me, authed...)
	a.POST("/switch-workspace", h.switchWorkspace, authed...)

	ws := v1.Group("/workspace", authed...)
	ws.GET("", h.getWorkspace)
	ws.PATCH("", h.updateWorkspace, authn.RequireRole(authn.RoleAdmin))
	ws.GET("/members", h.listMembers)
	ws.POST("/invitations", h.invite, authn.RequireRole(authn.RoleOwner))
	ws.PATCH("/members/:userId", h.updateMember, authn.RequireRole(authn.RoleOwner))
	ws.DELETE("/members/:userId", h.removeMember, authn.RequireRole(authn.RoleOwner))
}

// AuthenticatedQuery is Authenticated that also accepts ?access_token= (EventSource clients
// cannot set headers): only for GET /v1/events.
func (m *Module) AuthenticatedQuery() []echo.MiddlewareFunc {
	c := m.Authenticated()
	c[0] = authn.Middleware(m.issuer, true)
	return c
}

// Authenticated is the middleware chain of every dashboard route: a valid access token, then
// 120 requests per minute per user. Other modules receive it from main.go.
func (m *Module) Authenticated() []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{
		authn.Middleware(m.issuer, false),
		web.RateLimit(m.limiter, "user", 120, time.Minute, func(c echo.Context) string {
			p, _ := authn.Get(c)
			return p.UserID
		}),
	}
}
