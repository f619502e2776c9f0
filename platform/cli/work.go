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
	_, w, err := p.queue(ctx, o, true)
	if err != nil {
		return err
	}
	if err := startWorker(ctx, w); err != nil {
		return err
	}
	p.log.Info("workers started", "version", o.Version)
	<-ctx.Done()
	return stopWorker(ctx, p, w)
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
