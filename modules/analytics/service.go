package analytics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/pg"
)

// Limits of a report.
const (
	// MaxRangeDays is the longest range a report or an export covers (from and to included).
	MaxRangeDays = 366
	// DefaultRangeDays is the range when from and to are absent: the last 30 days, today
	// included.
	DefaultRangeDays = 30
	// TopTags and HandoffQuestions bound the agent page's lists.
	TopTags          = 10
	HandoffQuestions = 20
)

// Service holds analytics' rules.
type Service struct {
	db      *pg.DB
	st      store
	credits Credits
	agents  Agents
	log     *slog.Logger
	now     func() time.Time
}

// NewService builds the service (the module and `axon analytics backfill`). agents may be
// nil when only rollups are run.
func NewService(db *pg.DB, credits Credits, agents Agents, log *slog.Logger) (*Service, error) {
	if db == nil || credits == nil {
		return nil, errors.New("analytics: DB and Credits are required")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: db, credits: credits, agents: agents, log: log, now: time.Now}, nil
}

// RollupResult is what one day's rollup wrote.
type RollupResult struct {
	Day      time.Time
	Rows     int // rows upserted (workspace rows + agent rows)
	Deleted  int // rows of that day removed because their activity is gone
	Duration time.Duration
}

// RollupDay computes the rollup rows of the UTC day containing day, for every workspace, in
// one transaction that holds the day's advisory lock. Running it twice leaves the same rows.
func (s *Service) RollupDay(ctx context.Context, day time.Time) (RollupResult, error) {
	start := time.Now()
	d := day.UTC().Truncate(24 * time.Hour)
	res := RollupResult{Day: d}
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.st.lockDay(ctx, tx, d.Format(time.DateOnly)); err != nil {
			return err
		}
		credits, err := s.credits.ConsumedBetween(ctx, tx, "", d, d.AddDate(0, 0, 1))
		if err != nil {
			return err
		}
		r, err := s.st.rollupDay(ctx, tx, d, credits)
		res.Rows, res.Deleted = r.Upserted, r.Deleted
		return err
	})
	res.Duration = time.Since(start)
	return res, err
}

