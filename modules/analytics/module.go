// Package analytics owns the daily rollups (analytics_rollups) and the reporting routes of
// the dashboard: GET /v1/analytics (summary and series), GET /v1/analytics/agents/:id,
// GET /v1/analytics/export (CSV or JSON, streamed) and GET /v1/notifications. It runs the
// analytics.rollup_day job (02:00 UTC, for yesterday) and `axon analytics backfill`.
//
// Reading other modules' tables: analytics reads channels' conversations, messages and
// handoffs directly, read-only, in store.go. This is the one declared exception to "a
// module never reads another module's tables" (docs/decisions.md, "Analytics reads channels'
// tables"): its queries are set-based aggregates (percentiles, grouping sets, a cursor over
// every message of a year) that a row-returning contract would either have to ship across
// the boundary row by row or move wholesale into channels. analytics never writes those
// tables. The credit ledger, which is small per day, is read through billing's contract
// (Credits, implemented by billing.Usage).
//
// Definitions (UTC days):
//   - total_messages: messages of every role created that day;
//   - total_conversations: conversations with at least one message that day ("active");
//   - handoffs: handoffs created that day; resolved: conversations whose resolved_at is that
//     day (a conversation reopened since has resolved_at NULL and no longer counts);
//   - avg/p95_latency_ms: over that day's ASSISTANT messages with a latency (percentile_cont);
//   - voice_seconds: always 0 until a voice channel records durations;
//   - credits_consumed: billing's consumption net of refunds, on the workspace row only
//     (agent_id NULL); agent rows carry 0, because the ledger does not name the agent.
package analytics

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/pg"
)

// Credits reads the credits a workspace consumed (billing.Usage implements it).
// workspaceID "" asks for every workspace; a workspace that consumed nothing is absent.
type Credits interface {
	ConsumedBetween(ctx context.Context, q sqlx.QueryerContext, workspaceID string, from, to time.Time) (map[string]int, error)
}

// Agents checks that an agent lives in a workspace (agents.Directory implements it): nil,
// or an apperr NOT_FOUND for a missing or other-workspace agent.
type Agents interface {
	Exists(ctx context.Context, workspaceID, agentID string) error
}

// Deps are what the module needs.
type Deps struct {
	DB      *pg.DB
	Credits Credits
	Agents  Agents
	Log     *slog.Logger
	// Authed is the dashboard middleware chain (kernel.Deps.Authed).
	Authed []echo.MiddlewareFunc
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Module is the analytics module.
type Module struct {
	svc    *Service
	authed []echo.MiddlewareFunc
}

// New builds the module. It fails when a required dependency is missing.
func New(d Deps) (*Module, error) {
	if d.DB == nil || d.Credits == nil || d.Agents == nil || len(d.Authed) == 0 {
		return nil, errors.New("analytics: DB, Credits, Agents and Authed are required")
	}
	svc, err := NewService(d.DB, d.Credits, d.Agents, d.Log)
	if err != nil {
		return nil, err
	}
	if d.Now != nil {
		svc.now = d.Now
	}
	return &Module{svc: svc, authed: d.Authed}, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return "analytics" }

// Workers registers analytics.rollup_day.
func (m *Module) Workers(w *river.Workers) error {
	return river.AddWorkerSafely(w, &rollupWorker{svc: m.svc})
}

// PeriodicJobs implements kernel.Scheduler: analytics.rollup_day at 02:00 UTC for yesterday.
func (m *Module) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{rollupPeriodicJob()}
}

// Service returns the module's service (the backfill command and tests use it).
func (m *Module) Service() *Service { return m.svc }
