package cli

import (
	"context"
	"crypto/subtle"

	"github.com/axonhq/axon/platform/queue"
)

func runWork(ctx context.Context, o *Options) error {
	p, err := boot(ctx, o, "worker", true)
	if err != nil {
		return err
	}
	defer p.close()
	reg, err := p.modules(ctx, o)
	if err != nil {
		return err
	}
	workers, err := reg.Workers()
	if err != nil {
		return err
	}
	w, err := queue.NewWorker(ctx, queue.WorkerOptions{
		DB: p.db.DB.DB, DatabaseURL: p.cfg.DatabaseURL, Workers: workers,
		PeriodicJobs: reg.PeriodicJobs(), Logger: p.log,
	})
	if err != nil {
		return err
	}
	p.lazy.Set(w.Client)
	observeJobs(p.deps, w)
	if err := w.Start(ctx); err != nil {
		return err
	}
	p.log.Info("workers started", "version", o.Version)
	<-ctx.Done()
	p.log.Info("shutting down workers", "grace", shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	return ignoreCanceled(w.Stop(sctx))
}

func constantEq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
