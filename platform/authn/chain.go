package authn

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/web"
)

// Per-user limit of every authenticated dashboard route.
const (
	userLimit  = 120
	userWindow = time.Minute
)

// Authenticated is the middleware chain of every dashboard route: a valid access token
// (Authorization: Bearer), then 120 requests per minute per user. kernel.Deps carries it
// as Authed; modules take it from there.
func Authenticated(iss *Issuer, lim cache.Limiter) []echo.MiddlewareFunc {
	return chain(iss, lim, false)
}

// AuthenticatedQuery is Authenticated that also accepts ?access_token= (EventSource clients
// cannot set headers): only for GET /v1/events. kernel.Deps carries it as AuthedQuery.
func AuthenticatedQuery(iss *Issuer, lim cache.Limiter) []echo.MiddlewareFunc {
	return chain(iss, lim, true)
}

func chain(iss *Issuer, lim cache.Limiter, allowQuery bool) []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{
		Middleware(iss, allowQuery),
		web.RateLimit(lim, "user", userLimit, userWindow, ByUser),
	}
}

// ByUser keys a rate limit on the authenticated caller's user id (empty without a principal).
func ByUser(c echo.Context) string {
	p, _ := Get(c)
	return p.UserID
}
