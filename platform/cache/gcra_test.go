package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/cache"
)

// GCRA allows exactly limit hits at once, then one more every window/limit, with Remaining,
// Reset and RetryAfter that say so.
func TestGCRABurstAndRefill(t *testing.T) {
	t.Parallel()
	l := cache.NewRedisLimiter(newRedis(t, discard()), discard())
	ctx, k := context.Background(), key(t)
	const limit, window = 4, 800 * time.Millisecond // one hit every 200 ms
	for i := 1; i <= limit; i++ {
		d := l.Allow(ctx, k, limit, window)
		if !d.Allowed || d.Limit != limit || d.Remaining != limit-i {
			t.Fatalf("hit %d: %+v", i, d)
		}
		// Reset: until the whole limit is back, i intervals (≤ the window).
		if d.Reset <= time.Duration(i-1)*window/limit || d.Reset > time.Duration(i)*window/limit {
			t.Fatalf("hit %d: reset %s", i, d.Reset)
		}
	}
	d := l.Allow(ctx, k, limit, window)
	if d.Allowed || d.Remaining != 0 || d.RetryAfter != time.Second {
		t.Fatalf("hit %d: %+v, want denied, Remaining 0, RetryAfter rounded up to 1 s", limit+1, d)
	}
	// A denial records nothing: after one interval exactly one more hit fits.
	time.Sleep(window/limit + 30*time.Millisecond)
	if d := l.Allow(ctx, k, limit, window); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after one interval: %+v", d)
	}
	if d := l.Allow(ctx, k, limit, window); d.Allowed {
		t.Fatalf("second hit after one interval allowed: %+v", d)
	}
	// After a whole window the whole burst is back.
	time.Sleep(window + 30*time.Millisecond)
	for i := 1; i <= limit; i++ {
		if d := l.Allow(ctx, k, limit, window); !d.Allowed || d.Remaining != limit-i {
			t.Fatalf("refilled hit %d: %+v", i, d)
		}
	}
}

// The retry-after of a long window is the time until one hit frees, not the whole window.
func TestGCRARetryAfterIsOneInterval(t *testing.T) {
	t.Parallel()
	l := cache.NewRedisLimiter(newRedis(t, discard()), discard())
	ctx, k := context.Background(), key(t)
	for range 5 {
		l.Allow(ctx, k, 5, time.Hour)
	}
	d := l.Allow(ctx, k, 5, time.Hour)
	if d.Allowed || d.RetryAfter < 11*time.Minute || d.RetryAfter > 12*time.Minute {
		t.Fatalf("6th of 5 an hour: %+v, want RetryAfter ≈ 12 min", d)
	}
	if d.Reset < 59*time.Minute || d.Reset > time.Hour {
		t.Fatalf("reset %s, want ≈ 1 h", d.Reset)
	}
}

// AllowMany checks every rule in one call with the semantics of stacked middleware: a rule
// records a hit only when it and every rule before it allow; checking stops at a denial.
func TestAllowManyStacked(t *testing.T) {
	t.Parallel()
	limiters := map[string]cache.Limiter{
		"redis":  cache.NewRedisLimiter(newRedis(t, discard()), discard()),
		"memory": cache.NewMemoryLimiter(),
		"scaled": cache.Scale(cache.NewRedisLimiter(newRedis(t, discard()), discard()), 1),
	}
	for name, l := range limiters {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ip, user := key(t)+":ip", key(t)+":user"
			rules := []cache.Rule{{Key: ip, Limit: 5, Window: time.Minute}, {Key: user, Limit: 2, Window: time.Minute}}
			for i := 1; i <= 2; i++ {
				ds := cache.AllowMany(ctx, l, rules...)
				if len(ds) != 2 || !ds[0].Allowed || !ds[1].Allowed || ds[0].Remaining != 5-i || ds[1].Remaining != 2-i {
					t.Fatalf("hit %d: %+v", i, ds)
				}
			}
			// The user rule denies; the ip rule has counted this hit (it allowed it).
			ds := cache.AllowMany(ctx, l, rules...)
			if len(ds) != 2 || !ds[0].Allowed || ds[0].Remaining != 2 || ds[1].Allowed || ds[1].RetryAfter <= 0 {
				t.Fatalf("3rd hit: %+v", ds)
			}
			// Two more hits exhaust the ip rule; then it denies first and the user rule is not
			// consulted.
			cache.AllowMany(ctx, l, rules...)
			cache.AllowMany(ctx, l, rules...)
			ds = cache.AllowMany(ctx, l, rules...)
			if len(ds) != 1 || ds[0].Allowed {
				t.Fatalf("6th hit: %+v, want one decision, a denial by the ip rule", ds)
			}
		})
	}
}

// AllowMany falls back to per-process limits when Redis is down, like Allow.
func TestAllowManyFallsBack(t *testing.T) {
	t.Parallel()
	r, err := cache.NewRedis(closedPortURL(t), discard())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l := cache.NewRedisLimiter(r, discard())
	rules := []cache.Rule{{Key: key(t), Limit: 3, Window: time.Minute}, {Key: key(t) + ":u", Limit: 1, Window: time.Minute}}
	if ds := l.AllowMany(context.Background(), rules...); len(ds) != 2 || !ds[0].Allowed || !ds[1].Allowed {
		t.Fatalf("first hit: %+v", ds)
	}
	if ds := l.AllowMany(context.Background(), rules...); len(ds) != 2 || ds[1].Allowed {
		t.Fatalf("second hit: %+v, want the user rule to deny", ds)
	}
}

// BenchmarkLimiterCost compares one GCRA check with the limit it enforces: its cost must not
// grow with the limit (a sliding-window log's grows with the hits it keeps).
func BenchmarkLimiterCost(b *testing.B) {
	r, err := cache.NewRedis(redisURL(), discard())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	l := cache.NewRedisLimiter(r, discard())
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		rules int
	}{{"one-rule", 1}, {"two-rules-one-call", 2}} {
		b.Run(tc.name, func(b *testing.B) {
			k := "bench:" + b.Name()
			rules := []cache.Rule{{Key: k + ":ip", Limit: 1 << 30, Window: time.Minute}, {Key: k + ":user", Limit: 1 << 30, Window: time.Minute}}[:tc.rules]
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if ds := l.AllowMany(ctx, rules...); !ds[len(ds)-1].Allowed {
						b.Fatal("denied")
					}
				}
			})
		})
	}
}
