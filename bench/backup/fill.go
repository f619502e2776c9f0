package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/axonhq/axon/bench/internal/benchenv"
)

// Shape of the generated tenant base, scaled from -messages.
const (
	workspaces     = 50
	agentsPerWS    = 4
	msgsPerConv    = 8
	chunksPerDoc   = 20
	sentencePool   = 20_000
	handoffPercent = 6
)

// id is an ordered uuid for row g of a table (its tag 1..255), like the UUIDv7 ids the
// app writes: new rows land at the right edge of the primary key's B-tree.
func id(tag int, g string) string {
	return fmt.Sprintf(`('0190%02x00-0000-7000-8000-' || lpad(to_hex(%s), 12, '0'))::uuid`, tag, g)
}

// fill writes the rows server-side, one statement per table, and builds the vector index
// after the chunks are in (an HNSW index takes inserts at ~80 rows/s, a build minutes).
func fill(ctx context.Context, url string, o options) error {
	d, err := sql.Open("postgres", url)
	if err != nil {
		return err
	}
	defer d.Close()
	d.SetMaxOpenConns(1)
	conv := o.messages / msgsPerConv
	docs := max(1, o.chunks/chunksPerDoc)
	nAgents := workspaces * agentsPerWS
	words := `'{account,billing,refund,order,shipping,delivery,password,reset,login,invoice,plan,upgrade,cancel,subscription,help,thanks,please,widget,agent,support,hours,weekend,return,policy,package,tracking,number,card,payment,failed,charge,email,address,update,profile,team,member,invite,export,report,integration,slack,whatsapp,telegram,question,answer,today,tomorrow,monday,friday,the,a,to,my,is,it,and,for,of,can,you,i,not,with,how,what,when,why,where,do,does,have,we,our,your,this,that,please,still,again,just,already,yesterday,week,month,price,discount,coupon,store,product,size,color,warranty,repair,exchange}'::text[]`
	steps := []struct {
		name string
		sql  string
	}{
		{"sentence pool", `CREATE UNLOGGED TABLE bench_sentences AS
			SELECT s AS n, initcap(array_to_string(ARRAY(
				SELECT (` + words + `)[1 + floor(random() * 100)::int] FROM generate_series(1, 8 + (s % 23)) WHERE s >= 0), ' ')) || '.' AS text
			FROM generate_series(0, ` + itoa(sentencePool-1) + `) s;
			ALTER TABLE bench_sentences ADD PRIMARY KEY (n);
			ANALYZE bench_sentences`},
		{"users", `INSERT INTO users (id, email, password_hash, name, email_verified, created_at)
			SELECT ` + id(1, "g") + `, 'owner' || g || '@bench.example', '$2a$10$abcdefghijklmnopqrstuvabcdefghijklmnopqrstuvwxyzabcde', 'Owner ' || g, true, now() - interval '400 days'
			FROM generate_series(1, ` + itoa(workspaces) + `) g`},
		{"workspaces", `INSERT INTO workspaces (id, name, slug, plan, credit_balance, created_at)
			SELECT ` + id(2, "g") + `, 'Workspace ' || g, 'bench-ws-' || g, (ARRAY['STARTER','BUILDER','PRO','ENTERPRISE'])[1 + g % 4], 1000 + g * 37, now() - interval '400 days'
			FROM generate_series(1, ` + itoa(workspaces) + `) g`},
		{"workspace members", `INSERT INTO workspace_members (workspace_id, user_id, role)
			SELECT ` + id(2, "g") + `, ` + id(1, "g") + `, 'OWNER' FROM generate_series(1, ` + itoa(workspaces) + `) g`},
		{"agents", `INSERT INTO agents (id, workspace_id, name, system_prompt, handoff_dest, tagging_enabled, available_tags)
			SELECT ` + id(3, "g") + `, ` + id(2, "1 + (g - 1) / "+itoa(agentsPerWS)) + `, 'Agent ' || g,
				'You are a helpful support agent for store ' || g || '. Answer from the knowledge base; be brief and friendly.',
				(ARRAY['NONE','EMAIL_QUEUE','ZENDESK','FRESHDESK'])[1 + g % 4], g % 2 = 0, '{billing,shipping,returns,account}'
			FROM generate_series(1, ` + itoa(nAgents) + `) g`},
		{"knowledge docs", `INSERT INTO knowledge_docs (id, workspace_id, agent_id, type, title, status, source_url, chunk_count, content_sha256, created_at)
			SELECT ` + id(4, "g") + `, ` + id(2, "1 + ((g - 1) % "+itoa(nAgents)+") / "+itoa(agentsPerWS)) + `, ` + id(3, "1 + (g - 1) % "+itoa(nAgents)) + `,
				(ARRAY['TEXT','URL','PDF','QA'])[1 + g % 4], 'Help article ' || g, 'READY', 'https://help.example.com/articles/' || g,
				` + itoa(chunksPerDoc) + `, md5(g::text) || md5((g + 1)::text), now() - (g % 300) * interval '1 day'
			FROM generate_series(1, ` + itoa(docs) + `) g`},
		{"drop vector index", `DROP INDEX IF EXISTS knowledge_chunks_embedding_idx`},
		{"knowledge chunks (1536-d vectors)", `INSERT INTO knowledge_chunks (id, doc_id, workspace_id, agent_id, chunk_idx, content, embedding, metadata)
			SELECT ` + id(5, "g") + `, ` + id(4, "1 + (g - 1) / "+itoa(chunksPerDoc)) + `,
				` + id(2, "1 + (((g - 1) / "+itoa(chunksPerDoc)+") % "+itoa(nAgents)+") / "+itoa(agentsPerWS)) + `,
				` + id(3, "1 + ((g - 1) / "+itoa(chunksPerDoc)+") % "+itoa(nAgents)) + `,
				(g - 1) % ` + itoa(chunksPerDoc) + `,
				s1.text || ' ' || s2.text || ' ' || s3.text || ' ' || s4.text || ' ' || s5.text || ' ' || s6.text,
				(SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 1536) WHERE g > 0)::vector(1536),
				jsonb_build_object('page', 1 + (g - 1) % ` + itoa(chunksPerDoc) + `, 'heading', 'Section ' || g % 7)
			FROM generate_series(1, ` + itoa(o.chunks) + `) g
			JOIN bench_sentences s1 ON s1.n = g % ` + itoa(sentencePool) + `
			JOIN bench_sentences s2 ON s2.n = (g * 7) % ` + itoa(sentencePool) + `
			JOIN bench_sentences s3 ON s3.n = (g * 13) % ` + itoa(sentencePool) + `
			JOIN bench_sentences s4 ON s4.n = (g * 17) % ` + itoa(sentencePool) + `
			JOIN bench_sentences s5 ON s5.n = (g * 19) % ` + itoa(sentencePool) + `
			JOIN bench_sentences s6 ON s6.n = (g * 23) % ` + itoa(sentencePool)},
		{"vector index (HNSW, maintenance_work_mem 1GB)", `SET maintenance_work_mem = '1GB';
			CREATE INDEX knowledge_chunks_embedding_idx ON knowledge_chunks USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
			RESET maintenance_work_mem`},
		{"conversations", `INSERT INTO conversations (id, workspace_id, agent_id, channel_type, external_id, customer_id, customer_name, status, sentiment, intent_score, tags, metadata, resolved_at, last_message_at, created_at, updated_at)
			SELECT ` + id(6, "g") + `, ` + id(2, "1 + ((g - 1) % "+itoa(nAgents)+") / "+itoa(agentsPerWS)) + `, ` + id(3, "1 + (g - 1) % "+itoa(nAgents)) + `,
				(ARRAY['WEB','WEB','WEB','WHATSAPP','TELEGRAM','MESSENGER','SLACK','SMS','EMAIL'])[1 + g % 9],
				'ext-' || g, 'cust-' || (g % 50000), 'Customer ' || (g % 50000),
				(ARRAY['RESOLVED','RESOLVED','RESOLVED','OPEN','HANDED_OFF','ABANDONED'])[1 + g % 6],
				(g % 100) / 100.0, ((g * 7) % 100) / 100.0,
				CASE WHEN g % 3 = 0 THEN '{billing}'::text[] WHEN g % 3 = 1 THEN '{shipping,returns}'::text[] ELSE '{}'::text[] END,
				jsonb_build_object('locale', 'en', 'page', '/products/' || (g % 500)),
				CASE WHEN g % 6 < 3 THEN ts + interval '20 minutes' END, ts + interval '15 minutes', ts, ts + interval '15 minutes'
			FROM (SELECT g, now() - interval '90 days' + (g::float8 / ` + itoa(max(conv, 1)) + `) * interval '90 days' AS ts
			      FROM generate_series(1, ` + itoa(conv) + `) g) c`},
		{"messages", `INSERT INTO messages (id, conversation_id, workspace_id, role, content, confidence, latency_ms, tokens, channel_msg_id, delivery_status, metadata, created_at)
			SELECT ` + id(7, "g") + `, ` + id(6, "c") + `, ` + id(2, "1 + ((c - 1) % "+itoa(nAgents)+") / "+itoa(agentsPerWS)) + `,
				CASE WHEN g % 2 = 1 THEN 'USER' WHEN g % 97 = 0 THEN 'SYSTEM' WHEN g % 89 = 0 THEN 'HUMAN_AGENT' ELSE 'ASSISTANT' END,
				CASE WHEN g % 2 = 1 THEN s1.text ELSE s1.text || ' ' || s2.text || ' ' || s3.text END,
				CASE WHEN g % 2 = 0 THEN 0.4 + (g % 60) / 100.0 END,
				CASE WHEN g % 2 = 0 THEN 300 + (g * 37) % 4000 END,
				CASE WHEN g % 2 = 0 THEN 40 + g % 400 END,
				CASE WHEN g % 2 = 1 THEN 'wamid.' || g END,
				CASE WHEN g % 2 = 0 THEN 'SENT' END,
				CASE WHEN g % 2 = 0 THEN '{"model":"gpt-4o-mini","sources":[1,3]}'::jsonb ELSE '{}'::jsonb END,
				now() - interval '90 days' + (c::float8 / ` + itoa(max(conv, 1)) + `) * interval '90 days' + ((g - 1) % ` + itoa(msgsPerConv) + `) * interval '1 minute'
			FROM (SELECT g, 1 + (g - 1) / ` + itoa(msgsPerConv) + ` AS c FROM generate_series(1, ` + itoa(conv*msgsPerConv) + `) g) m
			JOIN bench_sentences s1 ON s1.n = (g * 3) % ` + itoa(sentencePool) + `
			JOIN bench_sentences s2 ON s2.n = (g * 11) % ` + itoa(sentencePool) + `
			JOIN bench_sentences s3 ON s3.n = (g * 29) % ` + itoa(sentencePool)},
		{"handoffs", `INSERT INTO handoffs (id, conversation_id, workspace_id, trigger, confidence, summary, destination, created_at)
			SELECT ` + id(8, "g") + `, ` + id(6, "g") + `, ` + id(2, "1 + ((g - 1) % "+itoa(nAgents)+") / "+itoa(agentsPerWS)) + `,
				(ARRAY['LOW_CONFIDENCE','ANGER_DETECTED','EXPLICIT_REQUEST','BUSINESS_HOURS'])[1 + g % 4], (g % 60) / 100.0,
				'- Customer asked about order ' || g || E'\n- Tried the return policy article\n- Sentiment: neutral\n- Handed off: low confidence',
				'EMAIL_QUEUE', now() - interval '90 days' + (g::float8 / ` + itoa(max(conv, 1)) + `) * interval '90 days'
			FROM generate_series(1, ` + itoa(conv) + `) g WHERE g % ` + itoa(100/handoffPercent) + ` = 0`},
		{"credit ledger", `INSERT INTO credit_ledger (id, workspace_id, delta, reason, ref_id, idempotency_key, balance, created_at)
			SELECT ` + id(9, "g") + `, ` + id(2, "1 + g % "+itoa(workspaces)) + `,
				CASE WHEN g % 1000 = 0 THEN 10000 WHEN g % 17 = 0 THEN -2 ELSE -1 END,
				CASE WHEN g % 1000 = 0 THEN 'PLAN_GRANT' WHEN g % 17 = 0 THEN 'TAGGING_CONSUMED' ELSE 'MESSAGE_CONSUMED' END,
				` + id(7, "g") + `::text, 'msg:' || g, 100000 - g % 100000,
				now() - interval '90 days' + (g::float8 / ` + itoa(max(o.ledger, 1)) + `) * interval '90 days'
			FROM generate_series(1, ` + itoa(o.ledger) + `) g`},
		{"river jobs (completed)", `INSERT INTO river_job (state, attempt, max_attempts, attempted_at, attempted_by, created_at, finalized_at, scheduled_at, args, kind, queue)
			SELECT 'completed', 1, 5, ts + interval '5 ms', ARRAY['axon-worker-1'], ts, ts + interval '80 ms', ts,
				jsonb_build_object('conversationId', ` + id(6, "1 + g % "+itoa(max(conv, 1))) + `, 'messageId', ` + id(7, "g") + `),
				(ARRAY['channels.process_inbound','channels.send_message','email.send','ingestion.ingest_doc'])[1 + g % 4],
				(ARRAY['inbound','outbound','email','ingestion'])[1 + g % 4]
			FROM (SELECT g, now() - interval '3 days' + (g::float8 / ` + itoa(max(o.jobs, 1)) + `) * interval '3 days' AS ts
			      FROM generate_series(1, ` + itoa(o.jobs) + `) g) j`},
		{"drop sentence pool", `DROP TABLE bench_sentences`},
		{"vacuum analyze", `VACUUM ANALYZE`},
	}
	total := time.Now()
	for _, s := range steps {
		start := time.Now()
		for _, stmt := range splitStatements(s.sql) {
			if _, err := d.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("fill %s: %w", s.name, err)
			}
		}
		benchenv.Logf("fill %-45s %6.1f s", s.name, time.Since(start).Seconds())
	}
	benchenv.Logf("fill done in %.0f s", time.Since(total).Seconds())
	return nil
}

// splitStatements splits the few multi-statement steps at ";\n" (no literal here holds one).
func splitStatements(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func itoa(n int) string { return fmt.Sprint(n) }
