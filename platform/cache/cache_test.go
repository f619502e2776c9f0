package cache_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/axonhq/axon/platform/cache"
)

// redisURL is the shared test Redis ($REDIS_URL or the local default).
func redisURL() string {
	if v := os.Getenv("REDIS_URL"); v != "" {
		return v
	}
	return "redis://127.0.0.1:6379/0"
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newRedis connects to the test Redis, skipping nothing: Redis is part of the test setup.
func newRedis(t *testing.T, log *slog.Logger) *cache.Redis {
	t.Helper()
	r, err := cache.NewRedis(redisURL(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if err := r.Ping(context.Background()); err != nil {
		t.Fatalf("test Redis at %s: %v", redisURL(), err)
	}
	return r
}

// closedPortURL is a Redis URL on which nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "redis://" + addr + "/0"
}

func key(t *testing.T) string { return "test:" + t.Name() + ":" + uuid.NewString() }

func TestRedisLimiterLimit(t *testing.T) {
	t.Parallel()
	l := cache.NewRedisLimiter(newRedis(t, discard()), discard())
	k := key(t)
	ctx := context.Background()
	for i := 1; i <= 10; i++ {
		d := l.Allow(ctx, k, 10, 15*time.Minute)
		if !d.Allowed || d.Limit != 10 || d.Remaining != 10-i {
			t.Fatalf("hit %d: %+v", i, d)
		}
		if d.Reset <= 0 || d.Reset > 15*time.Minute {
			t.Fatalf("hit %d: reset %s", i, d.Reset)
		}
	}
	d := l.Allow(ctx, k, 10, 15*time.Minute)
	if d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > 15*time.Minute {
		t.Fatalf("11th hit: %+v, want denied with Remaining 0 and RetryAfter in (0, 15m]", d)
	}
	// Another key is independent.
	if d := l.Allow(ctx, k+":other", 10, 15*time.Minute); !d.Allowed {
		t.Fatalf("other key denied: %+v", d)
	}
}

func TestRedisLimiterSharedAcrossProcesses(t *testing.T) {
	t.Parallel()
	a := cache.NewRedisLimiter(newRedis(t, discard()), discard())
	b := cache.NewRedisLimiter(newRedis(t, discard()), discard())
	k := key(t)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		l := a
		if i%2 == 1 {
			l = b
		}
		if d := l.Allow(ctx, k, 10, time.Minute); !d.Allowed {
			t.Fatalf("hit %d denied: %+v", i+1, d)
		}
	}
	if d := a.Allow(ctx, k, 10, time.Minute); d.Allowed {
		t.Fatalf("11th hit on a allowed: %+v", d)
	}
	if d := b.Allow(ctx, k, 10, time.Minute); d.Allowed {
		t.Fatalf("12th hit on b allowed: %+v", d)
	}
}

func TestRedisLimiterConcurrentHitsNeverExceedLimit(t *testing.T) {
	t.Parallel()
	a := cache.NewRedisLimiter(newRedis(t, discard()), discard())
	b := cache.NewRedisLimiter(newRedis(t, discard()), discard())
	k := key(t)
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := a
			if i%2 == 0 {
				l = b
			}
			if l.Allow(context.Background(), k, 25, time.Minute).Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 25 {
		t.Fatalf("allowed %d of 40 concurrent hits, want exactly 25", allowed)
	}
}

func TestRedisLimiterWindowSlides(t *testing.T) {
	l := cache.NewRedisLimiter(newRedis(t, discard()), discard())
	k := key(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if !l.Allow(ctx, k, 3, time.Second).Allowed {
			t.Fatalf("hit %d denied", i+1)
		}
	}
	d := l.Allow(ctx, k, 3, time.Second)
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Second {
		t.Fatalf("4th hit: %+v", d)
	}
	time.Sleep(1100 * time.Millisecond)
	if d := l.Allow(ctx, k, 3, time.Second); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("after the window: %+v", d)
	}
}

