package cache

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// Decision is the outcome of one rate-limit check.
type Decision struct {
	Allowed    bool
	Limit      int
	Remaining  int
	RetryAfter time.Duration // when not allowed: until a slot frees
	Reset      time.Duration // until the window holds no hit of now
}

// Limiter decides whether one more hit on key fits limit hits per window (sliding window).
// Peek answers the same question without recording a hit: limits that count only some
// outcomes (failed logins) peek before the attempt and Allow after a failure.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int, window time.Duration) Decision
	Peek(ctx context.Context, key string, limit int, window time.Duration) Decision
}

// slidingLua keeps a sorted set of hit timestamps (µs, Redis server time, so every replica
// shares one clock). It drops hits older than the window, admits the hit when fewer than
// limit remain (unless ARGV[4] is "1": a peek records nothing), and returns
// {allowed, count, oldest}.
var slidingLua = rueidis.NewLuaScript(`
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local member = ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local allowed = 0
if count < limit then
  allowed = 1
  if ARGV[4] ~= '1' then
    redis.call('ZADD', key, now, now .. '-' .. member)
    count = count + 1
  end
end
if count > 0 then redis.call('PEXPIRE', key, math.ceil(window / 1000)) end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local oldestAge = 0
if oldest[2] then oldestAge = now - tonumber(oldest[2]) end
return {allowed, count, oldestAge}
`)

// RedisLimiter shares limits across every replica through Redis. When Redis fails it answers
// from a per-process fallback limiter and logs the failure at most every 30 s.
type RedisLimiter struct {
	r        *Redis
	fallback *MemoryLimiter
	log      *slog.Logger
	seq      uint64
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
	peekArg := "0"
	if peek {
		peekArg = "1"
	}
	cl, err := l.r.Client()
	if err == nil {
		l.mu.Lock()
		l.seq++
		member := strconv.FormatUint(l.seq, 36) + strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
		l.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		win := window.Microseconds()
		vals, err2 := slidingLua.Exec(cctx, cl, []string{"axon:rl:" + key},
			[]string{strconv.Itoa(limit), strconv.FormatInt(win, 10), member, peekArg}).AsIntSlice()
		if err2 == nil && len(vals) == 3 {
			return decision(vals[0] == 1, limit, int(vals[1]), time.Duration(vals[2])*time.Microsecond, window)
		}
		err = err2
	}
	l.warn(err)
	if peek {
		return l.fallback.Peek(ctx, key, limit, window)
	}
	return l.fallback.Allow(ctx, key, limit, window)
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
