package billing

import (
	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/authn"
)

// Routes registers every billing route (documented in platform/web/openapi.json).
func (m *Module) Routes(v1 *echo.Group) {
	h := &handlers{svc: m.svc}
	owner := authn.RequireRole(authn.RoleOwner)
	stripeOn := h.requireStripe

	b := v1.Group("/billing", m.authed...)
	b.GET("/plans", h.catalogue)
	b.GET("/credits", h.credits)
	b.GET("/ledger", h.ledger)
	b.GET("/invoices", h.invoices, stripeOn)
	b.POST("/checkout", h.checkout, owner, stripeOn)
	b.POST("/topup", h.topup, owner, stripeOn)
	b.POST("/portal", h.portal, owner, stripeOn)

	// Stripe calls this one: no token, the Stripe-Signature header is the authentication.
	v1.POST("/webhooks/stripe", h.stripeWebhook, stripeOn)
}
