package cache

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// Rule is one limit of a request: at most Limit hits of Key per Window.
type Rule struct {
	Key    string
	Limit  int
	Window time.Duration
}

// MultiLimiter checks several rules of one request at once (RedisLimiter: one round trip).
// Rules are checked in order with the semantics of stacked middleware: a hit is recorded on
// rule i only when rules 0..i all allow it, and checking stops at the first denial, so the
// result has one decision per checked rule and only the last may be a denial.
type MultiLimiter interface {
	AllowMany(ctx context.Context, rules ...Rule) []Decision
}

// AllowMany checks rules through l: in one call when l is a MultiLimiter, else one Allow per
// rule (stopping at the first denial).
func AllowMany(ctx context.Context, l Limiter, rules ...Rule) []Decision {
	if m, ok := l.(MultiLimiter); ok {
		return m.AllowMany(ctx, rules...)
	}
	out := make([]Decision, 0, len(rules))
	for _, r := range rules {
		d := l.Allow(ctx, r.Key, r.Limit, r.Window)
		out = append(out, d)
		if !d.Allowed {
			break
		}
	}
	return out
}

// gcraLua is the generic cell rate algorithm for every rule of a request in one script. A
// key holds one number, its theoretical arrival time (TAT, µs of Redis server time, so every
// replica shares one clock): limit hits per window means one hit every T = window/limit µs
// with a burst of limit. A hit is allowed when max(TAT, now) + T - now ≤ window; then the
// TAT moves to that value. The cost is one GET and one SET per rule whatever the limit (a
// sliding-window log keeps and trims a sorted set of every hit in the window).
//
// KEYS are the rules' keys; ARGV[1] is "1" for a peek (nothing recorded), then per rule its
// limit and window (µs). It returns per checked rule {allowed, remaining, reset µs,
// retry-after µs} and stops after the first denial.
var gcraLua = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local peek = ARGV[1] == '1'
local out = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local interval = math.floor(window / limit)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new = tat + interval
  if new - now <= window then
    if not peek then
      redis.call('SET', key, new, 'PX', math.ceil((new - now) / 1000) + 1)
      tat = new
    end
    out[#out + 1] = 1
    out[#out + 1] = math.floor((window - (tat - now)) / interval)
    out[#out + 1] = tat - now
    out[#out + 1] = 0
  else
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = tat - now
    out[#out + 1] = new - now - window
    return out
  end
end
return out
`)

// AllowMany checks every rule in one Redis round trip (MultiLimiter). When Redis fails it
// answers from the per-process fallback.
func (l *RedisLimiter) AllowMany(ctx context.Context, rules ...Rule) []Decision {
	return l.gcra(ctx, false, rules)
}

func (l *RedisLimiter) gcra(ctx context.Context, peek bool, rules []Rule) []Decision {
	cl, err := l.r.Client()
	if err == nil {
		keys := make([]string, len(rules))
		args := make([]string, 1, 1+2*len(rules))
		args[0] = "0"
		if peek {
			args[0] = "1"
		}
		for i, r := range rules {
			keys[i] = "axon:rl:" + r.Key
			args = append(args, strconv.Itoa(max(1, r.Limit)), strconv.FormatInt(max(1, r.Window.Microseconds()), 10))
		}
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		vals, err2 := gcraLua.Exec(cctx, cl, keys, args).AsIntSlice()
		if err2 == nil && len(vals) >= 4 && len(vals)%4 == 0 && len(vals)/4 <= len(rules) {
			out := make([]Decision, len(vals)/4)
			for i := range out {
				v := vals[4*i : 4*i+4]
				out[i] = gcraDecision(v[0] == 1, rules[i].Limit, int(v[1]), time.Duration(v[2])*time.Microsecond, time.Duration(v[3])*time.Microsecond)
			}
			return out
		}
		err = err2
	}
	l.warn(err)
	if peek {
		return []Decision{l.fallback.Peek(ctx, rules[0].Key, rules[0].Limit, rules[0].Window)}
	}
	return AllowMany(ctx, l.fallback, rules...)
}

func gcraDecision(allowed bool, limit, remaining int, reset, retry time.Duration) Decision {
	d := Decision{Allowed: allowed, Limit: limit, Remaining: max(0, min(limit, remaining)), Reset: max(0, reset)}
	if !allowed {
		d.RetryAfter = max(time.Second, retry)
	}
	return d
}
