package queue

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Short rescue for the job kinds a customer waits on.
//
// River rescues a job left `running` by a dead worker (SIGKILL, OOM, lost machine) only
// after RescueStuckJobsAfter (15 min here, client-wide, because ingestion attempts may run
// for 10 min). For the kinds modules declare with Rescues (channels' replies and handoffs,
// e-mail), the periodic queue.rescue job does the same as River's rescuer, sooner: a job of
// such a kind still `running` RescueMargin after its own attempt timeout is made
// `available` again at once (or discarded when it had no attempt left, or cancelled when a
// cancel was requested), with an attempt error appended and metadata river:rescue_count
// incremented, like River's JobRescuer.
//
// Why it is safe: River cancels an attempt's context when the worker's Timeout passes, so a
// live worker has already given up on a job RescueMargin before it is rescued (NewWorker
// refuses a Rescue whose After is not above its Timeout). The workers of rescued kinds must
// honour their context; a Work that ignores it past Timeout + margin may run twice. As with
// River's own rescuer, a late completion of the abandoned attempt is still recorded by
// River's completer.
//
// This writes River's table directly: the statement mirrors JobGetStuck + JobRescueMany of
// River v0.51.2 (riverdriver/riverdatabasesql/internal/dbsqlc/river_job.sql.go and
// internal/maintenance/job_rescuer.go) and relies on that version's river_job schema.
// TestRescuePinnedToRiverSchema fails when the River version in the build changes, so the
// statement is checked again on every upgrade.

// RescueMargin is added to a kind's attempt timeout before its running jobs are rescued.
const RescueMargin = 30 * time.Second

// RescueEvery is queue.rescue's period on the leader (it also runs when a client is elected).
const RescueEvery = 30 * time.Second

// RescueKind is the periodic rescue job's kind.
const RescueKind = "queue.rescue"

// riverVersion is the River release whose schema rescueSQL was checked against.
const riverVersion = "v0.51.2"

// rescueBatch bounds one UPDATE; a sweep repeats it until a batch comes back short.
const rescueBatch = 1000

// Rescue declares one job kind for the short rescue: its jobs still running After their
// attempt started are taken back. Timeout is the worker's attempt timeout for the kind;
// After must exceed it (RescueOf sets After = Timeout + RescueMargin).
type Rescue struct {
	Kind    string
	Timeout time.Duration
	After   time.Duration
}

// RescueOf declares w's kind with the worker's own Timeout (the client's JobTimeout when the
// worker keeps River's default) and After = Timeout + RescueMargin. w.Timeout is called
// with an empty job: workers of rescued kinds have a timeout that does not depend on the job.
// A worker without a timeout (negative) yields an invalid Rescue that NewWorker refuses.
func RescueOf[T river.JobArgs](w river.Worker[T]) Rescue {
	var args T
	timeout := w.Timeout(&river.Job[T]{JobRow: &rivertype.JobRow{}, Args: args})
	if timeout == 0 {
		timeout = JobTimeout
	}
	return Rescue{Kind: args.Kind(), Timeout: timeout, After: timeout + RescueMargin}
}

func (r Rescue) validate() error {
	if r.Kind == "" {
		return fmt.Errorf("queue: rescue without a kind")
	}
	if r.Timeout <= 0 {
		return fmt.Errorf("queue: rescue of %s: the worker has no attempt timeout, so a live attempt cannot be told from a dead one", r.Kind)
	}
	if r.After <= r.Timeout {
		return fmt.Errorf("queue: rescue of %s after %s: must exceed the attempt timeout %s, or live attempts would be taken back", r.Kind, r.After, r.Timeout)
	}
	return nil
}

// Rescued is one job taken back by RescueStuck: its new state is available, discarded or
// cancelled.
type Rescued struct {
	ID          int64  `db:"id"`
	Kind        string `db:"kind"`
	Queue       string `db:"queue"`
	Attempt     int    `db:"attempt"`
	MaxAttempts int    `db:"max_attempts"`
	State       string `db:"state"`
}

// rescueSQL takes back, in one statement, the running jobs of the given kinds whose attempt
// started more than their threshold ago (database clock, as River's attempted_at is). Like
// River's rescuer: a requested cancel (metadata cancel_attempted_at) cancels; no attempt
// left discards; otherwise the job is retried (here at once, as `available`, where River
// schedules `retryable` at the worker's NextRetry). FOR UPDATE SKIP LOCKED and the
// re-checked state make concurrent sweeps and completions safe.
const rescueSQL = `
WITH threshold AS (
    SELECT unnest($1::text[]) AS kind, unnest($2::bigint[]) AS after_ms
), stuck AS (
    SELECT j.id,
        (j.metadata ->> 'cancel_attempted_at') IS NOT NULL AS cancel,
        j.attempt >= j.max_attempts AS exhausted
    FROM river_job j
    JOIN threshold t ON t.kind = j.kind
    WHERE j.state = 'running'
        AND j.attempted_at < now() - t.after_ms * interval '1 millisecond'
    ORDER BY j.id
    LIMIT $3
    FOR UPDATE OF j SKIP LOCKED
)
` + rescueUpdate

