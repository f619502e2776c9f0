package cache

import (
	"context"
	"math"
	"time"
)

// Scale multiplies every limit of l by factor (RATE_LIMIT_SCALE). It exists for load tests
// and benchmarks, which must go through the real limiter without tripping it; production
// runs with factor 1, where Scale is not applied at all.
func Scale(l Limiter, factor float64) Limiter { return scaled{l: l, f: factor} }

type scaled struct {
	l Limiter
	f float64
}

func (s scaled) Allow(ctx context.Context, key string, limit int, window time.Duration) Decision {
	return s.l.Allow(ctx, key, int(math.Max(1, math.Round(float64(limit)*s.f))), window)
}

func (s scaled) Peek(ctx context.Context, key string, limit int, window time.Duration) Decision {
	return s.l.Peek(ctx, key, int(math.Max(1, math.Round(float64(limit)*s.f))), window)
}

func (s scaled) AllowMany(ctx context.Context, rules ...Rule) []Decision {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		r.Limit = int(math.Max(1, math.Round(float64(r.Limit)*s.f)))
		out[i] = r
	}
	return AllowMany(ctx, s.l, out...)
}
