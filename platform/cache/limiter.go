package cache

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Decision is the outcome of one rate-limit check.
type Decision struct {
	Allowed    bool
	Limit      int
	Remaining  int
	RetryAfter time.Duration // when not allowed: until a slot frees
	Reset      time.Duration // until the whole limit is available again
}

// Limiter decides whether one more hit on key fits limit hits per window (RedisLimiter:
// GCRA; MemoryLimiter: sliding window).
// Peek answers the same question without recording a hit: limits that count only some
// outcomes (failed logins) peek before the attempt and Allow after a failure.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int, window time.Duration) Decision
	Peek(ctx context.Context, key string, limit int, window time.Duration) Decision
}

// RedisLimiter shares limits across every replica through Redis with the generic cell rate
// algorithm (gcra.go): a burst of limit hits, then one every window/limit; its cost does not
// grow with the limit, and AllowMany checks all of a request's limits in one round trip.
// When Redis fails it answers from a per-process fallback limiter (MemoryLimiter's sliding
// window) and logs the failure at most every 30 s.
type RedisLimiter struct {
	r        *Redis
	fallback *MemoryLimiter
	log      *slog.Logger
	mu       sync.Mutex
	lastWarn time.Time
}

// NewRedisLimiter builds the shared limiter with its in-process fallback.
func NewRedisLimiter(r *Redis, log *slog.Logger) *RedisLimiter {
	return &RedisLimiter{r: r, fallback: NewMemoryLimiter(), log: log}
}

// Allow checks one hit.
func (l *RedisLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) Decision {
	return l.run(ctx, key, limit, window, false)
}

// Peek reports whether one more hit would fit, recording nothing.
func (l *RedisLimiter) Peek(ctx context.Context, key string, limit int, window time.Duration) Decision {
	return l.run(ctx, key, limit, window, true)
}

func (l *RedisLimiter) run(ctx context.Context, key string, limit int, window time.Duration, peek bool) Decision {
	return l.gcra(ctx, peek, []Rule{{Key: key, Limit: limit, Window: window}})[0]
}

func (l *RedisLimiter) warn(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.lastWarn) > 30*time.Second {
		l.lastWarn = time.Now()
		l.log.Warn("rate limiter: redis failed, using per-process limits", "err", err)
	}
}

func decision(allowed bool, limit, count int, oldestAge, window time.Duration) Decision {
	d := Decision{Allowed: allowed, Limit: limit, Remaining: int(math.Max(0, float64(limit-count)))}
	d.Reset = window - oldestAge
	if d.Reset < 0 {
		d.Reset = 0
	}
	if !allowed {
		d.RetryAfter = d.Reset
		if d.RetryAfter < time.Second {
			d.RetryAfter = time.Second
		}
	}
	return d
}

// MemoryLimiter is the per-process sliding-window limiter (development, and the fallback).
type MemoryLimiter struct {
	mu    sync.Mutex
	hits  map[string][]time.Time
	clean time.Time
}

// NewMemoryLimiter builds an empty in-process limiter.
func NewMemoryLimiter() *MemoryLimiter { return &MemoryLimiter{hits: map[string][]time.Time{}} }

// Allow checks one hit.
func (m *MemoryLimiter) Allow(_ context.Context, key string, limit int, window time.Duration) Decision {
	return m.check(key, limit, window, false)
}

// Peek reports whether one more hit would fit, recording nothing.
func (m *MemoryLimiter) Peek(_ context.Context, key string, limit int, window time.Duration) Decision {
	return m.check(key, limit, window, true)
}

func (m *MemoryLimiter) check(key string, limit int, window time.Duration, peek bool) Decision {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.clean) > time.Minute {
		m.gc(now)
	}
	h := m.hits[key]
	cut := 0
	for cut < len(h) && now.Sub(h[cut]) >= window {
		cut++
	}
	h = h[cut:]
	allowed := len(h) < limit
	if allowed && !peek {
		h = append(h, now)
	}
	if len(h) == 0 {
		delete(m.hits, key)
	} else {
		m.hits[key] = h
	}
	var oldest time.Duration
	if len(h) > 0 {
		oldest = now.Sub(h[0])
	}
	return decision(allowed, limit, len(h), oldest, window)
}

// gc drops keys whose newest hit is older than an hour (no limit here is longer).
func (m *MemoryLimiter) gc(now time.Time) {
	m.clean = now
	for k, h := range m.hits {
		if len(h) == 0 || now.Sub(h[len(h)-1]) > time.Hour {
			delete(m.hits, k)
		}
	}
}
