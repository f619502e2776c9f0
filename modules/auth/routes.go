package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/web"
)

// Routes registers every auth and workspace route.
func (m *Module) Routes(v1 *echo.Group) {
	h := &handlers{
		svc: m.svc, secure: m.secure,
		// Failed logins per account (lower-cased e-mail), next to the per-IP limit: spreading
		// guesses over many addresses does not buy more guesses at one password.
		loginFailures: web.FailureLimit{Limiter: m.limiter, Name: "login-account", Limit: 10, Window: 15 * time.Minute},
	}
	perIP := func(name string, n int, w time.Duration) echo.MiddlewareFunc {
		return web.RateLimit(m.limiter, name, n, w, web.ByIP)
	}
	authed := m.authenticated()

	a := v1.Group("/auth")
	a.POST("/register", h.register, perIP("register", 5, time.Hour))
	a.POST("/login", h.login, perIP("login", 10, 15*time.Minute))
	a.POST("/refresh", h.refresh, perIP("refresh", 30, 15*time.Minute))
	a.POST("/logout", h.logout)
	a.POST("/accept-invitation", h.acceptInvitation, perIP("accept-invitation", 10, 15*time.Minute), m.optionalSession())
	a.GET("/me", h.me, authed...)
	a.POST("/switch-workspace", h.switchWorkspace, authed...)
	a.POST("/forgot-password", h.forgotPassword, perIP("forgot-password", 10, time.Hour),
		web.RateLimit(m.limiter, "forgot-password-address", 5, time.Hour, byBodyEmail))
	a.POST("/reset-password", h.resetPassword, perIP("reset-password", 10, 15*time.Minute))
	a.POST("/verify-email", h.verifyEmail, perIP("verify-email", 10, 15*time.Minute))
	a.POST("/verify-email/resend", h.resendVerification, append(authed,
		web.RateLimit(m.limiter, "verify-email-resend", 5, time.Hour, authn.ByUser))...)

	ws := v1.Group("/workspace", authed...)
	ws.GET("", h.getWorkspace)
	ws.PATCH("", h.updateWorkspace, authn.RequireRole(authn.RoleAdmin))
	ws.GET("/members", h.listMembers)
	ws.POST("/invitations", h.invite, authn.RequireRole(authn.RoleOwner))
	ws.GET("/invitations", h.listInvitations, authn.RequireRole(authn.RoleOwner))
	ws.DELETE("/invitations/:id", h.deleteInvitation, authn.RequireRole(authn.RoleOwner))
	ws.PATCH("/members/:userId", h.updateMember, authn.RequireRole(authn.RoleOwner))
	ws.DELETE("/members/:userId", h.removeMember, authn.RequireRole(authn.RoleOwner))
}

// authenticated is the middleware chain of every dashboard route: a valid access token, then
// 120 requests per minute per user (the same chain other modules get as kernel.Deps.Authed).
func (m *Module) authenticated() []echo.MiddlewareFunc {
	return authn.Authenticated(m.issuer, m.limiter)
}

// optionalSession reads the access token when the request carries one (401 when it is
// invalid) and lets a request without one through: accept-invitation needs the caller's
// session only for an address that already has an account.
func (m *Module) optionalSession() echo.MiddlewareFunc {
	required := authn.Middleware(m.issuer, false)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		withToken := required(next)
		return func(c echo.Context) error {
			if c.Request().Header.Get(echo.HeaderAuthorization) == "" {
				return next(c)
			}
			return withToken(c)
		}
	}
}

// maxRecoveryBody bounds what byBodyEmail reads; a forgot-password body is one address.
const maxRecoveryBody = 4 << 10

// byBodyEmail keys the per-address limit of forgot-password on the lower-cased address in
// the JSON body (the body is put back for the handler). A body it cannot read gets no
// per-address key; the handler then answers its validation error.
func byBodyEmail(c echo.Context) string {
	r := c.Request()
	if r.Body == nil {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRecoveryBody+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), r.Body))
	if err != nil || len(b) > maxRecoveryBody {
		return ""
	}
	var req struct {
		Email string `json:"email"`
	}
	if json.Unmarshal(b, &req) != nil {
		return ""
	}
	addr := strings.ToLower(strings.TrimSpace(req.Email))
	if addr == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(addr)) // keeps addresses out of Redis keys
	return hex.EncodeToString(sum[:16])
}