func TestRedisLimiterFallsBackWhenRedisIsDown(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	r, err := cache.NewRedis(closedPortURL(t), log)
	if err != nil {
		t.Fatalf("NewRedis must not fail for an unreachable server: %v", err)
	}
	defer r.Close()
	if err := r.Ping(context.Background()); err == nil {
		t.Fatal("Ping on a closed port succeeded")
	}
	l := cache.NewRedisLimiter(r, log)
	k := key(t)
	for i := 0; i < 5; i++ {
		if d := l.Allow(context.Background(), k, 5, time.Minute); !d.Allowed || d.Remaining != 4-i {
			t.Fatalf("fallback hit %d: %+v", i+1, d)
		}
	}
	if d := l.Allow(context.Background(), k, 5, time.Minute); d.Allowed || d.RetryAfter <= 0 {
		t.Fatalf("fallback past the limit: %+v", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Contains(logs.Bytes(), []byte("per-process limits")) {
		t.Errorf("the fallback was not logged: %s", logs.String())
	}
	if n := bytes.Count(logs.Bytes(), []byte("rate limiter: redis failed")); n != 1 {
		t.Errorf("fallback warning logged %d times, want once per 30 s", n)
	}
}

func TestMemoryLimiterSlidingWindow(t *testing.T) {
	l := cache.NewMemoryLimiter()
	ctx := context.Background()
	w := 300 * time.Millisecond
	for i := 0; i < 2; i++ {
		if d := l.Allow(ctx, "k", 3, w); !d.Allowed {
			t.Fatalf("hit %d denied", i+1)
		}
	}
	time.Sleep(150 * time.Millisecond)
	if d := l.Allow(ctx, "k", 3, w); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("3rd hit: %+v", d)
	}
	d := l.Allow(ctx, "k", 3, w)
	if d.Allowed || d.Remaining != 0 || d.RetryAfter < time.Second {
		t.Fatalf("4th hit: %+v (RetryAfter is at least a second)", d)
	}
	if d.Reset <= 0 || d.Reset > w {
		t.Fatalf("reset %s", d.Reset)
	}
	// After the first two hits leave the window, exactly two slots free up (sliding, not fixed).
	time.Sleep(170 * time.Millisecond)
	first := l.Allow(ctx, "k", 3, w)
	second := l.Allow(ctx, "k", 3, w)
	if !first.Allowed || !second.Allowed {
		t.Fatal("slots of expired hits not freed")
	}
	if l.Allow(ctx, "k", 3, w).Allowed {
		t.Fatal("the third hit, still in the window, was forgotten")
	}
	if !l.Allow(ctx, "other", 3, w).Allowed {
		t.Fatal("keys are not independent")
	}
}

// TestRedisCacheRoundTrip checks Set/Get/Delete across two clients. Reads go through the
// client-side cache, which Redis invalidates asynchronously, so a read right after a write
// (even by the same client) is only eventually consistent: the test waits for it.
func TestRedisCacheRoundTrip(t *testing.T) {
	t.Parallel()
	c := cache.NewRedisCache(newRedis(t, discard()))
	other := cache.NewRedisCache(newRedis(t, discard()))
	ctx := context.Background()
	k := key(t)
	if _, ok := c.Get(ctx, k); ok {
		t.Fatal("hit on a new key")
	}
	is := func(c *cache.RedisCache, want string) func() bool {
		return func() bool {
			v, ok := c.Get(ctx, k)
			if want == "" {
				return !ok
			}
			return ok && string(v) == want
		}
	}
	c.Set(ctx, k, []byte("v1"), time.Minute)
	waitFor(t, is(c, "v1"))
	waitFor(t, is(other, "v1"))
	c.Set(ctx, k, []byte("v2"), time.Minute)
	waitFor(t, is(other, "v2"))
	waitFor(t, is(c, "v2"))
	other.Delete(ctx, k)
	waitFor(t, is(c, ""))
	waitFor(t, is(other, ""))

	c.Set(ctx, k, []byte("short"), 150*time.Millisecond)
	waitFor(t, is(c, "short"))
	waitFor(t, is(c, "")) // expired
}

func TestRedisCacheUnavailableIsAMiss(t *testing.T) {
	t.Parallel()
	r, err := cache.NewRedis(closedPortURL(t), discard())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Ping(context.Background()); !errors.Is(err, cache.ErrUnavailable) {
		t.Fatalf("Ping = %v, want ErrUnavailable", err)
	}
	c := cache.NewRedisCache(r)
	c.Set(context.Background(), "k", []byte("v"), time.Minute)
	if _, ok := c.Get(context.Background(), "k"); ok {
		t.Fatal("hit without Redis")
	}
	c.Delete(context.Background(), "k")
}

func TestNewRedisRejectsMalformedURL(t *testing.T) {
	t.Parallel()
	if _, err := cache.NewRedis("http://nope", discard()); err == nil {
		t.Fatal("no error for a non-redis URL")
	}
}

func TestMemoryCache(t *testing.T) {
	t.Parallel()
	m := cache.NewMemory(10)
	ctx := context.Background()
	m.Set(ctx, "a", []byte("1"), 80*time.Millisecond)
	m.Set(ctx, "b", []byte("2"), time.Minute)
	if v, ok := m.Get(ctx, "a"); !ok || string(v) != "1" {
		t.Fatalf("Get a = %q %v", v, ok)
	}
	time.Sleep(100 * time.Millisecond)
	if _, ok := m.Get(ctx, "a"); ok {
		t.Fatal("expired value returned")
	}
	if v, ok := m.Get(ctx, "b"); !ok || string(v) != "2" {
		t.Fatalf("Get b = %q %v", v, ok)
	}
	m.Delete(ctx, "b")
	if _, ok := m.Get(ctx, "b"); ok {
		t.Fatal("deleted value returned")
	}
	// The size cap holds.
	for i := 0; i < 100; i++ {
		m.Set(ctx, strconv.Itoa(i), []byte("x"), time.Minute)
	}
	n := 0
	for i := 0; i < 100; i++ {
		if _, ok := m.Get(ctx, strconv.Itoa(i)); ok {
			n++
		}
	}
	if n == 0 || n > 10 {
		t.Fatalf("%d live entries in a cache capped at 10", n)
	}
	if _, ok := m.Get(ctx, "99"); !ok {
		t.Fatal("the newest entry was evicted")
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 3 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
