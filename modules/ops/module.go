// Package ops owns housekeeping that belongs to no business module: the hourly ops.prune job
// that keeps tables with a bounded purpose from growing for ever.
//
// ops.prune trims, in batches of BatchSize rows per statement (so a large backlog never holds
// long locks or a long transaction):
//   - realtime_events older than the replay window (realtime.ReplayWindow, 10 minutes);
//   - refresh_tokens past their expiry (expired ones, revoked or not: a revoked token that
//     has not expired is kept, so that presenting it is still recognised as reuse);
//   - the template data (the content of the body) and sealed secrets of e-mails SENT more
//     than a day ago; the row (recipient, subject, status, provider id) stays as the record;
//   - stripe_events older than 30 days (Stripe retries a delivery for 3 days at most, so the
//     id is no longer needed for deduplication);
//   - channel_inbound rows (webhook messages) answered more than 30 days ago, and
//     voice_calls started more than 30 days ago (the platforms stop redelivering within
//     days).
//
// The job is idempotent and runs at worker start too; running it twice deletes nothing more.
package ops

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/realtime"
)

// Retention is how long each kind of row is kept.
type Retention struct {
	RealtimeEvents time.Duration // default realtime.ReplayWindow
	EmailBodies    time.Duration // after sent_at; default 24 h
	StripeEvents   time.Duration // after received_at; default 30 days
	ChannelInbound time.Duration // answered webhook messages and voice calls; default 30 days
}

// DefaultRetention is the retention when Deps leaves a field at zero.
var DefaultRetention = Retention{
	RealtimeEvents: realtime.ReplayWindow,
	EmailBodies:    24 * time.Hour,
	StripeEvents:   30 * 24 * time.Hour,
	ChannelInbound: 30 * 24 * time.Hour,
}

// BatchSize is how many rows one prune statement touches.
const BatchSize = 5000

// Deps is what the ops module needs.
type Deps struct {
	DB        *pg.DB
	Log       *slog.Logger
	Retention Retention
	BatchSize int // default BatchSize
}

// Module is the ops module. It has no routes.
type Module struct {
	svc *Service
}

// New builds the module.
func New(d Deps) (*Module, error) {
	if d.DB == nil || d.Log == nil {
		return nil, fmt.Errorf("ops: DB and Log are required")
	}
	r := d.Retention
	if r.RealtimeEvents == 0 {
		r.RealtimeEvents = DefaultRetention.RealtimeEvents
	}
	if r.EmailBodies == 0 {
		r.EmailBodies = DefaultRetention.EmailBodies
	}
	if r.StripeEvents == 0 {
		r.StripeEvents = DefaultRetention.StripeEvents
	}
	if r.ChannelInbound == 0 {
		r.ChannelInbound = DefaultRetention.ChannelInbound
	}
	if d.BatchSize <= 0 {
		d.BatchSize = BatchSize
	}
	return &Module{svc: &Service{db: d.DB, log: d.Log, keep: r, batch: d.BatchSize}}, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return "ops" }

// Routes implements kernel.Module; ops has none.
func (m *Module) Routes(*echo.Group) {}

// Workers registers ops.prune.
func (m *Module) Workers(w *river.Workers) error {
	return river.AddWorkerSafely(w, &pruneWorker{svc: m.svc})
}

// PeriodicJobs implements kernel.Scheduler: ops.prune every hour and at worker start.
func (m *Module) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
		return PruneArgs{}, nil
	}, &river.PeriodicJobOpts{ID: "ops.prune", RunOnStart: true})}
}

// Service runs the prune; tests call Prune directly.
func (m *Module) Service() *Service { return m.svc }
