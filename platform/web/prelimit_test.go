package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
	"github.com/axonhq/axon/platform/web"
)

// countingLimiter is a MemoryLimiter that counts the limiter calls a request makes.
type countingLimiter struct {
	*cache.MemoryLimiter
	mu          sync.Mutex
	allow, many int
}

func (l *countingLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) cache.Decision {
	l.mu.Lock()
	l.allow++
	l.mu.Unlock()
	return l.MemoryLimiter.Allow(ctx, key, limit, window)
}

func (l *countingLimiter) AllowMany(ctx context.Context, rules ...cache.Rule) []cache.Decision {
	l.mu.Lock()
	l.many++
	l.mu.Unlock()
	return cache.AllowMany(ctx, l.MemoryLimiter, rules...)
}

func (l *countingLimiter) calls() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, m := l.allow, l.many
	l.allow, l.many = 0, 0
	return a, m
}

// A prelimit (the per-user limit, keyed here by X-User) is checked with the per-IP limit in
// one limiter call; the route's own RateLimit of the same name and key records nothing
// again; the headers describe the tightest limit; past the user limit the answer is 429
// with Retry-After; a request without the subject is limited per IP only.
func TestPrelimitOneCall(t *testing.T) {
	t.Parallel()
	lim := &countingLimiter{MemoryLimiter: cache.NewMemoryLimiter()}
	userKey := func(c echo.Context) string { return c.Request().Header.Get("X-User") }
	e := web.New(web.Options{
		Logger: observe.NewLogger(&syncbuf.Buffer{}, observe.LogOptions{}), Limiter: lim,
		Prelimits: []web.Prelimit{{Name: "user", Limit: 3, Window: time.Minute, Key: userKey}},
	})
	e.GET("/v1/me", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) },
		web.RateLimit(lim, "user", 3, time.Minute, userKey))
	s := httptest.NewServer(e)
	defer s.Close()

	h := map[string]string{"X-Forwarded-For": "203.0.113.20", "X-User": "u-1"}
	for i := 1; i <= 3; i++ {
		r := do(t, "GET", s.URL+"/v1/me", nil, h)
		if r.status != 204 {
			t.Fatalf("hit %d: %d %s", i, r.status, r.body)
		}
		if allow, many := lim.calls(); allow != 0 || many != 1 {
			t.Fatalf("hit %d: %d Allow and %d AllowMany calls, want one AllowMany", i, allow, many)
		}
		if r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") != strconv.Itoa(3-i) {
			t.Fatalf("hit %d: limit %q remaining %q, want the user limit's", i, r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
		}
	}
	r := do(t, "GET", s.URL+"/v1/me", nil, h)
	r.expectError(t, 429, "RATE_LIMITED")
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	lim.calls()
	// Another user from the same address has their own budget.
	if r := do(t, "GET", s.URL+"/v1/me", nil, map[string]string{"X-Forwarded-For": "203.0.113.20", "X-User": "u-2"}); r.status != 204 {
		t.Fatalf("other user: %d", r.status)
	}
	lim.calls()
	// Without the subject: the per-IP limit only (300), the route's limit skips itself.
	r = do(t, "GET", s.URL+"/v1/me", nil, map[string]string{"X-Forwarded-For": "203.0.113.21"})
	if r.status != 204 || r.header.Get("RateLimit-Limit") != "300" {
		t.Fatalf("no subject: %d limit %q", r.status, r.header.Get("RateLimit-Limit"))
	}
	if allow, many := lim.calls(); allow != 0 || many != 1 {
		t.Fatalf("no subject: %d Allow and %d AllowMany calls", allow, many)
	}
}

// The per-IP limit still applies first: past 300 a minute the request is refused whatever
// its user, and the user's budget is not spent by refused requests.
func TestPrelimitIPFirst(t *testing.T) {
	t.Parallel()
	lim := cache.NewMemoryLimiter()
	e := web.New(web.Options{
		Logger: observe.NewLogger(&syncbuf.Buffer{}, observe.LogOptions{}), Limiter: lim,
		Prelimits: []web.Prelimit{{Name: "user", Limit: 1000, Window: time.Minute, Key: func(echo.Context) string { return "u-9" }}},
	})
	e.GET("/v1/x", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	s := httptest.NewServer(e)
	defer s.Close()
	h := map[string]string{"X-Forwarded-For": "203.0.113.30"}
	for i := 1; i <= 300; i++ {
		if r := do(t, "GET", s.URL+"/v1/x", nil, h); r.status != 204 {
			t.Fatalf("hit %d: %d", i, r.status)
		}
	}
	do(t, "GET", s.URL+"/v1/x", nil, h).expectError(t, 429, "RATE_LIMITED")
	if d := lim.Peek(context.Background(), "user:u-9", 1000, time.Minute); d.Remaining != 700 {
		t.Fatalf("user budget %d left, want 700 (refused requests spend none)", d.Remaining)
	}
}
