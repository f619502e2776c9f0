package analytics

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// The daily rollup of one UTC day [$1, $2) for every workspace, written as the rows of date
// $3: per (workspace, agent) and per workspace (agent_id NULL) through GROUPING SETS. $4/$5
// are the workspaces' consumed credits (billing's contract), put on the workspace rows. The
// upsert on the NULLS NOT DISTINCT key makes a re-run overwrite the same rows; rows of that
// date whose (workspace, agent) no longer has any activity are deleted, so a re-run after a
// deletion converges too. conversations, messages and handoffs are channels' tables, read
// here by the exception documented in module.go.
const qRollupDay = `
WITH msg AS (
    SELECT m.workspace_id, c.agent_id,
           count(*) AS total_messages,
           count(DISTINCT m.conversation_id) AS total_conversations,
           COALESCE(round(avg(m.latency_ms) FILTER (WHERE m.role = 'ASSISTANT')), 0)::int AS avg_latency_ms,
           COALESCE(round(percentile_cont(0.95) WITHIN GROUP (ORDER BY m.latency_ms)
                          FILTER (WHERE m.role = 'ASSISTANT')), 0)::int AS p95_latency_ms
    FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE m.created_at >= $1 AND m.created_at < $2
    GROUP BY GROUPING SETS ((m.workspace_id, c.agent_id), (m.workspace_id))
), hof AS (
    SELECT h.workspace_id, c.agent_id, count(*) AS handoffs
    FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
    WHERE h.created_at >= $1 AND h.created_at < $2
    GROUP BY GROUPING SETS ((h.workspace_id, c.agent_id), (h.workspace_id))
), res AS (
    SELECT workspace_id, agent_id, count(*) AS resolved
    FROM conversations
    WHERE resolved_at >= $1 AND resolved_at < $2
    GROUP BY GROUPING SETS ((workspace_id, agent_id), (workspace_id))
), cred AS (
    SELECT u.w AS workspace_id, NULL::uuid AS agent_id, u.n AS credits
    FROM unnest($4::uuid[], $5::int[]) AS u(w, n)
    WHERE EXISTS (SELECT 1 FROM workspaces ws WHERE ws.id = u.w)
), k AS (
    SELECT workspace_id, agent_id FROM msg
    UNION SELECT workspace_id, agent_id FROM hof
    UNION SELECT workspace_id, agent_id FROM res
    UNION SELECT workspace_id, agent_id FROM cred
), computed AS (
    SELECT k.workspace_id, k.agent_id,
           COALESCE(msg.total_messages, 0) AS total_messages,
           COALESCE(msg.total_conversations, 0) AS total_conversations,
           COALESCE(hof.handoffs, 0) AS handoffs,
           COALESCE(res.resolved, 0) AS resolved,
           COALESCE(msg.avg_latency_ms, 0) AS avg_latency_ms,
           COALESCE(msg.p95_latency_ms, 0) AS p95_latency_ms,
           COALESCE(cred.credits, 0) AS credits_consumed
    FROM k
    LEFT JOIN msg ON msg.workspace_id = k.workspace_id AND msg.agent_id IS NOT DISTINCT FROM k.agent_id
    LEFT JOIN hof ON hof.workspace_id = k.workspace_id AND hof.agent_id IS NOT DISTINCT FROM k.agent_id
    LEFT JOIN res ON res.workspace_id = k.workspace_id AND res.agent_id IS NOT DISTINCT FROM k.agent_id
    LEFT JOIN cred ON cred.workspace_id = k.workspace_id AND k.agent_id IS NULL
), up AS (
    INSERT INTO analytics_rollups (workspace_id, agent_id, date, total_messages, total_conversations,
        handoffs, resolved, avg_latency_ms, p95_latency_ms, voice_seconds, credits_consumed)
    SELECT workspace_id, agent_id, $3::date, total_messages, total_conversations, handoffs, resolved,
           avg_latency_ms, p95_latency_ms, 0, credits_consumed
    FROM computed
    ON CONFLICT (workspace_id, agent_id, date) DO UPDATE SET
        total_messages = EXCLUDED.total_messages, total_conversations = EXCLUDED.total_conversations,
        handoffs = EXCLUDED.handoffs, resolved = EXCLUDED.resolved,
        avg_latency_ms = EXCLUDED.avg_latency_ms, p95_latency_ms = EXCLUDED.p95_latency_ms,
        voice_seconds = EXCLUDED.voice_seconds, credits_consumed = EXCLUDED.credits_consumed
    RETURNING 1
), del AS (
    DELETE FROM analytics_rollups r
    WHERE r.date = $3::date
      AND NOT EXISTS (SELECT 1 FROM computed k WHERE k.workspace_id = r.workspace_id
                                                 AND k.agent_id IS NOT DISTINCT FROM r.agent_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM up) AS upserted, (SELECT count(*) FROM del) AS deleted`

