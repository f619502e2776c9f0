// Package web builds the echo server: middleware (request id, access log, recovery, body
// limit, security headers, CORS, rate limits), the one error handler, bind/validate helpers
// and /health.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/getsentry/sentry-go"
	sentryecho "github.com/getsentry/sentry-go/echo"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/cache"
)

// Options configures the server.
type Options struct {
	Logger       *slog.Logger
	FrontendURLs []string
	Production   bool
	Limiter      cache.Limiter
	// BodyLimit defaults to 2 MB; webhook groups apply their own 1 MB limit.
	BodyLimit string
	// Observe, when set, wraps every request first (metrics), so that rejected requests
	// (429, 413, 404) are counted too.
	Observe echo.MiddlewareFunc
	// TrustedProxies are the peers whose X-Forwarded-For is believed; nil means
	// DefaultTrustedProxies, an empty slice trusts no one.
	TrustedProxies []*net.IPNet
	// Timeouts of the http.Server; zero takes the default in DefaultTimeouts.
	Timeouts Timeouts
	// Prelimits are limits that routes apply further in (authn's 120/min per user) whose
	// subject the global per-IP limit can already know (a valid access token): it checks
	// them with the per-IP limit in one call (one Redis round trip), and the route's
	// RateLimit of the same name and key then records nothing again.
	Prelimits []Prelimit
}

// Prelimit is a RateLimit checked ahead, by the global per-IP limit (Options.Prelimits).
// Key returns "" when the request has no subject for it (the limit is then left to the route).
type Prelimit struct {
	Name   string
	Limit  int
	Window time.Duration
	Key    KeyFunc
}

// Paths whose CORS is decided by their module (widget: the agent's allowedOrigins) or that
// need none (webhooks).
var corsSelfManaged = []string{"/v1/widget/", "/v1/webhooks/"}

// New builds the echo instance with the middleware every route shares. Route-specific
// limits (login, register, …) are added by the modules with RateLimit.
func New(o Options) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = ErrorHandler(o.Logger)
	if o.TrustedProxies == nil {
		o.TrustedProxies = DefaultTrustedProxies
	}
	e.IPExtractor = IPExtractor(o.TrustedProxies)
	o.Timeouts.apply(e.Server)
	if o.BodyLimit == "" {
		o.BodyLimit = "2M"
	}

	e.Pre(RequestID())
	if o.Observe != nil {
		e.Use(o.Observe)
	}
	e.Use(AccessLog(o.Logger))
	e.Use(sentryecho.New(sentryecho.Options{Repanic: true}), sentryHubOnContext)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableErrorHandler: false,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			o.Logger.Error("panic recovered", "err", err, "path", c.Path(), "stack", string(stack))
			return apperr.Wrap(apperr.Internal, apperr.InternalMessage, fmt.Errorf("panic: %w", err))
		},
	}))
	e.Use(SecurityHeaders(o.Production))
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit: o.BodyLimit,
		// Webhooks apply their own 1 MB limit and local uploads their 25 MB one.
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return strings.HasPrefix(p, "/v1/webhooks/") || strings.HasPrefix(p, "/v1/storage/local/")
		},
	}))
	// Uploads to the local store (up to 25 MB from a slow client) get longer to send their
	// body than the server's ReadTimeout allows a JSON request.
	e.Use(Deadline(UploadReadTimeout, UploadWriteTimeout, func(c echo.Context) bool {
		return !strings.HasPrefix(c.Request().URL.Path, "/v1/storage/local/")
	}))
	cors := middleware.CORSConfig{
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			for _, s := range corsSelfManaged {
				if strings.HasPrefix(p, s) {
					return true
				}
			}
			return false
		},
		AllowOrigins:     o.FrontendURLs,
		AllowCredentials: true,
		AllowHeaders:     []string{echo.HeaderAuthorization, echo.HeaderContentType, echo.HeaderXRequestID, "Last-Event-ID"},
		ExposeHeaders:    []string{echo.HeaderXRequestID, "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"},
		MaxAge:           600,
	}
	if len(o.FrontendURLs) == 0 {
		// echo treats an empty allow-list as "*"; an empty FRONTEND_URL allows no origin.
		cors.AllowOriginFunc = func(string) (bool, error) { return false, nil }
	}
	e.Use(middleware.CORSWithConfig(cors))
	if o.Limiter != nil {
		e.Use(globalLimit(o.Limiter, o.Prelimits))
	}
	return e
}

// Per-IP limit of every route.
const (
	ipLimit  = 300
	ipWindow = time.Minute
)

// globalLimit is the per-IP limit of every route, checked with the prelimits whose subject
// the request carries in one limiter call.
func globalLimit(l cache.Limiter, pre []Prelimit) echo.MiddlewareFunc {
	if len(pre) == 0 {
		return RateLimit(l, "ip", ipLimit, ipWindow, ByIP)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if skipRateLimit(c.Request()) {
				return next(c)
			}
			ip := ByIP(c)
			if ip == "" {
				return next(c)
			}
			rules := []cache.Rule{{Key: "ip:" + ip, Limit: ipLimit, Window: ipWindow}}
			for _, p := range pre {
				if k := p.Key(c); k != "" {
					rules = append(rules, cache.Rule{Key: p.Name + ":" + k, Limit: p.Limit, Window: p.Window})
				}
			}
			ds := cache.AllowMany(c.Request().Context(), l, rules...)
			// The headers describe the tightest limit (the fewest hits left); a denial is
			// always the last decision.
			d := ds[len(ds)-1]
			for _, x := range ds {
				if x.Allowed && x.Remaining < d.Remaining {
					d = x
				}
			}
			if err := limitHeaders(c, d); err != nil {
				return err
			}
			for i := range ds[1:] {
				c.Set(checkedKey(rules[i+1].Key), true)
			}
			return next(c)
		}
	}
}