// Backfill rolls up every day of [from, to] (dates, UTC) in order and writes one progress
// line per day to w: the date, the rows written and the time taken. It stops at the first
// failure or when ctx ends.
func (s *Service) Backfill(ctx context.Context, from, to time.Time, w io.Writer) error {
	from, to = from.UTC().Truncate(24*time.Hour), to.UTC().Truncate(24*time.Hour)
	if to.Before(from) {
		return fmt.Errorf("--from %s is after --to %s", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	days := int(to.Sub(from)/(24*time.Hour)) + 1
	total := 0
	for i, d := 0, from; !d.After(to); i, d = i+1, d.AddDate(0, 0, 1) {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := s.RollupDay(ctx, d)
		if err != nil {
			return err
		}
		total += r.Rows
		fmt.Fprintf(w, "[%d/%d] %s  rows %d  deleted %d  %s\n", i+1, days, d.Format(time.DateOnly), r.Rows, r.Deleted, r.Duration.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "backfilled %d days, %d rows\n", days, total)
	return nil
}

// Range is a validated report range: dates From..To (UTC, both included).
type Range struct {
	From, To time.Time
}

// end is the exclusive end instant of the range.
func (r Range) end() time.Time { return r.To.AddDate(0, 0, 1) }

// ParseRange validates ?from and ?to (YYYY-MM-DD, or RFC 3339 whose UTC date is taken).
// Absent, the range is the last DefaultRangeDays days ending today; with only one given, the
// other is DefaultRangeDays away. from > to or a range over MaxRangeDays is a
// VALIDATION_ERROR naming the field.
func ParseRange(fromS, toS string, now time.Time) (Range, error) {
	p := apperr.ValidationFields
	today := now.UTC().Truncate(24 * time.Hour)
	var r Range
	var err error
	if toS == "" {
		r.To = today
	} else if r.To, err = parseDate(toS); err != nil {
		return r, p(map[string]string{"to": "must be a date (YYYY-MM-DD)"})
	}
	if fromS == "" {
		r.From = r.To.AddDate(0, 0, -(DefaultRangeDays - 1))
	} else if r.From, err = parseDate(fromS); err != nil {
		return r, p(map[string]string{"from": "must be a date (YYYY-MM-DD)"})
	}
	if toS == "" && fromS != "" && r.From.After(r.To) {
		r.To = r.From.AddDate(0, 0, DefaultRangeDays-1)
	}
	if r.From.After(r.To) {
		return r, p(map[string]string{"from": "must not be after to"})
	}
	if r.To.Sub(r.From) >= MaxRangeDays*24*time.Hour {
		return r, p(map[string]string{"to": fmt.Sprintf("the range must cover at most %d days", MaxRangeDays)})
	}
	return r, nil
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, err
	}
	return t.UTC().Truncate(24 * time.Hour), nil
}

// Intervals of a series.
var intervals = map[string]bool{"day": true, "week": true, "month": true}

// Query is one report request.
type Query struct {
	WorkspaceID string
	AgentID     string // "" for the whole workspace
	Range       Range
	Interval    string // day, week or month
}

// Summary is the headline of a report, computed from the raw tables.
type Summary struct {
	TotalMessages      int            `json:"totalMessages"`
	TotalConversations int            `json:"totalConversations"`
	Handoffs           int            `json:"handoffs"`
	HandoffsByTrigger  map[string]int `json:"handoffsByTrigger"`
	Resolved           int            `json:"resolved"`
	ResolutionRate     float64        `json:"resolutionRate"`
	AvgLatencyMs       int            `json:"avgLatencyMs"`
	P95LatencyMs       int            `json:"p95LatencyMs"`
	// CreditsConsumed is the workspace's; nil in an agent's report (the ledger does not
	// name the agent).
	CreditsConsumed *int `json:"creditsConsumed"`
}

// Report is GET /v1/analytics.
type Report struct {
	Summary Summary `json:"summary"`
	Series  []Point `json:"series"`
}

// AgentReport is GET /v1/analytics/agents/:id.
type AgentReport struct {
	Report
	TopTags          []TagCount        `json:"topTags"`
	HandoffQuestions []HandoffQuestion `json:"-"`
}

func (s *Service) check(ctx context.Context, q Query) error {
	if q.Interval == "" {
		q.Interval = "day"
	}
	if !intervals[q.Interval] {
		return apperr.ValidationFields(map[string]string{"interval": "must be day, week or month"})
	}
	if q.AgentID != "" {
		if s.agents == nil {
			return errors.New("analytics: no agent directory")
		}
		return s.agents.Exists(ctx, q.WorkspaceID, q.AgentID)
	}
	return nil
}

// Report returns the summary (raw tables) and the series (rollups) of q. An agent of another
// workspace is NOT_FOUND; a bad interval is a VALIDATION_ERROR.
func (s *Service) Report(ctx context.Context, q Query) (Report, error) {
	if q.Interval == "" {
		q.Interval = "day"
	}
	if err := s.check(ctx, q); err != nil {
		return Report{}, err
	}
	return s.report(ctx, q)
}

func (s *Service) report(ctx context.Context, q Query) (Report, error) {
	from, to := q.Range.From, q.Range.end()
	m, err := s.st.summaryMessages(ctx, s.db, q.WorkspaceID, q.AgentID, from, to)
	if err != nil {
		return Report{}, err
	}
	byTrigger, err := s.st.summaryHandoffs(ctx, s.db, q.WorkspaceID, q.AgentID, from, to)
	if err != nil {
		return Report{}, err
	}
	resolved, err := s.st.summaryResolved(ctx, s.db, q.WorkspaceID, q.AgentID, from, to)
	if err != nil {
		return Report{}, err
	}
	sum := Summary{
		TotalMessages: m.TotalMessages, TotalConversations: m.TotalConversations,
		HandoffsByTrigger: byTrigger, Resolved: resolved,
		AvgLatencyMs: m.AvgLatencyMs, P95LatencyMs: m.P95LatencyMs,
	}
	for _, n := range byTrigger {
		sum.Handoffs += n
	}
	sum.ResolutionRate = resolutionRate(resolved, m.TotalConversations)
	if q.AgentID == "" {
		c, err := s.credits.ConsumedBetween(ctx, s.db, q.WorkspaceID, from, to)
		if err != nil {
			return Report{}, err
		}
		n := c[q.WorkspaceID]
		sum.CreditsConsumed = &n
	}
	series, err := s.st.series(ctx, s.db, q.WorkspaceID, q.AgentID, q.Range.From, q.Range.To, q.Interval)
	if err != nil {
		return Report{}, err
	}
	return Report{Summary: sum, Series: series}, nil
}

// resolutionRate is the conversations resolved in the range over the conversations active
// in it, rounded to 4 places and at most 1 (a conversation resolved in the range without a
// message in it still counts as resolved).
func resolutionRate(resolved, active int) float64 {
	if active == 0 {
		return 0
	}
	r := float64(resolved) / float64(active)
	if r > 1 {
		r = 1
	}
	return float64(int(r*10000+0.5)) / 10000
}

// Agent returns the agent's report, its top tags and the customer questions that preceded
// its last handoffs. NOT_FOUND for an agent outside the workspace.
func (s *Service) Agent(ctx context.Context, q Query) (AgentReport, error) {
	if q.Interval == "" {
		q.Interval = "day"
	}
	if q.AgentID == "" {
		return AgentReport{}, apperr.NotFoundf("Agent")
	}
	if err := s.check(ctx, q); err != nil {
		return AgentReport{}, err
	}
	rep, err := s.report(ctx, q)
	if err != nil {
		return AgentReport{}, err
	}
	tags, err := s.st.topTags(ctx, s.db, q.WorkspaceID, q.AgentID, q.Range.From, q.Range.end(), TopTags)
	if err != nil {
		return AgentReport{}, err
	}
	hq, err := s.st.handoffQuestions(ctx, s.db, q.WorkspaceID, q.AgentID, q.Range.From, q.Range.end(), HandoffQuestions)
	if err != nil {
		return AgentReport{}, err
	}
	return AgentReport{Report: rep, TopTags: tags, HandoffQuestions: hq}, nil
}

// Export calls each for every message of the workspace in r, oldest first, as the rows
// arrive from a database cursor, in one read-only transaction (one consistent snapshot).
func (s *Service) Export(ctx context.Context, workspaceID string, r Range, each func(*ExportRow) error) error {
	return pg.InTxOpts(ctx, s.db, &sql.TxOptions{ReadOnly: true}, func(tx *sqlx.Tx) error {
		return s.st.export(ctx, tx, workspaceID, r.From, r.end(), each)
	})
}

// Notifications lists recent handoffs and new conversations, newest first.
func (s *Service) Notifications(ctx context.Context, workspaceID string, req page.Request) ([]Notification, error) {
	at, id := req.After.Args()
	return s.st.notifications(ctx, s.db, workspaceID, at, id, req.Fetch())
}