// qLockDay serialises two rollups of the same day (the periodic job and a backfill).
const qLockDay = `SELECT pg_advisory_xact_lock(hashtext('analytics.rollup_day:' || $1))`

// The summary from the raw tables for [$2, $3); $4 is an agent id or NULL for the whole
// workspace. The agent filter goes through the workspace's conversations of that agent.
const (
	qSummaryMessages = `
SELECT count(*) AS total_messages,
       count(DISTINCT m.conversation_id) AS total_conversations,
       COALESCE(round(avg(m.latency_ms) FILTER (WHERE m.role = 'ASSISTANT')), 0)::int AS avg_latency_ms,
       COALESCE(round(percentile_cont(0.95) WITHIN GROUP (ORDER BY m.latency_ms)
                      FILTER (WHERE m.role = 'ASSISTANT')), 0)::int AS p95_latency_ms
FROM messages m
WHERE m.workspace_id = $1 AND m.created_at >= $2 AND m.created_at < $3
  AND ($4::uuid IS NULL OR m.conversation_id IN (
        SELECT c.id FROM conversations c WHERE c.workspace_id = $1 AND c.agent_id = $4::uuid))`

	qSummaryHandoffs = `
SELECT h.trigger, count(*) AS n
FROM handoffs h
WHERE h.workspace_id = $1 AND h.created_at >= $2 AND h.created_at < $3
  AND ($4::uuid IS NULL OR h.conversation_id IN (
        SELECT c.id FROM conversations c WHERE c.workspace_id = $1 AND c.agent_id = $4::uuid))
GROUP BY h.trigger`

	qSummaryResolved = `
SELECT count(*) FROM conversations
WHERE workspace_id = $1 AND resolved_at >= $2 AND resolved_at < $3
  AND ($4::uuid IS NULL OR agent_id = $4::uuid)`
)

// qSeries buckets the daily rollups of dates [$3, $4] by $5 ('day', 'week' or 'month'; a
// bucket is named by its first day), every bucket present (zeros when no rollup). $2 is an
// agent id, or NULL for the workspace rows. A bucket's avgLatencyMs is the daily averages
// weighted by the day's messages.
const qSeries = `
WITH b AS (
    SELECT DISTINCT date_trunc($5, d)::date AS bucket
    FROM generate_series($3::date, $4::date, interval '1 day') AS d
), r AS (
    SELECT date_trunc($5, date)::date AS bucket,
           sum(total_messages) AS messages,
           sum(total_conversations) AS conversations,
           sum(handoffs) AS handoffs,
           COALESCE(round(sum(avg_latency_ms::bigint * total_messages) FILTER (WHERE avg_latency_ms > 0)
                 / NULLIF(sum(total_messages) FILTER (WHERE avg_latency_ms > 0), 0)), 0) AS avg_latency_ms
    FROM analytics_rollups
    WHERE workspace_id = $1 AND date >= $3::date AND date <= $4::date
      AND (($2::uuid IS NULL AND agent_id IS NULL) OR agent_id = $2::uuid)
    GROUP BY 1
)
SELECT to_char(b.bucket, 'YYYY-MM-DD') AS date,
       COALESCE(r.messages, 0)::int AS messages,
       COALESCE(r.conversations, 0)::int AS conversations,
       COALESCE(r.handoffs, 0)::int AS handoffs,
       COALESCE(r.avg_latency_ms, 0)::int AS avg_latency_ms
FROM b LEFT JOIN r USING (bucket)
ORDER BY b.bucket`

// The agent page: top tags of the agent's conversations active in [$3, $4), and the USER
// message that preceded each of the agent's last $5 handoffs in the range.
const (
	qTopTags = `
SELECT tag, count(*) AS n
FROM conversations c, unnest(c.tags) AS tag
WHERE c.workspace_id = $1 AND c.agent_id = $2 AND c.last_message_at >= $3 AND c.created_at < $4
GROUP BY tag
ORDER BY n DESC, tag
LIMIT $5`

	qHandoffQuestions = `
SELECT h.id, h.conversation_id, h.trigger, h.created_at, q.content AS question
FROM handoffs h
JOIN conversations c ON c.id = h.conversation_id
LEFT JOIN LATERAL (
    SELECT m.content FROM messages m
    WHERE m.conversation_id = h.conversation_id AND m.role = 'USER' AND m.created_at <= h.created_at
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT 1) q ON true
WHERE h.workspace_id = $1 AND c.agent_id = $2 AND h.created_at >= $3 AND h.created_at < $4
ORDER BY h.created_at DESC, h.id DESC
LIMIT $5`
)

