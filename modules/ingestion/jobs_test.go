package ingestion

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/platform/ai"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/storage"
	"github.com/axonhq/axon/platform/testkit/apitest"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// helperEnv makes the test binary act as a bare ingestion worker (see
// TestWorkerKilledMidIngestion); helperModeEnv picks its embedder: "block" or "instant".
const (
	helperEnv     = "INGESTION_HELPER_WORKER_DB"
	helperModeEnv = "INGESTION_HELPER_WORKER_MODE"
	// helperAllowPrivateEnv lets the helper fetch the tests' loopback servers.
	helperAllowPrivateEnv = "INGESTION_HELPER_ALLOW_PRIVATE"
)

func TestMain(m *testing.M) {
	// The test binary is the ingestion's extraction child too (Deps.ExtractCommand's
	// default runs this executable with "extract-child KIND").
	if len(os.Args) > 2 && os.Args[1] == ChildCommand && os.Args[2] == "alloc-test" {
		os.Exit(childAllocTest())
	}
	if len(os.Args) > 1 && os.Args[1] == ChildCommand {
		os.Exit(ExtractChildMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	if url := os.Getenv(helperEnv); url != "" {
		os.Exit(helperWorker(url, os.Getenv(helperModeEnv)))
	}
	os.Exit(m.Run())
}

// blockingEmbedder announces each call on stdout and then blocks until its context ends.
type blockingEmbedder struct{ out io.Writer }

func (b blockingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	fmt.Fprintf(b.out, "EMBEDDING %d\n", len(texts))
	<-ctx.Done()
	return nil, ctx.Err()
}
func (blockingEmbedder) Dimensions() int { return ai.EmbeddingDimensions }
func (blockingEmbedder) Model() string   { return ai.OfflineEmbeddingModel }

// noAuth stands in for the login middleware where no route is served.
func noAuth(next echo.HandlerFunc) echo.HandlerFunc { return next }

func helperEmbedder(mode string) ai.Embedder {
	if mode == "instant" {
		return instantEmbedder{vecs: [][]float32{unitVector(ai.EmbeddingDimensions, 0)}}
	}
	return blockingEmbedder{out: os.Stdout}
}

// unitVector is the unit vector along dimension i.
func unitVector(dims, i int) []float32 {
	v := make([]float32, dims)
	v[i] = 1
	return v
}

// helperWorker runs an ingestion worker until it is killed. Its embedder blocks (mode
// "block") or answers at once (mode "instant").
func helperWorker(url, mode string) int {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := pg.Open(ctx, pg.Options{URL: url, MaxConns: 4})
	if err != nil {
		fmt.Println("helper:", err)
		return 1
	}
	dir, _ := os.MkdirTemp("", "ingest-helper")
	defer os.RemoveAll(dir)
	m, err := New(Deps{
		DB: db, Queue: &queue.Lazy{}, Publisher: realtime.PG{}, Cache: cache.NewMemory(10),
		Embedder: helperEmbedder(mode), Store: storage.NewLocal(dir, "http://x", nil),
		Agents: agents.NewDirectory(db), Log: log, Authed: []echo.MiddlewareFunc{noAuth},
		AllowPrivate: os.Getenv(helperAllowPrivateEnv) != "",
	})
	if err != nil {
		fmt.Println("helper:", err)
		return 1
	}
	workers := river.NewWorkers()
	if err := m.Workers(workers); err != nil {
		fmt.Println("helper:", err)
		return 1
	}
	w, err := queue.NewWorker(ctx, queue.WorkerOptions{DB: db.DB.DB, DatabaseURL: url, Workers: workers, Logger: log})
	if err == nil {
		err = w.Start(ctx)
	}
	if err != nil {
		fmt.Println("helper:", err)
		return 1
	}
	fmt.Println("READY")
	time.Sleep(time.Minute) // the test kills the process long before
	return 2
}

// TestWorkerKilledMidIngestion kills a real worker process with SIGKILL in the middle of
// an ingestion, once while it embeds and once while it COPYs the chunks; a new worker's
// sweep notices the stopped heartbeat and requeues the document, which ends READY once,
// with exactly its chunks.
func TestWorkerKilledMidIngestion(t *testing.T) {
	for _, phase := range []string{"embedding", "copy"} {
		t.Run(phase, func(t *testing.T) { killMidIngestion(t, phase) })
	}
}

func killMidIngestion(t *testing.T, phase string) {
	h := newHarness(t) // insert-only: the helper process works the job
	ws := h.NewWorkspace("STARTER", 0)
	agent := h.agent(ws)

	mode := map[string]string{"embedding": "block", "copy": "instant"}[phase]
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+pgtest.URL(t), helperModeEnv+"="+mode)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expectLine := func(prefix string) {
		t.Helper()
		select {
		case l := <-lines:
			if !strings.HasPrefix(l, prefix) {
				t.Fatalf("helper said %q, want %s", l, prefix)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("helper did not say %s", prefix)
		}
	}
	expectLine("READY")

	// 60 chunks of 512 words: the COPY into the HNSW-indexed table lasts long enough to
	// be caught.
	const chunks = 60
	id := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Killed", "content": words("Killed.", 448*chunks+63)})
	if phase == "embedding" {
		expectLine(fmt.Sprintf("EMBEDDING %d", chunks))
	} else {
		apitest.Eventually(t, 20*time.Second, func() bool {
			var n int
			err := h.DB.Get(&n, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND state = 'active' AND query LIKE 'COPY knowledge_chunks%'`)
			return err == nil && n > 0
		}, "the helper's COPY")
	}
	var status string
	if err := h.DB.Get(&status, `SELECT status FROM knowledge_docs WHERE id = $1`, id); err != nil || status != StatusProcessing {
		t.Fatalf("status at the kill = %s %v", status, err)
	}
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	apitest.Eventually(t, 10*time.Second, func() bool { // the server notices the dead connection
		var n int
		err := h.DB.Get(&n, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY knowledge_chunks%' AND state <> 'idle'`)
		return err == nil && n == 0
	}, "the killed COPY to end")
	if n := h.chunkRows(id); n != 0 {
		t.Fatalf("%d chunks visible after the kill", n)
	}

	// The dead worker's job stays "running" until River's rescuer (15 min). The heartbeat
	// stopped with the process, though: once it is older than lostAfter (aged here rather
	// than waited for), the sweep requeues the document. The sweep is called directly: as
	// a periodic job it runs on River's leader, and the killed process was the leader, so
	// it would first wait out the leader fail-over (~20 s).
	if _, err := h.DB.Exec(`UPDATE knowledge_docs SET updated_at = now() - interval '5 minutes' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := h.mod.svc.recoverLost(context.Background(), lostAfter); err != nil {
		t.Fatal(err)
	}
	h.StartWorker()
	h.ready(ws, agent, id, chunks)
	var events, dup int
	if err := h.DB.Get(&events, `SELECT count(*) FROM realtime_events WHERE type = 'knowledge_ready' AND payload->>'docId' = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := h.DB.Get(&dup, `SELECT count(*) - count(DISTINCT chunk_idx) FROM knowledge_chunks WHERE doc_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if events != 1 || dup != 0 {
		t.Fatalf("knowledge_ready events %d, duplicate chunks %d", events, dup)
	}
}

// TestIngestRerunAndInterruptedWrite runs the job function directly: a re-run replaces
// the chunks without duplicates, and a write that fails half-way through the COPY leaves
// the previous chunks untouched.
func TestIngestRerunAndInterruptedWrite(t *testing.T) {
	h := newHarness(t)
	ws := h.NewWorkspace("STARTER", 0)
	agent := h.agent(ws)
	ctx := context.Background()
	svc := h.mod.svc
	id := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Rerun", "content": words("Re-run me.", 999)})

	if err := svc.runIngest(ctx, id, 1, 3); err != nil {
		t.Fatal(err)
	}
	h.ready(ws, agent, id, 3)
	chunkIDs := func() string {
		var ids []string
		if err := h.DB.Select(&ids, `SELECT id FROM knowledge_chunks WHERE doc_id = $1 ORDER BY chunk_idx`, id); err != nil {
			t.Fatal(err)
		}
		return strings.Join(ids, ",")
	}
	first := chunkIDs()

	// Forget the hash so the re-run embeds and replaces.
	forget := func() {
		if _, err := h.DB.Exec(`UPDATE knowledge_docs SET content_sha256 = NULL WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
	forget()
	if err := svc.runIngest(ctx, id, 1, 3); err != nil {
		t.Fatal(err)
	}
	h.ready(ws, agent, id, 3)
	second := chunkIDs()
	if second == first {
		t.Fatal("re-run did not replace the chunks")
	}

	// Make the COPY fail after its first row (an invalid id), as a broken connection would.
	forget()
	n := 0
	newID := svc.newID
	svc.newID = func() string {
		if n++; n == 2 {
			return "not-a-uuid"
		}
		return newID()
	}
	err := svc.runIngest(ctx, id, 1, 3)
	svc.newID = newID
	if err == nil {
		t.Fatal("failed write succeeded")
	}
	var status, msg string
	if err := h.DB.QueryRow(`SELECT status, error_msg FROM knowledge_docs WHERE id = $1`, id).Scan(&status, &msg); err != nil {
		t.Fatal(err)
	}
	if status != StatusPending || !strings.Contains(msg, "retrying (attempt 1 of 3 failed)") {
		t.Fatalf("after the failed write: %s %q", status, msg)
	}
	if got := chunkIDs(); got != second {
		t.Fatal("a failed write changed the stored chunks")
	}
	if err := svc.runIngest(ctx, id, 2, 3); err != nil {
		t.Fatal(err)
	}
	h.ready(ws, agent, id, 3)

	// A failure on the last attempt ends ERROR, never PROCESSING.
	if _, err := h.DB.Exec(`UPDATE knowledge_docs SET source_url = 'http://127.0.0.1:1/', type = 'URL' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	err = svc.runIngest(ctx, id, 1, 3)
	var ce *river.JobCancelError
	if !errors.As(err, &ce) {
		t.Fatalf("permanent failure: %v, want JobCancel", err)
	}
	if d := h.wait(ws, agent, id); d.Status != StatusError || !strings.Contains(str(d.ErrorMsg), "private, loopback") {
		t.Fatalf("permanent failure: %s %s", d.Status, str(d.ErrorMsg))
	}
}

// TestSweepStuck marks documents orphaned in PROCESSING as ERROR and leaves those with a
// live job alone.
func TestSweepStuck(t *testing.T) {
	h := newHarness(t)
	ws := h.NewWorkspace("STARTER", 0)
	agent := h.agent(ws)
	queued := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Queued", "content": "Has a live job."})
	orphan := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Orphan", "content": "Its job was discarded."})
	if _, err := h.DB.Exec(`UPDATE river_job SET state = 'discarded', finalized_at = now() WHERE args->>'docId' = $1`, orphan); err != nil {
		t.Fatal(err)
	}
	if _, err := h.DB.Exec(`UPDATE knowledge_docs SET status = 'PROCESSING', updated_at = now() - interval '1 hour' WHERE id IN ($1, $2)`, queued, orphan); err != nil {
		t.Fatal(err)
	}
	n, err := h.mod.svc.sweepStuck(context.Background(), stuckAfter)
	if err != nil || n != 1 {
		t.Fatalf("swept %d, %v", n, err)
	}
	var q, o string
	_ = h.DB.Get(&q, `SELECT status FROM knowledge_docs WHERE id = $1`, queued)
	_ = h.DB.Get(&o, `SELECT status FROM knowledge_docs WHERE id = $1`, orphan)
	if q != StatusProcessing || o != StatusError {
		t.Fatalf("queued %s, orphan %s", q, o)
	}
}

// TestIterativeScanKeepsK checks that the agent filter cannot starve the HNSW scan: with
// many nearer chunks of another agent, the plain index scan (ef_search candidates, then
// the filter) finds none of this agent's chunks, and the Retriever's iterative scan
// finds all of them.
func TestIterativeScanKeepsK(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ws := h.NewWorkspace("STARTER", 0)
	mine, other := h.agent(ws), h.agent(ws)
	rng := rand.New(rand.NewPCG(1, 2))
	near := func(sign float64) []float32 {
		v := make([]float32, ai.EmbeddingDimensions)
		v[0] = float32(sign)
		var n float64
		for i := range v {
			v[i] += float32(rng.NormFloat64() * 0.02)
			n += float64(v[i]) * float64(v[i])
		}
		for i := range v {
			v[i] /= float32(math.Sqrt(n))
		}
		return v
	}
	// 110 chunks of the other agent point along the query; 3 of mine point away from it.
	insertDoc := func(agentID string, n int, sign float64) {
		id := h.create(ws, agentID, map[string]any{"type": "TEXT", "title": "Doc", "content": "placeholder text"})
		chunks := make([]chunk, n)
		vecs := make([][]float32, n)
		for i := range chunks {
			chunks[i] = chunk{Text: fmt.Sprintf("chunk %d", i)}
			vecs[i] = near(sign)
		}
		d, err := store{}.jobDoc(ctx, h.DB, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.mod.svc.finishReady(ctx, d, chunks, vecs, "x", n, ""); err != nil {
			t.Fatal(err)
		}
	}
	insertDoc(other, efSearch+10, 1)
	insertDoc(mine, 3, -1)
	query := near(1)

	// Make the planner use the HNSW index, as it does once the table is large (see
	// bench/knowledge); on a table this small it would rather sort the agent's rows.
	forceHNSW := func(tx *sqlx.Tx) {
		if _, err := tx.Exec(`SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off`); err != nil {
			t.Fatal(err)
		}
	}
	var plain, iterative []hitRow
	err := h.DB.InTx(ctx, func(tx *sqlx.Tx) error {
		forceHNSW(tx)
		if _, err := tx.Exec(`SET LOCAL hnsw.ef_search = 100; SET LOCAL hnsw.iterative_scan = off`); err != nil {
			return err
		}
		var plan []string
		if err := tx.Select(&plan, `EXPLAIN (COSTS OFF) `+qSearch, ws.ID, mine, vectorText(query), 3); err != nil {
			return err
		}
		if !strings.Contains(strings.Join(plan, "\n"), "knowledge_chunks_embedding_idx") {
			t.Fatalf("plan does not use the HNSW index:\n%s", strings.Join(plan, "\n"))
		}
		return tx.Select(&plain, qSearch, ws.ID, mine, vectorText(query), 3)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = h.DB.InTx(ctx, func(tx *sqlx.Tx) error {
		forceHNSW(tx)
		var err error
		iterative, err = store{}.search(ctx, tx, ws.ID, mine, query, 3, efSearch)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) >= 3 || len(iterative) != 3 {
		t.Fatalf("rows: plain scan %d (want < 3, or the test proves nothing), iterative scan %d (want 3)", len(plain), len(iterative))
	}
}

// TestRecoverLostWorker: a document whose worker died mid-attempt (its job still
// "running", its heartbeat stopped) is requeued by the sweep and ends READY once, without
// waiting for River's rescuer; a document with a live heartbeat is left alone; one that
// loses its worker maxRecoveries times ends ERROR.
func TestRecoverLostWorker(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ws := h.NewWorkspace("STARTER", 0)
	agent := h.agent(ws)
	lost := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Lost", "content": words("refund", 700)})
	live := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Live", "content": "A worker is busy with this one right now."})
	// Both jobs were picked up by a worker that then died: River still says "running".
	if _, err := h.DB.Exec(`UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE args->>'docId' IN ($1, $2)`, lost, live); err != nil {
		t.Fatal(err)
	}
	if _, err := h.DB.Exec(`UPDATE knowledge_docs SET status = 'PROCESSING', updated_at = now() - interval '5 minutes' WHERE id = $1`, lost); err != nil {
		t.Fatal(err)
	}
	if _, err := h.DB.Exec(`UPDATE knowledge_docs SET status = 'PROCESSING', updated_at = now() WHERE id = $1`, live); err != nil {
		t.Fatal(err)
	}
	// The sweep covers every workspace, so other tests' documents may be counted too.
	n, err := h.mod.svc.recoverLost(ctx, lostAfter)
	if err != nil || n < 1 {
		t.Fatalf("recovered %d, %v; want at least 1", n, err)
	}
	var lostStatus string
	var recoveryJobs int
	_ = h.DB.Get(&lostStatus, `SELECT status FROM knowledge_docs WHERE id = $1`, lost)
	_ = h.DB.Get(&recoveryJobs, `SELECT count(*) FROM river_job WHERE args->>'docId' = $1 AND (args->>'recovery')::boolean AND state = 'available'`, lost)
	if lostStatus != StatusPending || recoveryJobs != 1 {
		t.Fatalf("lost doc: status %s, %d recovery jobs", lostStatus, recoveryJobs)
	}
	var liveStatus string
	_ = h.DB.Get(&liveStatus, `SELECT status FROM knowledge_docs WHERE id = $1`, live)
	if liveStatus != StatusProcessing {
		t.Fatalf("a document with a live heartbeat was touched: %s", liveStatus)
	}
	h.StartWorker()
	d := h.ready(ws, agent, lost, -1)
	if d.ChunkCount < 2 {
		t.Fatalf("chunkCount %d", d.ChunkCount)
	}
	// The dead attempt's job, rescued later, finds the work done: still one set of chunks.
	if err := h.mod.svc.runIngest(ctx, lost, 2, 3); err != nil {
		t.Fatal(err)
	}
	h.ready(ws, agent, lost, d.ChunkCount)

	// A document that keeps killing its worker is given up after maxRecoveries.
	doomed := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Doomed", "content": "This document kills every worker that tries to embed it."})
	for i := 0; i < maxRecoveries; i++ {
		if _, err := h.DB.Exec(`INSERT INTO river_job (args, kind, max_attempts, queue, state, attempt, attempted_at, finalized_at) VALUES (jsonb_build_object('docId', $1::text, 'recovery', true), 'ingestion.ingest_doc', 3, 'ingestion', 'discarded', 1, now(), now())`, doomed); err != nil {
			t.Fatal(err)
		}
	}
	apitest.Eventually(t, 10*time.Second, func() bool {
		var s string
		_ = h.DB.Get(&s, `SELECT status FROM knowledge_docs WHERE id = $1`, doomed)
		return s == StatusReady
	}, "doomed doc processed once")
	if _, err := h.DB.Exec(`UPDATE knowledge_docs SET status = 'PROCESSING', updated_at = now() - interval '5 minutes' WHERE id = $1`, doomed); err != nil {
		t.Fatal(err)
	}
	if _, err := h.mod.svc.recoverLost(ctx, lostAfter); err != nil {
		t.Fatal(err)
	}
	var st, msg string
	_ = h.DB.QueryRow(`SELECT status, coalesce(error_msg, '') FROM knowledge_docs WHERE id = $1`, doomed).Scan(&st, &msg)
	if st != StatusError || !strings.Contains(msg, "repeatedly") {
		t.Fatalf("doomed doc: %s %q", st, msg)
	}
}

// TestHeartbeatRenewsProcessingDocs: while an attempt runs, the document's updated_at
// keeps moving, so the sweep never mistakes a slow worker for a dead one.
func TestHeartbeatRenewsProcessingDocs(t *testing.T) {
	h := newHarness(t)
	ws := h.NewWorkspace("STARTER", 0)
	id := h.create(ws, h.agent(ws), map[string]any{"type": "TEXT", "title": "Slow", "content": "Slow to embed."})
	if _, err := h.DB.Exec(`UPDATE knowledge_docs SET status = 'PROCESSING', updated_at = now() - interval '1 hour' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	svc := *h.mod.svc
	svc.heartbeatEvery = 20 * time.Millisecond
	stop := svc.heartbeat(context.Background(), id)
	apitest.Eventually(t, 5*time.Second, func() bool {
		var fresh bool
		_ = h.DB.Get(&fresh, `SELECT updated_at > now() - interval '10 seconds' FROM knowledge_docs WHERE id = $1`, id)
		return fresh
	}, "heartbeat renewed updated_at")
	stop()
	if n, err := h.mod.svc.recoverLost(context.Background(), lostAfter); err != nil || n != 0 {
		t.Fatalf("recovered %d (%v) while the heartbeat was fresh", n, err)
	}
}

// TestRemoveAgentKnowledge: an agent's delete removes its documents and chunks in the
// caller's transaction and, only once that commits, the stored files.
func TestRemoveAgentKnowledge(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ws := h.NewWorkspace("BUILDER", 0)
	agent, other := h.agent(ws), h.agent(ws)
	h.StartWorker()
	key := h.upload(ws, "guide.txt", "text/plain", []byte(words("Guide.", 80)))
	fileDoc := h.create(ws, agent, map[string]any{"type": "PDF", "title": "Guide", "storageKey": key})
	textDoc := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Notes", "content": words("Notes.", 60)})
	keep := h.create(ws, other, map[string]any{"type": "TEXT", "title": "Other agent", "content": words("Other.", 60)})
	for _, id := range []string{fileDoc, textDoc} {
		h.wait(ws, agent, id)
	}
	h.wait(ws, other, keep)

	// A rolled-back delete removes nothing, file included.
	_ = h.DB.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := h.mod.RemoveAgentKnowledge(ctx, tx, ws.ID, agent); err != nil {
			t.Fatal(err)
		}
		return errors.New("roll back")
	})
	if _, _, err := h.local.Open(ctx, key); err != nil {
		t.Fatalf("file gone after a rolled-back delete: %v", err)
	}
	// Another workspace's id removes nothing.
	stranger := h.NewWorkspace("STARTER", 0)
	if err := h.DB.InTx(ctx, func(tx *sqlx.Tx) error { return h.mod.RemoveAgentKnowledge(ctx, tx, stranger.ID, agent) }); err != nil {
		t.Fatal(err)
	}
	if err := h.DB.InTx(ctx, func(tx *sqlx.Tx) error { return h.mod.RemoveAgentKnowledge(ctx, tx, ws.ID, agent) }); err != nil {
		t.Fatal(err)
	}
	var docs, chunks, kept int
	_ = h.DB.Get(&docs, `SELECT count(*) FROM knowledge_docs WHERE agent_id = $1`, agent)
	_ = h.DB.Get(&chunks, `SELECT count(*) FROM knowledge_chunks WHERE agent_id = $1`, agent)
	_ = h.DB.Get(&kept, `SELECT count(*) FROM knowledge_docs WHERE id = $1`, keep)
	if docs != 0 || chunks != 0 || kept != 1 {
		t.Fatalf("after delete: %d docs, %d chunks of the agent; other agent's doc kept = %d", docs, chunks, kept)
	}
	apitest.Eventually(t, 10*time.Second, func() bool {
		_, _, err := h.local.Open(ctx, key)
		return errors.Is(err, storage.ErrNotFound)
	}, "the stored file deleted by ingestion.delete_files")
}

// TestRescuedCompletedJobDoesNothing: a job that made its document READY but whose
// completion River never recorded (its worker was killed) runs again after the rescue: it
// finds its own id on the document and announces nothing twice; another job still runs.
func TestRescuedCompletedJobDoesNothing(t *testing.T) {
	h := newHarness(t)
	ws := h.NewWorkspace("STARTER", 0)
	agent := h.agent(ws)
	svc := h.mod.svc
	id := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Once", "content": words("Announce me once.", 300)})
	readyEvents := func() int {
		var n int
		if err := h.DB.Get(&n, `SELECT count(*) FROM realtime_events WHERE type = 'knowledge_ready' AND payload->>'docId' = $1 AND payload->>'status' = 'READY'`, id); err != nil {
			t.Fatal(err)
		}
		return n
	}
	job := withJobID(context.Background(), 4242)
	if err := svc.runIngest(job, id, 1, 3); err != nil {
		t.Fatal(err)
	}
	var byJob int64
	if err := h.DB.Get(&byJob, `SELECT ready_job_id FROM knowledge_docs WHERE id = $1`, id); err != nil || byJob != 4242 {
		t.Fatalf("ready_job_id = %d, %v", byJob, err)
	}
	if n := readyEvents(); n != 1 {
		t.Fatalf("READY events after the first run = %d", n)
	}
	if err := svc.runIngest(job, id, 2, 3); err != nil {
		t.Fatal(err)
	}
	if n := readyEvents(); n != 1 {
		t.Fatalf("the rescued run announced the document again (%d READY events)", n)
	}
	if err := svc.runIngest(withJobID(context.Background(), 4243), id, 1, 3); err != nil {
		t.Fatal(err)
	}
	if n := readyEvents(); n != 2 {
		t.Fatalf("another job's run: %d READY events, want 2", n)
	}
}
