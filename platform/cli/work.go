package cli

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/web"
)

func runWork(ctx context.Context, o *Options) error {
	p, err := boot(ctx, o, "worker", true)
	if err != nil {
		return err
	}
	defer p.close()
	_, w, err := p.queue(ctx, o, true)
	if err != nil {
		return err
	}
	ms, err := startWorkerMetrics(p)
	if err != nil {
		return err
	}
	if err := startWorker(ctx, w); err != nil {
		ms.close(ctx, p)
		return err
	}
	p.log.Info("workers started", "version", o.Version)
	<-ctx.Done()
	// /health reads 503 draining while running jobs finish; the server closes after them,
	// so the last scrape can still see their outcomes.
	ms.drain.Start()
	err = stopWorker(ctx, p, w)
	ms.close(ctx, p)
	return err
}

// workerMetrics is `work`'s own small HTTP server on WORKER_METRICS_PORT (it has no API):
// GET /health (Postgres ping; 503 degraded, or 503 draining once the shutdown begins) and
// GET /metrics (the job metrics this process records: axon_jobs_total,
// axon_job_run_seconds and axon_job_queue_wait_seconds per kind or queue, its pool and the
// Go runtime) behind the same basic auth as serve's /metrics. The queue depth gauges are
// served by the API only (every process would report the same figures). `dev` and
// `serve --with-worker` have none: their API's /metrics already holds the job metrics.
// WORKER_METRICS_PORT=0 turns it off (the test environment's default).
type workerMetrics struct {
	e     *echo.Echo
	drain *web.Drain
}

func startWorkerMetrics(p *process) (*workerMetrics, error) {
	ms := &workerMetrics{drain: &web.Drain{}}
	port := p.cfg.WorkerMetricsPort
	if port == 0 {
		p.log.Info("WORKER_METRICS_PORT is 0: no /health or /metrics for this worker")
		return ms, nil
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = web.ErrorHandler(p.log)
	e.Server.ReadHeaderTimeout = 5 * time.Second
	e.Server.ReadTimeout = 10 * time.Second
	e.Server.WriteTimeout = 30 * time.Second
	e.Server.IdleTimeout = 2 * time.Minute
	e.Pre(ms.drain.Middleware())
	d := p.deps
	e.GET("/health", web.Health(p.cfg.Version, p.started,
		web.Check{Name: "db", Fn: func(ctx context.Context) error { return d.DB.PingContext(ctx) }}))
	if user, pass, ok := adminCredentials(d); ok && d.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(d.Metrics.Handler()), basicAuth(user, pass))
	} else {
		p.log.Info("no ADMIN_USER/ADMIN_PASSWORD: the worker serves /health only, no /metrics")
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return nil, errf("WORKER_METRICS_PORT %d: %v (another worker on this host? set another port, or 0 for none)", port, err)
	}
	e.Listener = ln
	ms.e = e
	go func() {
		if err := e.Start(""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("worker metrics server stopped", "err", err)
		}
	}()
	p.log.Info("worker metrics listening", "addr", ln.Addr().String(), "paths", "/health /metrics")
	return ms, nil
}

// close shuts the server down; an in-flight scrape gets a few seconds, then its connection
// is closed (a slow scrape never fails the worker's shutdown).
func (ms *workerMetrics) close(ctx context.Context, p *process) {
	if ms.e == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := ms.e.Shutdown(sctx); err != nil {
		p.log.Warn("worker metrics server: a scrape did not finish; closing it", "err", err)
		_ = ms.e.Close()
	}
}

// startWorker starts w detached from ctx's cancellation. River treats a cancelled start
// context as a hard stop (every running job's context cancelled at once, and the jobs
// recorded as failed attempts, retried after their backoff); SIGTERM must instead begin
// stopWorker's soft stop.
func startWorker(ctx context.Context, w *queue.Worker) error {
	return w.Start(context.WithoutCancel(ctx))
}

// stopWorker is the workers' shutdown: River stops fetching and running jobs get
// SHUTDOWN_TIMEOUT to finish (soft stop); then their contexts are cancelled and, once each
// worker returns its context error, River makes the job available again at once with the
// attempt not counted (v0.51's "interrupted" state), for another worker to take right away.
// Jobs still running queue.HardStopTimeout after that are left to the rescues.
func stopWorker(ctx context.Context, p *process, w *queue.Worker) error {
	p.log.Info("shutting down workers", "timeout", p.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ShutdownTimeout)
	defer cancel()
	err := ignoreCanceled(w.Stop(sctx))
	if err != nil {
		p.log.Error("workers did not stop", "err", err)
	} else {
		p.log.Info("workers stopped")
	}
	return err
}

func constantEq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