// qExport is one row per message of [$2, $3), oldest first; handed_off is true when the
// message's conversation has a handoff (a hashed subplan over the workspace's handoffs).
const qExport = `
SELECT m.created_at, m.conversation_id, c.agent_id, c.channel_type, m.role, m.content,
       m.confidence, m.latency_ms,
       m.conversation_id IN (SELECT h.conversation_id FROM handoffs h WHERE h.workspace_id = $1) AS handed_off
FROM messages m
JOIN conversations c ON c.id = m.conversation_id
WHERE m.workspace_id = $1 AND m.created_at >= $2 AND m.created_at < $3
ORDER BY m.created_at, m.id`

// qNotifications merges handoffs and new conversations, newest first, keyset-paginated on
// (created_at, id) (platform/page); each branch is limited first so both use their index.
const qNotifications = `
(SELECT h.id, 'HANDOFF' AS kind, h.conversation_id, c.agent_id, c.channel_type, c.customer_name,
        h.trigger, h.summary, h.created_at
 FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
 WHERE h.workspace_id = $1
   AND ($2::timestamptz IS NULL OR (h.created_at, h.id) < ($2::timestamptz, $3::uuid))
 ORDER BY h.created_at DESC, h.id DESC
 LIMIT $4)
UNION ALL
(SELECT c.id, 'NEW_CONVERSATION', c.id, c.agent_id, c.channel_type, c.customer_name,
        NULL, NULL, c.created_at
 FROM conversations c
 WHERE c.workspace_id = $1
   AND ($2::timestamptz IS NULL OR (c.created_at, c.id) < ($2::timestamptz, $3::uuid))
 ORDER BY c.created_at DESC, c.id DESC
 LIMIT $4)
ORDER BY created_at DESC, id DESC
LIMIT $4`

// store runs analytics' SQL on the pool or the caller's transaction.
type store struct{}

type rollupResult struct {
	Upserted int `db:"upserted"`
	Deleted  int `db:"deleted"`
}

func (store) lockDay(ctx context.Context, q sqlx.ExtContext, day string) error {
	_, err := q.ExecContext(ctx, qLockDay, day)
	return err
}

// rollupDay runs qRollupDay for the UTC day starting at from.
func (store) rollupDay(ctx context.Context, q sqlx.ExtContext, from time.Time, credits map[string]int) (rollupResult, error) {
	ids := make([]string, 0, len(credits))
	ns := make([]int64, 0, len(credits))
	for ws, n := range credits {
		ids = append(ids, ws)
		ns = append(ns, int64(n))
	}
	var r rollupResult
	err := sqlx.GetContext(ctx, q, &r, qRollupDay, from, from.AddDate(0, 0, 1), from.Format(time.DateOnly),
		pq.Array(ids), pq.Array(ns))
	if err != nil {
		return r, fmt.Errorf("analytics: rollup %s: %w", from.Format(time.DateOnly), err)
	}
	return r, nil
}

type summaryRow struct {
	TotalMessages      int `db:"total_messages"`
	TotalConversations int `db:"total_conversations"`
	AvgLatencyMs       int `db:"avg_latency_ms"`
	P95LatencyMs       int `db:"p95_latency_ms"`
}

// nullable turns "" into SQL NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (store) summaryMessages(ctx context.Context, q sqlx.QueryerContext, ws, agent string, from, to time.Time) (summaryRow, error) {
	var r summaryRow
	err := sqlx.GetContext(ctx, q, &r, qSummaryMessages, ws, from, to, nullable(agent))
	return r, err
}

