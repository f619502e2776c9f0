package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/cache"
)

// Peek answers like Allow but records nothing: failure-only limits (logins per account) peek
// before an attempt and Allow after a failure.
func TestPeekRecordsNothing(t *testing.T) {
	limiters := map[string]cache.Limiter{
		"redis":  cache.NewRedisLimiter(newRedis(t, discard()), discard()),
		"memory": cache.NewMemoryLimiter(),
		"scaled": cache.Scale(cache.NewMemoryLimiter(), 1),
	}
	for name, l := range limiters {
		t.Run(name, func(t *testing.T) {
			ctx, k := context.Background(), key(t)
			for i := 0; i < 5; i++ {
				if d := l.Peek(ctx, k, 2, time.Minute); !d.Allowed || d.Remaining != 2 {
					t.Fatalf("peek %d on an empty key: %+v", i, d)
				}
			}
			l.Allow(ctx, k, 2, time.Minute)
			if d := l.Peek(ctx, k, 2, time.Minute); !d.Allowed || d.Remaining != 1 {
				t.Fatalf("peek after one hit: %+v", d)
			}
			l.Allow(ctx, k, 2, time.Minute)
			d := l.Peek(ctx, k, 2, time.Minute)
			if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
				t.Fatalf("peek at the limit: %+v", d)
			}
		})
	}
}
