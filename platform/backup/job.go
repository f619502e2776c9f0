package backup

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/axonhq/axon/platform/queue"
)

// JobArgs is the ops.backup job: one Run, then a Prune when Keep is set.
type JobArgs struct{}

// Kind implements river.JobArgs.
func (JobArgs) Kind() string { return "ops.backup" }

// InsertOpts implements river.JobArgsWithInsertOpts: two attempts on the default queue.
func (JobArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueDefault, MaxAttempts: 2}
}

// ModuleDeps is what the ops module needs.
type ModuleDeps struct {
	// Cron is BACKUP_CRON: a standard 5-field expression evaluated in UTC ("0 3 * * *"),
	// a descriptor such as "@daily" or "@every 6h", optionally prefixed by CRON_TZ=Zone.
	Cron string
	// Store receives the dumps (NewS3 on the configured bucket).
	Store Store
	// DatabaseURL is the database to dump.
	DatabaseURL string
	// Keep, when positive, prunes all but the newest Keep dumps after each backup.
	Keep int
	Log  *slog.Logger
}

// Module is the "backup" module: it owns the optional periodic ops.backup job. It has no
// routes. Build it only when BACKUP_CRON is set.
type Module struct {
	d        ModuleDeps
	schedule cron.Schedule
}

// NewModule validates the schedule; an invalid BACKUP_CRON is an error naming it.
func NewModule(d ModuleDeps) (*Module, error) {
	if d.Store == nil || d.DatabaseURL == "" || d.Log == nil {
		return nil, fmt.Errorf("backup: Store, DatabaseURL and Log are required")
	}
	if d.Keep < 0 {
		return nil, fmt.Errorf("backup: Keep must not be negative (got %d)", d.Keep)
	}
	s, err := cron.ParseStandard(d.Cron)
	if err != nil {
		return nil, fmt.Errorf("BACKUP_CRON: want a cron expression such as \"0 3 * * *\" (03:00 UTC daily) or \"@every 6h\" (got %q: %v)", d.Cron, err)
	}
	return &Module{d: d, schedule: s}, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return "backup" }

// Routes implements kernel.Module; the module has none.
func (m *Module) Routes(*echo.Group) {}

// Workers implements kernel.Module.
func (m *Module) Workers(w *river.Workers) error {
	return river.AddWorkerSafely(w, &worker{d: m.d})
}

// PeriodicJobs implements kernel.Scheduler.
func (m *Module) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(utcSchedule{m.schedule}, func() (river.JobArgs, *river.InsertOpts) {
		return JobArgs{}, nil
	}, &river.PeriodicJobOpts{ID: "ops.backup"})}
}

// Next returns the first scheduled run after t.
func (m *Module) Next(t time.Time) time.Time { return utcSchedule{m.schedule}.Next(t) }

// utcSchedule evaluates a cron schedule in UTC (every schedule of the app is UTC), whatever the
// process's local zone; a CRON_TZ= prefix still wins.
type utcSchedule struct{ s cron.Schedule }

// Next implements river.PeriodicSchedule.
func (u utcSchedule) Next(t time.Time) time.Time { return u.s.Next(t.UTC()) }

type worker struct {
	river.WorkerDefaults[JobArgs]
	d ModuleDeps
}

// Timeout bounds one attempt; a dump of a large database takes a while.
func (w *worker) Timeout(*river.Job[JobArgs]) time.Duration { return 6 * time.Hour }

// NextRetry waits 10 minutes before the second attempt (a transient S3 or network fault).
func (w *worker) NextRetry(*river.Job[JobArgs]) time.Time {
	return queue.FixedBackoff(10 * time.Minute)
}

// Work takes a backup. Running twice is harmless: each run writes its own dump.
func (w *worker) Work(ctx context.Context, job *river.Job[JobArgs]) error {
	res, err := Run(ctx, w.d.Store, RunOptions{DatabaseURL: w.d.DatabaseURL})
	if err != nil {
		return err
	}
	w.d.Log.Info("backup written", "job", job.ID, "location", res.Location, "bytes", res.Size,
		"sha256", res.SHA256, "seconds", res.Elapsed.Seconds(), "mbPerSecond", res.MBps())
	if w.d.Keep > 0 {
		deleted, err := Prune(ctx, w.d.Store, w.d.Keep)
		for _, d := range deleted {
			w.d.Log.Info("backup pruned", "location", d.Location)
		}
		if err != nil {
			// The backup exists; a prune failure must not make River take another one.
			w.d.Log.Error("backup prune failed", "job", job.ID, "error", err)
		}
	}
	return nil
}
