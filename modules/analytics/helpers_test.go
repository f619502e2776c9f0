package analytics

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/modules/auth"
	"github.com/axonhq/axon/modules/billing"
	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/modules/email"
	"github.com/axonhq/axon/modules/internal/apptest"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// harness is the analytics module behind the real HTTP stack, with billing built for its
// ledger (Usage, and Credits to record consumption).
type harness struct {
	*apptest.Env
	mod  *Module
	bill *billing.Module
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{}
	h.Env = apptest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		mail, err := email.New(email.Deps{DB: d.DB, Queue: d.Queue, Sender: email.LogSender{Log: d.Log}, Log: d.Log, AppURL: "http://app.test"})
		if err != nil {
			return nil, err
		}
		dir := auth.NewDirectory(d.DB)
		h.bill, err = billing.New(billing.Deps{DB: d.DB, Queue: d.Queue, Publisher: d.Publisher, Mailer: mail.Mailer(), Log: d.Log, Authed: d.Authed, Roles: dir, Addresses: dir})
		if err != nil {
			return nil, err
		}
		h.mod, err = New(Deps{DB: d.DB, Credits: h.bill.Usage(), Agents: agents.NewDirectory(d.DB), Log: d.Log, Authed: d.Authed})
		if err != nil {
			return nil, err
		}
		return []kernel.Module{h.mod}, nil
	})
	return h
}

func (h *harness) workspace() apitest.Workspace { return h.NewWorkspace(plans.Starter, 1000) }

// Fixtures in channels' and agents' tables. Neither module exports a helper that writes a
// conversation, message or handoff at a chosen time with a chosen latency (their services
// stamp now() and need the AI pipeline), so these tests write those rows themselves; the
// columns are the ones of db/migrations/00005 and 00007.

func (h *harness) agent(ws string) string {
	h.T.Helper()
	id := pg.NewID()
	h.exec(`INSERT INTO agents (id, workspace_id, name, system_prompt) VALUES ($1, $2, 'Support', 'Be helpful.')`, id, ws)
	return id
}

type conv struct {
	id, ws, agent string
}

func (h *harness) conv(ws, agent string, at time.Time, tags []string, resolvedAt *time.Time) conv {
	h.T.Helper()
	id := pg.NewID()
	if tags == nil {
		tags = []string{}
	}
	h.exec(`INSERT INTO conversations (id, workspace_id, agent_id, channel_type, customer_name, status, tags, resolved_at, last_message_at, created_at)
VALUES ($1, $2, $3, 'WEB', 'Ada', CASE WHEN $4::timestamptz IS NULL THEN 'OPEN' ELSE 'RESOLVED' END, $5, $4, $6, $6)`,
		id, ws, agent, resolvedAt, pq.Array(tags), at)
	return conv{id: id, ws: ws, agent: agent}
}

func (h *harness) msg(c conv, role, content string, at time.Time, latency int) string {
	h.T.Helper()
	id := pg.NewID()
	var lat any
	if latency > 0 {
		lat = latency
	}
	h.exec(`INSERT INTO messages (id, conversation_id, workspace_id, role, content, latency_ms, confidence, created_at) VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $4 = 'ASSISTANT' THEN 0.8 END, $7)`,
		id, c.id, c.ws, role, content, lat, at)
	h.exec(`UPDATE conversations SET last_message_at = GREATEST(last_message_at, $2) WHERE id = $1`, c.id, at)
	return id
}

func (h *harness) handoff(c conv, trigger string, at time.Time) string {
	h.T.Helper()
	id := pg.NewID()
	h.exec(`INSERT INTO handoffs (id, conversation_id, workspace_id, trigger, destination, summary, created_at) VALUES ($1, $2, $3, $4, 'EMAIL_QUEUE', 'needs a human', $5)`,
		id, c.id, c.ws, trigger, at)
	return id
}

func (h *harness) exec(q string, args ...any) {
	h.T.Helper()
	if _, err := h.DB.Exec(q, args...); err != nil {
		h.T.Fatalf("%v\n%s", err, q)
	}
}

// consume records a MESSAGE_CONSUMED deduction through billing's Credits (stamped now).
func (h *harness) consume(ws string, n int, key string) {
	h.T.Helper()
	_, err := h.bill.Credits().Deduct(context.Background(), nil, billing.Deduction{WorkspaceID: ws, Amount: n, Reason: billing.ReasonMessageConsumed, IdempotencyKey: key})
	if err != nil {
		h.T.Fatal(err)
	}
}

type rollupRow struct {
	AgentID            *string `db:"agent_id"`
	TotalMessages      int     `db:"total_messages"`
	TotalConversations int     `db:"total_conversations"`
	Handoffs           int     `db:"handoffs"`
	Resolved           int     `db:"resolved"`
	AvgLatencyMs       int     `db:"avg_latency_ms"`
	P95LatencyMs       int     `db:"p95_latency_ms"`
	VoiceSeconds       int     `db:"voice_seconds"`
	CreditsConsumed    int     `db:"credits_consumed"`
}

// rollups returns the workspace's rollup rows of a day, the workspace row (agent NULL) first.
func (h *harness) rollups(ws string, day string) []rollupRow {
	h.T.Helper()
	var rows []rollupRow
	if err := sqlx.Select(h.DB, &rows, `SELECT agent_id, total_messages, total_conversations, handoffs, resolved, avg_latency_ms, p95_latency_ms, voice_seconds, credits_consumed
FROM analytics_rollups WHERE workspace_id = $1 AND date = $2 ORDER BY agent_id NULLS FIRST`, ws, day); err != nil {
		h.T.Fatal(err)
	}
	return rows
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
