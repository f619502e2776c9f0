package kernel

import (
	"log/slog"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/configs"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
)

// Deps are the business-free platform pieces every role builds before the modules. main.go
// builds the rest (AI provider, storage, mailer, Stripe) from Config and passes each module
// what it needs.
type Deps struct {
	Config  *configs.Config
	Log     *slog.Logger
	DB      *pg.DB
	Cache   cache.Cache
	Limiter cache.Limiter
	Issuer  *authn.Issuer
	// Authed is the chain of every dashboard route (authn.Authenticated: a valid access
	// token, then 120 requests per minute per user); AuthedQuery also accepts
	// ?access_token= (only GET /v1/events). Built from Issuer and Limiter.
	Authed      []echo.MiddlewareFunc
	AuthedQuery []echo.MiddlewareFunc
	Queue       queue.Inserter
	Publisher   realtime.Publisher
	// Hub is the replica's realtime fan-out behind GET /v1/events: built for serve and dev
	// (runServe starts and stops it), nil for the other roles.
	Hub *realtime.Hub
	// Metrics is nil when metrics are off (tests).
	Metrics *observe.Metrics
	// Role is "api", "worker" or "dev".
	Role string
}
