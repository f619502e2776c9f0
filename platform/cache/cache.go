// Package cache is the Redis side of Axon: a small key/value cache and the rate limiter.
// Redis holds nothing that cannot be lost. Without REDIS_URL (development) both run in
// process; when a configured Redis fails, both fall back to per-process behaviour and the
// request is served.
package cache

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Cache stores small byte values with a TTL.
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, bool)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration)
	Delete(ctx context.Context, key string)
}

// Redis is a lazily (re)connecting rueidis client. A failed first connection does not stop
// the process: it retries in the background and callers see ErrUnavailable meanwhile.
type Redis struct {
	opt    rueidis.ClientOption
	client atomic.Pointer[rueidis.Client]
	log    *slog.Logger
	stop   chan struct{}
	once   sync.Once
	// clientCache enables RESP3 client-side caching (off for servers without CLIENT TRACKING).
	clientCache bool
}

// ErrUnavailable is returned while no Redis connection exists.
var ErrUnavailable = errors.New("cache: redis unavailable")

// NewRedis parses url and starts connecting. It returns an error only for a malformed URL.
func NewRedis(url string, log *slog.Logger) (*Redis, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.ConnWriteTimeout = 2 * time.Second
	opt.Dialer.Timeout = 2 * time.Second
	r := &Redis{opt: opt, log: log, stop: make(chan struct{}), clientCache: true}
	if err := r.connect(); err != nil {
		log.Warn("redis not reachable at start; retrying in the background, limits are per process meanwhile", "err", err)
		go r.retry()
	}
	return r, nil
}

func (r *Redis) connect() error {
	opt := r.opt
	opt.DisableCache = !r.clientCache
	c, err := rueidis.NewClient(opt)
	if errors.Is(err, rueidis.ErrNoCache) {
		r.clientCache = false
		opt.DisableCache = true
		c, err = rueidis.NewClient(opt)
	}
	if err != nil {
		return err
	}
	r.client.Store(&c)
	return nil
}

func (r *Redis) retry() {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			if err := r.connect(); err == nil {
				r.log.Info("redis connected")
				return
			}
		}
	}
}

// Client returns the connected client or ErrUnavailable.
func (r *Redis) Client() (rueidis.Client, error) {
	if c := r.client.Load(); c != nil {
		return *c, nil
	}
	return nil, ErrUnavailable
}

// Ping checks the connection for /health.
func (r *Redis) Ping(ctx context.Context) error {
	c, err := r.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return c.Do(ctx, c.B().Ping().Build()).Error()
}

// Close stops the client.
func (r *Redis) Close() {
	r.once.Do(func() { close(r.stop) })
	if c := r.client.Load(); c != nil {
		(*c).Close()
	}
}

// RedisCache is a Cache on Redis with client-side caching for reads; Redis failures turn
// into misses (and ignored writes), so the cache never fails a request. Redis invalidates
// client-side entries asynchronously, so a Get right after a Set or Delete (even in the same
// process) may briefly return the previous value or miss: store values that never change
// under their key (derived from the key, like embeddings of a query).
type RedisCache struct {
	r      *Redis
	prefix string
}

// NewRedisCache builds the Redis cache; keys are prefixed with "axon:c:".
func NewRedisCache(r *Redis) *RedisCache { return &RedisCache{r: r, prefix: "axon:c:"} }

// Get reads a value, using the client-side cache for up to a minute.
func (c *RedisCache) Get(ctx context.Context, key string) ([]byte, bool) {
	cl, err := c.r.Client()
	if err != nil {
		return nil, false
	}
	var res rueidis.RedisResult
	if c.r.clientCache {
		res = cl.DoCache(ctx, cl.B().Get().Key(c.prefix+key).Cache(), time.Minute)
	} else {
		res = cl.Do(ctx, cl.B().Get().Key(c.prefix+key).Build())
	}
	b, err := res.AsBytes()
	if err != nil {
		return nil, false
	}
	return b, true
}

// Set writes a value with a TTL.
func (c *RedisCache) Set(ctx context.Context, key string, val []byte, ttl time.Duration) {
	cl, err := c.r.Client()
	if err != nil {
		return
	}
	_ = cl.Do(ctx, cl.B().Set().Key(c.prefix+key).Value(rueidis.BinaryString(val)).Px(ttl).Build()).Error()
}

// Delete removes a value.
func (c *RedisCache) Delete(ctx context.Context, key string) {
	cl, err := c.r.Client()
	if err != nil {
		return
	}
	_ = cl.Do(ctx, cl.B().Del().Key(c.prefix+key).Build()).Error()
}

// Memory is the in-process cache: a map with expiry and a size cap.
type Memory struct {
	mu    sync.Mutex
	items map[string]memItem
	max   int
}

type memItem struct {
	val []byte
	exp time.Time
}

// NewMemory builds an in-process cache holding at most max entries.
func NewMemory(max int) *Memory { return &Memory{items: map[string]memItem{}, max: max} }

// Get reads a live value.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[key]
	if !ok || time.Now().After(it.exp) {
		delete(m.items, key)
		return nil, false
	}
	return it.val, true
}

// Set writes a value; when full, expired entries go first, then arbitrary ones.
func (m *Memory) Set(_ context.Context, key string, val []byte, ttl time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.items) >= m.max {
		now := time.Now()
		for k, it := range m.items {
			if now.After(it.exp) || len(m.items) >= m.max {
				delete(m.items, k)
			}
			if len(m.items) < m.max*9/10 {
				break
			}
		}
	}
	m.items[key] = memItem{val: val, exp: time.Now().Add(ttl)}
}

// Delete removes a value.
func (m *Memory) Delete(_ context.Context, key string) {
	m.mu.Lock()
	delete(m.items, key)
	m.mu.Unlock()
}
