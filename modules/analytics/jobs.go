package analytics

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/queue"
)

// RollupDayArgs is the analytics.rollup_day job: roll up Date (YYYY-MM-DD, UTC). The date is
// fixed when the job is inserted, so a retry after midnight still rolls up the intended day.
type RollupDayArgs struct {
	Date string `json:"date"`
}

// Kind implements river.JobArgs.
func (RollupDayArgs) Kind() string { return "analytics.rollup_day" }

// InsertOpts: 2 attempts on the default queue, one job per date.
func (RollupDayArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueDefault, MaxAttempts: 2, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type rollupWorker struct {
	river.WorkerDefaults[RollupDayArgs]
	svc *Service
}

// Timeout bounds one attempt: a day of a busy instance is a few seconds (docs/decisions.md).
func (w *rollupWorker) Timeout(*river.Job[RollupDayArgs]) time.Duration { return 10 * time.Minute }

// Work rolls up the day; it is idempotent (upsert on the rollup key). A malformed date
// cancels the job.
func (w *rollupWorker) Work(ctx context.Context, j *river.Job[RollupDayArgs]) error {
	d, err := time.Parse(time.DateOnly, j.Args.Date)
	if err != nil {
		return river.JobCancel(fmt.Errorf("analytics.rollup_day: date %q: %w", j.Args.Date, err))
	}
	r, err := w.svc.RollupDay(ctx, d)
	if err != nil {
		return err
	}
	w.svc.log.Info("analytics rollup", "date", j.Args.Date, "rows", r.Rows, "deleted", r.Deleted, "ms", r.Duration.Milliseconds())
	return nil
}

// dailyAt is a river.PeriodicSchedule firing every day at Hour:00 UTC.
type dailyAt struct{ Hour int }

// Next implements river.PeriodicSchedule: the first run strictly after t.
func (s dailyAt) Next(t time.Time) time.Time {
	t = t.UTC()
	at := time.Date(t.Year(), t.Month(), t.Day(), s.Hour, 0, 0, 0, time.UTC)
	if !at.After(t) {
		at = at.AddDate(0, 0, 1)
	}
	return at
}

// rollupSchedule is "0 2 * * *" UTC.
var rollupSchedule = dailyAt{Hour: 2}

// yesterday is the UTC date before now's.
func yesterday(now time.Time) string {
	return now.UTC().AddDate(0, 0, -1).Format(time.DateOnly)
}

// rollupPeriodicJob inserts analytics.rollup_day for yesterday at 02:00 UTC.
func rollupPeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(rollupSchedule, func() (river.JobArgs, *river.InsertOpts) {
		return RollupDayArgs{Date: yesterday(time.Now())}, nil
	}, &river.PeriodicJobOpts{ID: "analytics.rollup_day"})
}
