package cli

import (
	"context"
	"crypto/subtle"
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
