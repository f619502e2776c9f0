// Package queue owns the River clients. serve gets an insert-only client over the lib/pq
// pool; work gets a working client whose driver listens for new jobs on a one-connection pgx
// pool (riverdatabasesql.NewWithPgxListener), so pick-up is immediate while every query stays
// on lib/pq. Failed attempts are logged and reported to Sentry in one place.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"

	"github.com/axonhq/axon/platform/observe"
)

// Queue names and their concurrency.
const (
	QueueDefault   = river.QueueDefault
	QueueIngestion = "ingestion"
	QueueInbound   = "inbound"
	QueueOutbound  = "outbound"
	QueueEmail     = "email"
	// QueueRescue runs only queue.rescue (rescue.go).
	QueueRescue = "rescue"
)

// Queues is the working client's queue configuration.
func Queues() map[string]river.QueueConfig {
	return map[string]river.QueueConfig{
		QueueDefault:   {MaxWorkers: 10},
		QueueIngestion: {MaxWorkers: 3},
		QueueInbound:   {MaxWorkers: 10},
		QueueOutbound:  {MaxWorkers: 5},
		QueueEmail:     {MaxWorkers: 10},
		QueueRescue:    {MaxWorkers: 1},
	}
}

// JobTimeout bounds an attempt whose worker keeps River's default Timeout.
const JobTimeout = 5 * time.Minute

// RescueStuckJobsAfter is River's own, client-wide rescue of jobs left running by a dead
// worker. It must exceed every attempt timeout (ingestion's is 10 min); kinds a customer
// waits on are taken back much sooner by queue.rescue (rescue.go).
const RescueStuckJobsAfter = 15 * time.Minute

// Client is the River client type every role uses (transactions are *sql.Tx from sqlx).
type Client = river.Client[*sql.Tx]

// Inserter is what modules receive to enqueue jobs, always inside their own transaction.
type Inserter interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// NewInsertOnly builds the client serve uses: it inserts jobs (waking workers through
// pg_notify) but works none. workers is passed so that unknown job kinds fail at insert.
func NewInsertOnly(db *sql.DB, workers *river.Workers, log *slog.Logger) (*Client, error) {
	return river.NewClient(riverdatabasesql.New(db), &river.Config{
		Workers: workers,
		Logger:  log,
		// River sends at most one insert notification per queue per FetchCooldown (default
		// 100 ms); with the default, jobs inserted in a burst waited ~50 ms for pick-up.
		FetchCooldown: 10 * time.Millisecond,
	})
}

// WorkerOptions configures the working client.
type WorkerOptions struct {
	DB           *sql.DB
	DatabaseURL  string // for the LISTEN-only pgx pool
	Workers      *river.Workers
	PeriodicJobs []*river.PeriodicJob
	Logger       *slog.Logger
	// Queues overrides Queues() (tests run small queues). The rescue queue is added when
	// missing.
	Queues map[string]river.QueueConfig
	// Rescues are the kinds queue.rescue takes back soon after their worker died (modules
	// declare them; see rescue.go). NewWorker registers queue.rescue in Workers (so one
	// Workers serves one working client) and schedules it every RescueEvery.
	Rescues []Rescue
	// RescueEvery overrides RescueEvery (tests).
	RescueEvery time.Duration
	// HeartbeatEvery and DeadAfter override the liveness timing of heartbeat.go (tests).
	HeartbeatEvery, DeadAfter time.Duration
}

// Worker is a working client plus the listener pool it owns and its heartbeat
// (heartbeat.go).
type Worker struct {
	*Client
	listener *pgxpool.Pool
	db       *sql.DB
	log      *slog.Logger
	every    time.Duration
	stop     chan struct{}
	done     chan struct{}
}

