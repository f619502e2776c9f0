package billing

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/queue"
)

// ProcessStripeEventArgs is the billing.process_stripe_event job: apply one stored Stripe
// event (inserted in the webhook's transaction together with the stripe_events row).
type ProcessStripeEventArgs struct {
	EventID string `json:"eventId"`
}

// Kind implements river.JobArgs.
func (ProcessStripeEventArgs) Kind() string { return "billing.process_stripe_event" }

// InsertOpts: 10 attempts on the default queue.
func (ProcessStripeEventArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueDefault, MaxAttempts: 10}
}

type stripeEventWorker struct {
	river.WorkerDefaults[ProcessStripeEventArgs]
	svc *Service
}

// NextRetry backs off exponentially from 10 s up to an hour: ten attempts span about four
// hours, long enough for an out-of-order event to find its workspace.
func (w *stripeEventWorker) NextRetry(job *river.Job[ProcessStripeEventArgs]) time.Time {
	return queue.ExponentialBackoff(job.Attempt, 10*time.Second, time.Hour)
}

// Timeout bounds one attempt.
func (w *stripeEventWorker) Timeout(*river.Job[ProcessStripeEventArgs]) time.Duration {
	return 30 * time.Second
}

// Work is idempotent: a processed event is skipped. A permanent failure (ErrPermanent)
// cancels the job; anything else is retried.
func (w *stripeEventWorker) Work(ctx context.Context, job *river.Job[ProcessStripeEventArgs]) error {
	return jobError(w.svc.ProcessEvent(ctx, job.Args.EventID))
}

// jobError maps a service error to River's job control: ErrPermanent cancels the job.
func jobError(err error) error {
	if errors.Is(err, ErrPermanent) {
		return river.JobCancel(err)
	}
	return err
}

// MonthlyGrantArgs is the billing.monthly_grant job. Month ("2006-01") is fixed when the job
// is inserted, so a retry that runs after midnight still grants the month it was meant for.
type MonthlyGrantArgs struct {
	Month string `json:"month"`
}

// Kind implements river.JobArgs.
func (MonthlyGrantArgs) Kind() string { return "billing.monthly_grant" }

// InsertOpts: 3 attempts on the default queue; one job per month even if two
// schedulers fired (the idempotency keys make a second run harmless anyway).
func (MonthlyGrantArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue: queue.QueueDefault, MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByArgs: true},
	}
}

type monthlyGrantWorker struct {
	river.WorkerDefaults[MonthlyGrantArgs]
	svc *Service
}

// Timeout is generous: the job walks every workspace.
func (w *monthlyGrantWorker) Timeout(*river.Job[MonthlyGrantArgs]) time.Duration {
	return 30 * time.Minute
}

// NextRetry waits a minute, then longer.
func (w *monthlyGrantWorker) NextRetry(job *river.Job[MonthlyGrantArgs]) time.Time {
	return queue.ExponentialBackoff(job.Attempt, time.Minute, 30*time.Minute)
}

// Work grants the month; already-granted workspaces are skipped by their idempotency keys.
func (w *monthlyGrantWorker) Work(ctx context.Context, job *river.Job[MonthlyGrantArgs]) error {
	n, err := w.svc.GrantMonthly(ctx, job.Args.Month)
	if err != nil {
		return err
	}
	w.svc.log.Info("billing: monthly grant done", "month", job.Args.Month, "workspaces", n)
	return nil
}

// monthlySchedule is the cron expression "M H D * *" in UTC: minute M of hour H on day D of
// every month (D ≤ 28, so every month has it).
type monthlySchedule struct {
	Day, Hour, Minute int
}

// grantSchedule is "5 0 1 * *" UTC: 00:05 on the 1st of every month.
var grantSchedule = monthlySchedule{Day: 1, Hour: 0, Minute: 5}

// Next implements river.PeriodicSchedule: the first run strictly after t.
func (s monthlySchedule) Next(t time.Time) time.Time {
	t = t.UTC()
	at := time.Date(t.Year(), t.Month(), s.Day, s.Hour, s.Minute, 0, 0, time.UTC)
	if !at.After(t) {
		at = time.Date(t.Year(), t.Month()+1, s.Day, s.Hour, s.Minute, 0, 0, time.UTC)
	}
	return at
}

// monthlyGrantPeriodicJob also runs when a worker becomes River's leader (RunOnStart), so a
// month whose 00:05 tick found no worker running is granted when one starts. The run is for
// the current month and idempotent per workspace and month; a second start in the same month
// grants nothing (its job is a unique duplicate, or every key is already used).
func monthlyGrantPeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(grantSchedule, func() (river.JobArgs, *river.InsertOpts) {
		return MonthlyGrantArgs{Month: time.Now().UTC().Format("2006-01")}, nil
	}, &river.PeriodicJobOpts{ID: "billing.monthly_grant", RunOnStart: true})
}
