package analytics

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// TestExplainAtSize generates AXON_EXPLAIN_MESSAGES messages (e.g. 1000000) over 90 days in
// one workspace (plus a tenth as many in another), then prints EXPLAIN (ANALYZE, BUFFERS) of
// the summary, export and rollup queries without and with the indexes of
// db/migrations/00028_analytics_messages_indexes.sql. It is how they were chosen
// (docs/decisions.md); skipped unless the variable is set. Not parallel: it measures.
func TestExplainAtSize(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AXON_EXPLAIN_MESSAGES"))
	if n <= 0 {
		t.Skip("set AXON_EXPLAIN_MESSAGES=1000000 to measure")
	}
	h := newHarness(t)
	db := pgtest.DB(t)
	w, other := h.workspace(), h.workspace()
	agents := []string{h.agent(w.ID), h.agent(w.ID), h.agent(w.ID), h.agent(w.ID), h.agent(w.ID)}
	oa := h.agent(other.ID)
	start := time.Now()
	end := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
	gen := func(ws string, agentIDs []string, msgs int) {
		convs := msgs / 10
		// Conversations spread over 90 days; 10 messages each (USER/ASSISTANT alternating,
		// a few seconds apart), ASSISTANT latency 200..3000 ms; 8% handed off, 60% resolved.
		mustExec(t, db, `CREATE TEMP TABLE IF NOT EXISTS gen_conv (id uuid, at timestamptz, agent uuid)`)
		mustExec(t, db, `TRUNCATE gen_conv`)
		mustExec(t, db, `INSERT INTO gen_conv
SELECT gen_random_uuid(), $1::timestamptz - (random() * interval '90 days'), ($2::uuid[])[1 + (i % array_length($2::uuid[], 1))]
FROM generate_series(1, $3) AS i`, end, pq.Array(agentIDs), convs)
		mustExec(t, db, `INSERT INTO conversations (id, workspace_id, agent_id, channel_type, customer_name, status, tags, resolved_at, last_message_at, created_at)
SELECT id, $1, agent, 'WEB', 'c', CASE WHEN random() < 0.6 THEN 'RESOLVED' ELSE 'OPEN' END,
       CASE WHEN random() < 0.3 THEN ARRAY['billing'] ELSE ARRAY['shipping','returns'] END,
       CASE WHEN random() < 0.6 THEN at + interval '1 hour' END, at + interval '50 seconds', at
FROM gen_conv`, ws)
		mustExec(t, db, `INSERT INTO messages (id, conversation_id, workspace_id, role, content, latency_ms, confidence, created_at)
SELECT gen_random_uuid(), c.id, $1, CASE WHEN k % 2 = 0 THEN 'USER' ELSE 'ASSISTANT' END,
       repeat('lorem ipsum ', 8 + (k % 12)),
       CASE WHEN k % 2 = 1 THEN 200 + (random() * 2800)::int END,
       CASE WHEN k % 2 = 1 THEN random() END,
       c.at + k * interval '5 seconds'
FROM gen_conv c, generate_series(0, 9) AS k`, ws)
		mustExec(t, db, `INSERT INTO handoffs (id, conversation_id, workspace_id, trigger, destination, created_at)
SELECT gen_random_uuid(), id, $1, 'LOW_CONFIDENCE', 'EMAIL_QUEUE', at + interval '46 seconds' FROM gen_conv WHERE random() < 0.08`, ws)
	}
	gen(w.ID, agents, n)
	gen(other.ID, []string{oa}, n/10)
	mustExec(t, db, `VACUUM ANALYZE messages`)
	mustExec(t, db, `VACUUM ANALYZE conversations`)
	mustExec(t, db, `VACUUM ANALYZE handoffs`)
	t.Logf("generated %d + %d messages in %s", n, n/10, time.Since(start).Round(time.Second))

	from30, to := end.AddDate(0, 0, -30), end
	from90 := end.AddDate(0, 0, -90)
	explain := func(label, q string, args ...any) {
		var lines []string
		if err := db.Select(&lines, "EXPLAIN (ANALYZE, BUFFERS) "+q, args...); err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		t.Logf("--- %s\n%s", label, strings.Join(lines, "\n"))
	}
	run := func(tag string) {
		explain(tag+" summary 30 days", qSummaryMessages, w.ID, from30, to, nil)
		explain(tag+" summary 90 days", qSummaryMessages, w.ID, from90, to, nil)
		explain(tag+" summary 30 days one agent", qSummaryMessages, w.ID, from30, to, agents[0])
		explain(tag+" handoffs 90 days", qSummaryHandoffs, w.ID, from90, to, nil)
		explain(tag+" export 90 days", qExport, w.ID, from90, to)
		// The export as the route runs it: a cursor, FETCHed in batches; first batch and total.
		t0 := time.Now()
		first, rows := time.Duration(0), 0
		err := pg.InTxOpts(context.Background(), db, &sql.TxOptions{ReadOnly: true}, func(tx *sqlx.Tx) error {
			return store{}.export(context.Background(), tx, w.ID, from90, to, func(*ExportRow) error {
				if rows == 0 {
					first = time.Since(t0)
				}
				rows++
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("--- %s export cursor 90 days: %d rows, first row after %s, all in %s (%.0f rows/s)", tag, rows,
			first.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), float64(rows)/time.Since(t0).Seconds())
		explain(tag+" rollup one day", strings.Replace(qRollupDay, "$4::uuid[], $5::int[]", "'{}'::uuid[], '{}'::int[]", 1),
			end.AddDate(0, 0, -2), end.AddDate(0, 0, -1), end.AddDate(0, 0, -2).Format(time.DateOnly))
	}
	mustExec(t, db, `DROP INDEX IF EXISTS messages_workspace_created_cover_idx`)
	mustExec(t, db, `DROP INDEX IF EXISTS messages_created_idx`)
	run("BEFORE")
	mustExec(t, db, `CREATE INDEX messages_workspace_created_cover_idx ON messages (workspace_id, created_at, id) INCLUDE (conversation_id, role, latency_ms)`)
	mustExec(t, db, `CREATE INDEX messages_created_idx ON messages (created_at)`)
	mustExec(t, db, `VACUUM ANALYZE messages`)
	run("AFTER")
}

func mustExec(t *testing.T, db *pg.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
}