// checkedKey marks in echo's context that a limit key was already checked for this request.
func checkedKey(key string) string { return "axon.ratelimit.checked:" + key }

// limitHeaders sets the RateLimit-* headers of d, and Retry-After with a 429 RATE_LIMITED
// error when d denies.
func limitHeaders(c echo.Context, d cache.Decision) error {
	h := c.Response().Header()
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(int((d.Reset+time.Second-1)/time.Second)))
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(int((d.RetryAfter+time.Second-1)/time.Second)))
		return apperr.E(apperr.RateLimited, "Too many requests; retry later")
	}
	return nil
}

// sentryHubOnContext puts the request's Sentry hub (sentryecho keeps it in echo's context
// only) on the request's context, so that what module code reports with observe.Report
// while serving a request carries that request (method, URL, filtered headers).
func sentryHubOnContext(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if hub := sentryecho.GetHubFromContext(c); hub != nil {
			r := c.Request()
			c.SetRequest(r.WithContext(sentry.SetHubOnContext(r.Context(), hub)))
		}
		return next(c)
	}
}

var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,128}$`)

// RequestID takes X-Request-Id from the request when it is a sane token, or makes one, and
// echoes it on every response.
func RequestID() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := c.Request().Header.Get(echo.HeaderXRequestID)
			if !requestIDRe.MatchString(id) {
				id = uuid.Must(uuid.NewV7()).String()
				c.Request().Header.Set(echo.HeaderXRequestID, id)
			}
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			return next(c)
		}
	}
}

// AccessLog writes one slog line per request, except /health.
func AccessLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().URL.Path == "/health" {
				return next(c)
			}
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err) // the response is written now, so the line has the real status
			}
			req, res := c.Request(), c.Response()
			level := slog.LevelInfo
			if res.Status >= 500 && res.Status != http.StatusNotImplemented {
				level = slog.LevelError
			}
			log.LogAttrs(req.Context(), level, "request",
				slog.String("requestId", res.Header().Get(echo.HeaderXRequestID)),
				slog.String("method", req.Method),
				slog.String("path", req.URL.Path),
				slog.String("route", c.Path()),
				slog.Int("status", res.Status),
				slog.Int64("bytes", res.Size),
				slog.Int64("durationMs", time.Since(start).Milliseconds()),
				slog.String("ip", c.RealIP()),
			)
			return nil
		}
	}
}

// SecurityHeaders sets nosniff, frame-deny, no-referrer, CSP default-src 'none' (every
// response here is JSON or a stream) and HSTS in production.
func SecurityHeaders(production bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
			h.Set("Cross-Origin-Resource-Policy", "same-site")
			if production {
				h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
			}
			return next(c)
		}
	}
}

// KeyFunc picks the subject a rate limit counts.
type KeyFunc func(c echo.Context) string

// RateLimit allows limit hits per window per key and sets RateLimit-* headers; past the limit
// it answers 429 RATE_LIMITED with Retry-After. /health is never limited. A key the global
// limit already checked for this request (Options.Prelimits) is not counted twice.
func RateLimit(l cache.Limiter, name string, limit int, window time.Duration, key KeyFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if skipRateLimit(c.Request()) {
				return next(c)
			}
			k := key(c)
			if k == "" {
				return next(c)
			}
			if checked, _ := c.Get(checkedKey(name + ":" + k)).(bool); checked {
				return next(c)
			}
			if err := limitHeaders(c, l.Allow(c.Request().Context(), name+":"+k, limit, window)); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// Check is one /health probe; a nil func marks the dependency "disabled".
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Health answers GET /health: 200 {"status":"ok",...} when every enabled check passes, else
// 503 "degraded". Disabled checks read "disabled" and never degrade.
func Health(version string, started time.Time, checks ...Check) echo.HandlerFunc {
	type body struct {
		Status  string            `json:"status"`
		Checks  map[string]string `json:"checks"`
		Version string            `json:"version"`
		Uptime  int64             `json:"uptime"`
	}
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		b := body{Status: "ok", Checks: map[string]string{}, Version: version, Uptime: int64(time.Since(started).Seconds())}
		type result struct {
			name, status string
		}
		ch := make(chan result, len(checks))
		for _, ck := range checks {
			go func() {
				if ck.Fn == nil {
					ch <- result{ck.Name, "disabled"}
					return
				}
				if err := ck.Fn(ctx); err != nil {
					ch <- result{ck.Name, "error"}
					return
				}
				ch <- result{ck.Name, "ok"}
			}()
		}
		for range checks {
			r := <-ch
			b.Checks[r.name] = r.status
			if r.status == "error" {
				b.Status = "degraded"
			}
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		if b.Status != "ok" {
			return c.JSON(http.StatusServiceUnavailable, b)
		}
		return c.JSON(http.StatusOK, b)
	}
}

// skipRateLimit exempts /health, CORS preflights and webhooks (webhooks are
// unlimited: providers retry on 429 and verification already rejects strangers).
func skipRateLimit(r *http.Request) bool {
	return r.URL.Path == "/health" || r.Method == http.MethodOptions || strings.HasPrefix(r.URL.Path, "/v1/webhooks/")
}
