package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/axonhq/axon/bench/internal/benchenv"
)

// fill generates the analytics data server-side, with the shape of
// modules/analytics/explain_test.go's generator (TestExplainAtSize, the run that chose the
// indexes): n messages of workspace ws over [start, end) on its agents, plus n/10 in another
// workspace (other, one agent) so that every query filters. Conversations of 10 messages
// (USER/ASSISTANT alternating, 5 s apart), ASSISTANT latency 200..3000 ms; 8% handed off,
// 60% resolved, tags billing or shipping+returns.
func fill(ctx context.Context, db *sql.DB, ws string, agents []string, other, otherAgent string, n int, start, end time.Time) error {
	conn, err := db.Conn(ctx) // the generator table is per-session
	if err != nil {
		return err
	}
	defer conn.Close()
	exec := func(label, q string, args ...any) error {
		t0 := time.Now()
		res, err := conn.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		rows, _ := res.RowsAffected()
		benchenv.Logf("  %s: %d rows in %s", label, rows, time.Since(t0).Round(time.Millisecond))
		return nil
	}
	gen := func(ws string, agentIDs []string, msgs int) error {
		if err := exec("generator", `CREATE TEMP TABLE IF NOT EXISTS gen_conv (id uuid, at timestamptz, agent uuid)`); err != nil {
			return err
		}
		if err := exec("generator", `TRUNCATE gen_conv`); err != nil {
			return err
		}
		if err := exec("conversation times", `INSERT INTO gen_conv
SELECT gen_random_uuid(), $1::timestamptz - (random() * ($1::timestamptz - $2::timestamptz)), ($3::uuid[])[1 + (i % array_length($3::uuid[], 1))]
FROM generate_series(1, $4) AS i`, end, start, pq.Array(agentIDs), msgs/10); err != nil {
			return err
		}
		if err := exec("conversations", `INSERT INTO conversations (id, workspace_id, agent_id, channel_type, customer_name, status, tags, resolved_at, last_message_at, created_at)
SELECT id, $1, agent, 'WEB', 'c', CASE WHEN random() < 0.6 THEN 'RESOLVED' ELSE 'OPEN' END,
       CASE WHEN random() < 0.3 THEN ARRAY['billing'] ELSE ARRAY['shipping','returns'] END,
       CASE WHEN random() < 0.6 THEN at + interval '1 hour' END, at + interval '50 seconds', at
FROM gen_conv`, ws); err != nil {
			return err
		}
		if err := exec("messages", `INSERT INTO messages (id, conversation_id, workspace_id, role, content, latency_ms, confidence, created_at)
SELECT gen_random_uuid(), c.id, $1, CASE WHEN k % 2 = 0 THEN 'USER' ELSE 'ASSISTANT' END,
       repeat('lorem ipsum ', 8 + (k % 12)),
       CASE WHEN k % 2 = 1 THEN 200 + (random() * 2800)::int END,
       CASE WHEN k % 2 = 1 THEN random() END,
       c.at + k * interval '5 seconds'
FROM gen_conv c, generate_series(0, 9) AS k`, ws); err != nil {
			return err
		}
		return exec("handoffs", `INSERT INTO handoffs (id, conversation_id, workspace_id, trigger, destination, created_at)
SELECT gen_random_uuid(), id, $1, 'LOW_CONFIDENCE', 'EMAIL_QUEUE', at + interval '46 seconds' FROM gen_conv WHERE random() < 0.08`, ws)
	}
	if err := gen(ws, agents, n); err != nil {
		return err
	}
	if err := gen(other, []string{otherAgent}, n/10); err != nil {
		return err
	}
	for _, t := range []string{"messages", "conversations", "handoffs"} {
		if err := exec("vacuum analyze "+t, `VACUUM ANALYZE `+t); err != nil {
			return err
		}
	}
	return nil
}

// tenants inserts the agents of the registered workspace ws, and another workspace with one
// agent, directly (the bench owns its database; agents' plan limits are not the subject).
func tenants(ctx context.Context, db *sql.DB, ws string, nAgents int) (agents []string, other, otherAgent string, err error) {
	for i := range nAgents {
		var id string
		if err := db.QueryRowContext(ctx, `INSERT INTO agents (id, workspace_id, name, system_prompt)
			VALUES (gen_random_uuid(), $1, $2, 'You are a helpful support agent.') RETURNING id`, ws, fmt.Sprintf("Agent %d", i+1)).Scan(&id); err != nil {
			return nil, "", "", fmt.Errorf("agent: %w", err)
		}
		agents = append(agents, id)
	}
	if err := db.QueryRowContext(ctx, `INSERT INTO workspaces (id, name, slug) VALUES (gen_random_uuid(), 'Other', 'bench-other-' || md5(random()::text)) RETURNING id`).Scan(&other); err != nil {
		return nil, "", "", fmt.Errorf("workspace: %w", err)
	}
	if err := db.QueryRowContext(ctx, `INSERT INTO agents (id, workspace_id, name, system_prompt)
		VALUES (gen_random_uuid(), $1, 'Other agent', 'x') RETURNING id`, other).Scan(&otherAgent); err != nil {
		return nil, "", "", fmt.Errorf("agent: %w", err)
	}
	return agents, other, otherAgent, nil
}
