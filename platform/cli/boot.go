package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"time"

	"github.com/axonhq/axon/configs"
	"github.com/axonhq/axon/db"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
)

func errf(format string, a ...any) error { return fmt.Errorf(format, a...) }

func parseVersion(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, errf("VERSION must be a positive migration number such as 7 (got %q)", s)
	}
	return v, nil
}

// process is one booted role: config, logger, pool and the platform dependencies.
type process struct {
	cfg     *configs.Config
	log     *slog.Logger
	db      *pg.DB
	redis   *cache.Redis
	deps    *kernel.Deps
	lazy    *queue.Lazy
	flush   func()
	started time.Time
}

func (p *process) close() {
	if p.redis != nil {
		p.redis.Close()
	}
	if p.db != nil {
		_ = p.db.Close()
	}
	if p.flush != nil {
		p.flush()
	}
}

// boot loads the configuration, sets up logging and Sentry and opens Postgres. withDeps also
// builds the cache, limiter, token issuer and queue inserter the modules need.
func boot(ctx context.Context, o *Options, role string, withDeps bool) (*process, error) {
	cfg, err := configs.Load(o.Getenv)
	if err != nil {
		return nil, err
	}
	cfg.Version = o.Version
	service := "axon-api"
	if role == "worker" {
		service = "axon-worker"
	}
	log := observe.NewLogger(o.Stderr, observe.LogOptions{Level: cfg.LogLevel, Format: cfg.LogFormat, Service: service, Env: cfg.Env})
	slog.SetDefault(log)
	p := &process{cfg: cfg, log: log, started: time.Now()}
	p.flush, err = observe.InitSentry(observe.SentryOptions{DSN: cfg.SentryDSN, Env: cfg.Env, Release: o.Version, Production: cfg.Production()})
	if err != nil {
		return nil, errf("SENTRY_DSN: %v", err)
	}
	if withDeps {
		log.Info("configuration", "config", cfg)
	}
	p.db, err = pg.Open(ctx, pg.Options{
		URL: cfg.DatabaseURL, MaxConns: cfg.DBMaxConns, PoolTimeout: cfg.DBPoolTimeout, Logger: log,
		OnSlow: func(ctx context.Context, q string, d time.Duration) {
			observe.Report(ctx, log, "slow query", fmt.Errorf("slow query (%s): %s", d.Round(time.Millisecond), q))
		},
	})
	if err != nil {
		p.close()
		return nil, err
	}
	if !withDeps {
		return p, nil
	}

	var ch cache.Cache
	var lim cache.Limiter
	if cfg.RedisURL == "" {
		log.Info("default: no REDIS_URL, using the in-process cache and rate limiter")
		ch, lim = cache.NewMemory(10000), cache.NewMemoryLimiter()
	} else {
		p.redis, err = cache.NewRedis(cfg.RedisURL, log)
		if err != nil {
			p.close()
			return nil, errf("REDIS_URL: %v", err)
		}
		ch, lim = cache.NewRedisCache(p.redis), cache.NewRedisLimiter(p.redis, log)
	}
	if cfg.RateLimitScale != 1 {
		log.Warn("RATE_LIMIT_SCALE is set: every rate limit is multiplied (load tests only)", "scale", cfg.RateLimitScale)
		lim = cache.Scale(lim, cfg.RateLimitScale)
	}
	iss, err := authn.NewIssuer(cfg.JWTSecret, cfg.JWTExpiresIn)
	if err != nil {
		p.close()
		return nil, err
	}
	p.lazy = &queue.Lazy{}
	p.deps = &kernel.Deps{
		Config: cfg, Log: log, DB: p.db, Cache: ch, Limiter: lim, Issuer: iss,
		Queue: p.lazy, Publisher: realtime.PG{}, Role: role,
		Metrics: observe.NewMetrics(p.db.DB.DB, service),
		Authed:  authn.Authenticated(iss, lim), AuthedQuery: authn.AuthenticatedQuery(iss, lim),
	}
	if role == "api" || role == "dev" {
		p.deps.Hub = realtime.NewHub(realtime.HubOptions{DB: p.db, URL: cfg.DatabaseURL, Log: log})
		p.deps.Metrics.Register(p.deps.Hub.Collectors()...)
		// Queue depth and the oldest available job's age, read from river_job at most every
		// queue.DepthTTL whatever the scrape rate; /health never runs this query.
		p.deps.Metrics.Register(queue.NewDepthCollector(p.db.DB.DB, log))
	}
	return p, nil
}

// queue builds the modules from main.go's list and the River client they insert through:
// a working client (returned, not started) when working, else an insert-only one.
func (p *process) queue(ctx context.Context, o *Options, working bool) (*kernel.Registry, *queue.Worker, error) {
	mods, err := o.Modules(ctx, p.deps)
	if err != nil {
		return nil, nil, err
	}
	reg, err := kernel.NewRegistry(mods...)
	if err != nil {
		return nil, nil, err
	}
	workers, err := reg.Workers()
	if err != nil {
		return nil, nil, err
	}
	if !working {
		client, err := queue.NewInsertOnly(p.db.DB.DB, workers, p.log)
		if err != nil {
			return nil, nil, err
		}
		p.lazy.Set(client)
		return reg, nil, nil
	}
	w, err := queue.NewWorker(ctx, queue.WorkerOptions{
		DB: p.db.DB.DB, DatabaseURL: p.cfg.DatabaseURL, Workers: workers,
		PeriodicJobs: reg.PeriodicJobs(), Rescues: reg.Rescues(), Logger: p.log,
	})
	if err != nil {
		return nil, nil, err
	}
	p.lazy.Set(w.Client)
	if p.deps.Metrics != nil {
		events, _ := w.Subscribe(observe.JobEvents...)
		go p.deps.Metrics.ObserveJobs(events)
	}
	return reg, w, nil
}

func runMigrate(ctx context.Context, o *Options, dir string) error {
	p, err := boot(ctx, o, "migrate", false)
	if err != nil {
		return err
	}
	defer p.close()
	m := newMigrator(p, o)
	switch dir {
	case "down":
		return m.Down(ctx)
	case "status":
		return m.Status(ctx)
	case "redo":
		return m.Redo(ctx)
	default:
		return m.Up(ctx)
	}
}

func runRollbackResolve(ctx context.Context, o *Options, version int64, runDown bool) error {
	p, err := boot(ctx, o, "migrate", false)
	if err != nil {
		return err
	}
	defer p.close()
	return newMigrator(p, o).RollbackResolve(ctx, version, runDown)
}

func newMigrator(p *process, o *Options) *pg.Migrator {
	sub, err := fs.Sub(db.Migrations, "migrations")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return pg.NewMigrator(p.db, sub, queue.MigrateUp, o.Stdout)
}

// ignoreCanceled treats a shutdown by signal as success.
func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