func (store) summaryHandoffs(ctx context.Context, q sqlx.QueryerContext, ws, agent string, from, to time.Time) (map[string]int, error) {
	var rows []struct {
		Trigger string `db:"trigger"`
		N       int    `db:"n"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, qSummaryHandoffs, ws, from, to, nullable(agent)); err != nil {
		return nil, err
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.Trigger] = r.N
	}
	return out, nil
}

func (store) summaryResolved(ctx context.Context, q sqlx.QueryerContext, ws, agent string, from, to time.Time) (int, error) {
	var n int
	err := sqlx.GetContext(ctx, q, &n, qSummaryResolved, ws, from, to, nullable(agent))
	return n, err
}

// Point is one bucket of a series.
type Point struct {
	Date          string `db:"date" json:"date"`
	Messages      int    `db:"messages" json:"messages"`
	Conversations int    `db:"conversations" json:"conversations"`
	Handoffs      int    `db:"handoffs" json:"handoffs"`
	AvgLatencyMs  int    `db:"avg_latency_ms" json:"avgLatencyMs"`
}

func (store) series(ctx context.Context, q sqlx.QueryerContext, ws, agent string, from, to time.Time, interval string) ([]Point, error) {
	out := []Point{}
	err := sqlx.SelectContext(ctx, q, &out, qSeries, ws, nullable(agent), from.Format(time.DateOnly), to.Format(time.DateOnly), interval)
	return out, err
}

// TagCount is one of an agent's top tags.
type TagCount struct {
	Tag   string `db:"tag" json:"tag"`
	Count int    `db:"n" json:"count"`
}

func (store) topTags(ctx context.Context, q sqlx.QueryerContext, ws, agent string, from, to time.Time, n int) ([]TagCount, error) {
	out := []TagCount{}
	err := sqlx.SelectContext(ctx, q, &out, qTopTags, ws, agent, from, to, n)
	return out, err
}

// HandoffQuestion is a handoff with the customer message that preceded it.
type HandoffQuestion struct {
	HandoffID      string    `db:"id"`
	ConversationID string    `db:"conversation_id"`
	Trigger        string    `db:"trigger"`
	CreatedAt      time.Time `db:"created_at"`
	Question       *string   `db:"question"`
}

func (store) handoffQuestions(ctx context.Context, q sqlx.QueryerContext, ws, agent string, from, to time.Time, n int) ([]HandoffQuestion, error) {
	out := []HandoffQuestion{}
	err := sqlx.SelectContext(ctx, q, &out, qHandoffQuestions, ws, agent, from, to, n)
	return out, err
}

// ExportRow is one exported message.
type ExportRow struct {
	CreatedAt      time.Time `db:"created_at"`
	ConversationID string    `db:"conversation_id"`
	AgentID        string    `db:"agent_id"`
	ChannelType    string    `db:"channel_type"`
	Role           string    `db:"role"`
	Content        string    `db:"content"`
	Confidence     *float64  `db:"confidence"`
	LatencyMs      *int      `db:"latency_ms"`
	HandedOff      bool      `db:"handed_off"`
}

// ExportBatch is how many rows one FETCH of the export cursor returns.
const ExportBatch = 1000

// export declares a server-side cursor over qExport in tx and FETCHes it ExportBatch rows at
// a time, calling each per row, so neither Postgres nor this process holds the result: a
// cursor is planned for a fast first row (cursor_tuple_fraction), which here means walking
// the (workspace_id, created_at, id) index in order instead of sorting the range first
// (docs/decisions.md, the EXPLAIN numbers). An error from each stops the export.
func (store) export(ctx context.Context, tx *sqlx.Tx, ws string, from, to time.Time, each func(*ExportRow) error) error {
	if _, err := tx.ExecContext(ctx, `DECLARE analytics_export NO SCROLL CURSOR FOR `+qExport, ws, from, to); err != nil {
		return err
	}
	for {
		n, err := fetchExport(ctx, tx, each)
		if err != nil || n < ExportBatch {
			return err
		}
	}
}

// fetchExport reads one batch of the export cursor with sqlx.Rows and returns its size.
func fetchExport(ctx context.Context, tx *sqlx.Tx, each func(*ExportRow) error) (n int, err error) {
	rows, err := tx.QueryxContext(ctx, `FETCH `+strconv.Itoa(ExportBatch)+` FROM analytics_export`)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
	}()
	var r ExportRow
	for rows.Next() {
		r = ExportRow{}
		if err := rows.StructScan(&r); err != nil {
			return n, err
		}
		n++
		if err := each(&r); err != nil {
			return n, err
		}
	}
	return n, rows.Err()
}

// Notification is a recent handoff or new conversation.
type Notification struct {
	ID             string    `db:"id"`
	Kind           string    `db:"kind"`
	ConversationID string    `db:"conversation_id"`
	AgentID        string    `db:"agent_id"`
	ChannelType    string    `db:"channel_type"`
	CustomerName   *string   `db:"customer_name"`
	Trigger        *string   `db:"trigger"`
	Summary        *string   `db:"summary"`
	CreatedAt      time.Time `db:"created_at"`
}

func (store) notifications(ctx context.Context, q sqlx.QueryerContext, ws string, at, id any, fetch int) ([]Notification, error) {
	out := []Notification{}
	err := sqlx.SelectContext(ctx, q, &out, qNotifications, ws, at, id, fetch)
	return out, err
}
