package ops

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/axonhq/axon/platform/queue"
)

// PruneArgs is the ops.prune job.
type PruneArgs struct{}

// Kind implements river.JobArgs.
func (PruneArgs) Kind() string { return "ops.prune" }

// InsertOpts: the default queue, 3 attempts, one pending run at a time (a tick that finds the
// previous run still queued adds nothing).
func (PruneArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue: queue.QueueDefault, MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled,
		}},
	}
}

type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	svc *Service
}

// Timeout bounds one run; an unfinished backlog is continued by the next hour's run.
func (w *pruneWorker) Timeout(*river.Job[PruneArgs]) time.Duration { return 10 * time.Minute }

// Work prunes and logs what it removed.
func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	p, err := w.svc.Prune(ctx, time.Now())
	if err != nil {
		return err
	}
	// "expiredSessions", not "refreshTokens": the log redactor hides any key naming a token.
	w.svc.log.Info("ops: pruned", "realtimeEvents", p.RealtimeEvents, "expiredSessions", p.RefreshTokens,
		"emailBodies", p.EmailBodies, "stripeEvents", p.StripeEvents,
		"channelInbound", p.ChannelInbound, "voiceCalls", p.VoiceCalls)
	return nil
}