// NewWorker builds the client work uses.
func NewWorker(ctx context.Context, o WorkerOptions) (*Worker, error) {
	periodic, queues, err := addRescue(&o)
	if err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("queue: listener pool: %w", err)
	}
	pcfg.MaxConns = 1
	pcfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("queue: listener pool: %w", err)
	}
	client, err := river.NewClient(riverdatabasesql.NewWithPgxListener(o.DB, pool), &river.Config{
		Workers:              o.Workers,
		Queues:               queues,
		PeriodicJobs:         periodic,
		Logger:               o.Logger,
		ErrorHandler:         &ErrorHandler{Log: o.Logger},
		JobTimeout:           JobTimeout,
		RescueStuckJobsAfter: RescueStuckJobsAfter,
		FetchCooldown:        10 * time.Millisecond,
		FetchPollInterval:    time.Second,
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	every := o.HeartbeatEvery
	if every <= 0 {
		every = HeartbeatEvery
	}
	return &Worker{Client: client, listener: pool, db: o.DB, log: log, every: every}, nil
}

// Start starts the client and its heartbeat.
func (w *Worker) Start(ctx context.Context) error {
	if err := w.Client.Start(ctx); err != nil {
		return err
	}
	if w.stop == nil {
		w.stop, w.done = make(chan struct{}), make(chan struct{})
		go heartbeat(w.db, w.ID(), w.every, w.log, w.stop, w.done)
	}
	return nil
}

// addRescue validates o.Rescues, registers queue.rescue in o.Workers (itself included in
// the rescued kinds) and returns the periodic jobs and queues with the rescue added.
func addRescue(o *WorkerOptions) ([]*river.PeriodicJob, map[string]river.QueueConfig, error) {
	queues := maps.Clone(o.Queues)
	if queues == nil {
		queues = Queues()
	}
	periodic := slices.Clone(o.PeriodicJobs)
	if len(o.Rescues) == 0 {
		return periodic, queues, nil
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	deadAfter := o.DeadAfter
	if deadAfter <= 0 {
		deadAfter = DeadAfter
	}
	w := &rescueWorker{db: sqlx.NewDb(o.DB, "postgres"), log: log, deadAfter: deadAfter}
	w.rescues = append(slices.Clone(o.Rescues), RescueOf[RescueArgs](w))
	seen := map[string]bool{}
	for _, r := range w.rescues {
		if err := r.validate(); err != nil {
			return nil, nil, err
		}
		if seen[r.Kind] {
			return nil, nil, fmt.Errorf("queue: rescue of %s declared twice", r.Kind)
		}
		seen[r.Kind] = true
	}
	if err := river.AddWorkerSafely(o.Workers, w); err != nil {
		return nil, nil, fmt.Errorf("queue: rescue worker: %w", err)
	}
	if _, ok := queues[QueueRescue]; !ok {
		queues[QueueRescue] = river.QueueConfig{MaxWorkers: 1}
	}
	every := o.RescueEvery
	if every <= 0 {
		every = RescueEvery
	}
	return append(periodic, rescuePeriodic(every)), queues, nil
}

// HardStopTimeout is how long Stop waits, once it has cancelled the running jobs' contexts,
// for their workers to return.
const HardStopTimeout = 5 * time.Second

// Stop stops the client gracefully within ctx: no more fetching, running jobs finish. When
// ctx ends first, it cancels the running jobs' contexts (River's StopAndCancel) and waits up
// to HardStopTimeout: a worker that returns its context's error has its job made available
// again at once, the attempt not counted (River v0.51, JobSetStateInterrupted). Then it
// closes the listener pool.
func (w *Worker) Stop(ctx context.Context) error {
	err := w.Client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		hard, cancel := context.WithTimeout(context.Background(), HardStopTimeout)
		defer cancel()
		err = w.StopAndCancel(hard)
	}
	// The heartbeat stops (and its row goes) only now: until the jobs were done or released
	// the client was alive.
	if w.stop != nil {
		close(w.stop)
		<-w.done
		w.stop = nil
	}
	w.listener.Close()
	return err
}

// ErrorHandler logs every failed attempt with job id and kind and reports it to Sentry.
type ErrorHandler struct{ Log *slog.Logger }

// HandleError reports a failed attempt; River's retry policy stays in charge.
func (h *ErrorHandler) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	observe.Report(ctx, h.Log, "job attempt failed", err,
		slog.Int64("jobId", job.ID), slog.String("kind", job.Kind),
		slog.Int("attempt", job.Attempt), slog.Int("maxAttempts", job.MaxAttempts))
	return nil
}

// HandlePanic reports a panicking attempt.
func (h *ErrorHandler) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	observe.Report(ctx, h.Log, "job attempt panicked", fmt.Errorf("panic: %v", panicVal),
		slog.Int64("jobId", job.ID), slog.String("kind", job.Kind),
		slog.Int("attempt", job.Attempt), slog.String("trace", trace))
	return nil
}

// FixedBackoff retries after d every time (email.send: 10 s).
func FixedBackoff(d time.Duration) time.Time { return time.Now().Add(d) }

// ExponentialBackoff returns base·2^(attempt-1) with ±10 % jitter, capped at max.
func ExponentialBackoff(attempt int, base, max time.Duration) time.Time {
	if attempt < 1 {
		attempt = 1
	}
	d := time.Duration(float64(base) * math.Pow(2, float64(attempt-1)))
	if d > max || d <= 0 {
		d = max
	}
	jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(d))
	return time.Now().Add(d + jitter)
}
