//go:build faults

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/testkit/fakeopenai"
)

// TestFaultIngestWorkKilled SIGKILLs `work` while it ingests knowledge documents (embedding
// calls to an OpenAI fake that answers after a delay, so several documents are PROCESSING
// at the kill), then starts a new `work`. Every document must end READY, once, with exactly
// the chunks its content makes: none missing, none twice (the dead attempt's documents are
// requeued by the sweep once their heartbeat stopped; their chunk replacement is one
// transaction).
func TestFaultIngestWorkKilled(t *testing.T) {
	ai := fakeopenai.New(t)
	ai.SetDelay(300 * time.Millisecond)
	env := map[string]string{
		"DATABASE_URL": freshDB(t), "OPENAI_API_KEY": "sk-fault-ingest", "OPENAI_BASE_URL": ai.URL(),
		"RATE_LIMIT_SCALE": "1000", "LOG_LEVEL": "info",
	}
	s := serve(t, env)
	acct := register(t, s.base)
	auth := map[string]string{"Authorization": "Bearer " + acct.access}
	r := call(t, "POST", s.base+"/v1/agents", map[string]any{"name": "Ingest", "systemPrompt": "Be brief."}, auth)
	agent, _ := r.body["id"].(string)
	if r.status != 201 {
		t.Fatalf("create agent: %d %s", r.status, r.raw)
	}

	// Q&A documents: one chunk per pair, so each document's chunk count is known.
	const docs = 24
	want := map[string]int{}
	for i := range docs {
		pairs := 2 + i%5
		var b strings.Builder
		for j := range pairs {
			fmt.Fprintf(&b, "Q: What is rule %d of section %d?\nA: Rule %d of section %d says the parcel %d-%d ships within %d days.\n\n", j, i, j, i, i, j, 1+j)
		}
		r := call(t, "POST", s.base+"/v1/agents/"+agent+"/knowledge", map[string]any{
			"type": "QA", "title": fmt.Sprintf("Section %d", i), "content": b.String(),
		}, auth)
		doc, _ := r.body["doc"].(map[string]any)
		id, _ := doc["id"].(string)
		if r.status != 202 || id == "" {
			t.Fatalf("add document %d: %d %s", i, r.status, r.raw)
		}
		want[id] = pairs
	}

	d := faultDB(t, env["DATABASE_URL"])
	statusCount := func(st string) int {
		return dbCount(t, d, `SELECT count(*) FROM knowledge_docs WHERE agent_id = $1 AND status = $2`, agent, st)
	}
	w := workProc(t, env)
	eventually(t, "some documents READY and some PROCESSING", 60*time.Second, func() bool {
		return statusCount("READY") >= 3 && statusCount("PROCESSING") >= 1
	})
	sigkill(t, w)
	killed := time.Now()
	readyAtKill, processingAtKill := statusCount("READY"), statusCount("PROCESSING")
	t.Logf("killed work with %d READY and %d PROCESSING of %d", readyAtKill, processingAtKill, docs)

	w2 := workProc(t, env)
	// The dead worker's jobs come back once its queue heartbeat is 40 s old (queue.rescue
	// runs every 30 s); a job that had finished its document but not been recorded
	// completed finds its own id on the document and does nothing.
	eventually(t, "every document READY after the restart", 3*time.Minute, func() bool {
		if n := statusCount("ERROR"); n > 0 {
			t.Fatalf("%d documents ERROR\nwork:\n%s", n, w2.stderr.String())
		}
		return statusCount("READY") == docs
	})
	recovery := time.Since(killed)

	lost, dup, stored := 0, 0, 0
	for id, n := range want {
		var got struct {
			Status     string `db:"status"`
			ChunkCount int    `db:"chunk_count"`
			Chunks     int    `db:"chunks"`
			Indexes    int    `db:"indexes"`
			Contents   int    `db:"contents"`
			Ready      int    `db:"ready"`
		}
		if err := d.Get(&got, `SELECT status, chunk_count,
			(SELECT count(*) FROM knowledge_chunks WHERE doc_id = k.id) AS chunks,
			(SELECT count(DISTINCT chunk_idx) FROM knowledge_chunks WHERE doc_id = k.id) AS indexes,
			(SELECT count(DISTINCT content) FROM knowledge_chunks WHERE doc_id = k.id) AS contents,
			(SELECT count(*) FROM realtime_events WHERE type = 'knowledge_ready' AND payload->>'docId' = k.id::text
				AND payload->>'status' = 'READY') AS ready
			FROM knowledge_docs k WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		if got.Status != "READY" || got.ChunkCount != n || got.Contents != n || got.Ready == 0 {
			t.Errorf("document %s: %+v, want READY with %d chunks", id, got, n)
			lost++
			continue
		}
		stored++
		if extra := got.Chunks - got.Contents + got.Chunks - got.Indexes + got.Ready - 1; extra > 0 {
			t.Errorf("document %s: %+v: duplicated chunks or READY events", id, got)
			dup += extra
		}
	}
	faultReport(t, "ingest-work-sigkill", docs, stored, lost, dup, recovery)
}