// rescueUpdate is the outcome of a rescue, shared by rescueSQL and rescueDeadSQL (the CTE
// "stuck" names the jobs, locked).
const rescueUpdate = `
UPDATE river_job AS j
SET errors = array_append(j.errors, jsonb_build_object(
        'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'attempt', greatest(j.attempt, 0),
        'error', 'Stuck job rescued by queue.rescue (worker lost)',
        'trace', '')),
    finalized_at = CASE WHEN s.cancel OR s.exhausted THEN now() END,
    scheduled_at = CASE WHEN s.cancel OR s.exhausted THEN j.scheduled_at ELSE now() END,
    metadata = j.metadata || jsonb_build_object('river:rescue_count',
        coalesce(CASE WHEN jsonb_typeof(j.metadata -> 'river:rescue_count') = 'number'
            THEN (j.metadata ->> 'river:rescue_count')::int END, 0) + 1),
    state = CASE
        WHEN s.cancel THEN 'cancelled'::river_job_state
        WHEN s.exhausted THEN 'discarded'::river_job_state
        ELSE 'available'::river_job_state END
FROM stuck s
WHERE j.id = s.id AND j.state = 'running'
RETURNING j.id, j.kind, j.queue, j.attempt, j.max_attempts, j.state::text AS state`

// RescueStuck runs one sweep over the declared kinds and returns the jobs it took back.
func RescueStuck(ctx context.Context, db sqlx.ExtContext, rescues []Rescue) ([]Rescued, error) {
	if len(rescues) == 0 {
		return nil, nil
	}
	kinds := make([]string, len(rescues))
	afterMS := make([]int64, len(rescues))
	for i, r := range rescues {
		kinds[i], afterMS[i] = r.Kind, r.After.Milliseconds()
	}
	var out []Rescued
	for {
		var batch []Rescued
		if err := sqlx.SelectContext(ctx, db, &batch, rescueSQL, pq.Array(kinds), pq.Array(afterMS), rescueBatch); err != nil {
			return out, fmt.Errorf("queue: rescue stuck jobs: %w", err)
		}
		out = append(out, batch...)
		if len(batch) < rescueBatch {
			return out, nil
		}
	}
}

// RescueArgs is the periodic queue.rescue job.
type RescueArgs struct{}

// Kind implements river.JobArgs.
func (RescueArgs) Kind() string { return RescueKind }

// InsertOpts: one attempt on its own one-worker queue, so busy business queues never delay
// it (a failed sweep is redone at the next tick).
func (RescueArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueRescue, MaxAttempts: 1}
}

type rescueWorker struct {
	river.WorkerDefaults[RescueArgs]
	db        *sqlx.DB
	rescues   []Rescue
	deadAfter time.Duration
	log       *slog.Logger
}

// rescueTimeout bounds one sweep.
const rescueTimeout = 20 * time.Second

func (w *rescueWorker) Timeout(*river.Job[RescueArgs]) time.Duration { return rescueTimeout }

func (w *rescueWorker) Work(ctx context.Context, _ *river.Job[RescueArgs]) error {
	rescued, err := RescueStuck(ctx, w.db, w.rescues)
	if err == nil {
		var dead []Rescued
		dead, err = RescueDead(ctx, w.db, w.deadAfter)
		rescued = append(rescued, dead...)
	}
	for _, r := range rescued {
		w.log.WarnContext(ctx, "queue: stuck job rescued (worker lost)",
			slog.Int64("jobId", r.ID), slog.String("kind", r.Kind), slog.String("queue", r.Queue),
			slog.Int("attempt", r.Attempt), slog.Int("maxAttempts", r.MaxAttempts), slog.String("state", r.State))
	}
	return err
}

// rescuePeriodic is queue.rescue on the leader every period, and at once when a client
// becomes leader (a worker restarted after a crash rescues what it lost).
func rescuePeriodic(every time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(every), func() (river.JobArgs, *river.InsertOpts) {
		return RescueArgs{}, nil
	}, &river.PeriodicJobOpts{RunOnStart: true})
}
