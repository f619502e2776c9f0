package ingestion

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/platform/ai"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/storage"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// instantEmbedder answers at once with precomputed unit vectors.
type instantEmbedder struct{ vecs [][]float32 }

func (e instantEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i := range texts {
		out[i] = e.vecs[i%len(e.vecs)]
	}
	return out, nil
}
func (instantEmbedder) Dimensions() int { return ai.EmbeddingDimensions }
func (instantEmbedder) Model() string   { return "instant" }

// BenchmarkIngestThroughput measures ingestion of a TEXT document of 200 chunks with an
// embedder that answers instantly (extract, hash, chunk, embed, then DELETE + COPY +
// READY + knowledge_ready in one transaction) against a raw COPY of the same rows in one
// transaction (the physical limit), alternating the two in one run, and reports both in
// chunks/s and their ratio: with the HNSW index of migration 00016 (both pay for index
// inserts), with it and the tsv GIN index dropped by migration 00017, with the GIN index
// alone, and with neither. The benchmark changes the indexes of its own test database, so run it
// alone:
//
//	APP_ENV=test go test -run '^$' -bench IngestThroughput -benchtime 10x ./modules/ingestion/
func BenchmarkIngestThroughput(b *testing.B) {
	const chunksPerDoc = 200
	ctx := context.Background()
	db := pgtest.DB(b)
	rng := rand.New(rand.NewPCG(3, 4))
	vecs := make([][]float32, 64)
	for i := range vecs {
		v := make([]float32, ai.EmbeddingDimensions)
		var n float64
		for j := range v {
			v[j] = float32(rng.NormFloat64())
			n += float64(v[j]) * float64(v[j])
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(n))
		}
		vecs[i] = v
	}
	m, err := New(Deps{
		DB: db, Queue: &queue.Lazy{}, Publisher: realtime.PG{}, Cache: cache.NewMemory(10),
		Embedder: instantEmbedder{vecs: vecs}, Store: storage.NewLocal(b.TempDir(), "http://x", nil),
		Agents: agents.NewDirectory(db), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Authed: []echo.MiddlewareFunc{noAuth},
	})
	if err != nil {
		b.Fatal(err)
	}
	svc := m.svc
	wsID, agentID := uuid.NewString(), uuid.NewString()
	if _, err := db.Exec(`INSERT INTO workspaces (id, name, slug) VALUES ($1::uuid, 'Bench', $1::text)`, wsID); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO agents (id, workspace_id, name, system_prompt) VALUES ($1, $2, 'Bench', 'x')`, agentID, wsID); err != nil {
		b.Fatal(err)
	}
	newDoc := func(text string) docRow {
		d, err := store{}.insertDoc(ctx, db, docRow{
			ID: uuid.NewString(), WorkspaceID: wsID, AgentID: agentID, Type: TypeText, Title: "Bench",
			RawContent: sql.NullString{String: text, Valid: true},
		})
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	text := words("Bench.", 448*chunksPerDoc+63)
	pipeDoc, rawDoc := newDoc(text), newDoc("raw")
	chunks := chunkBlocks(textBlocks(text, true), 512, 64)
	if len(chunks) != chunksPerDoc {
		b.Fatalf("%d chunks", len(chunks))
	}
	rawVecs, _ := instantEmbedder{vecs: vecs}.Embed(ctx, make([]string, len(chunks)))

	measure := func(b *testing.B) {
		var pipeTime, rawTime time.Duration
		pipeline := func() {
			if _, err := db.Exec(`UPDATE knowledge_docs SET content_sha256 = NULL WHERE id = $1`, pipeDoc.ID); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if err := svc.runIngest(ctx, pipeDoc.ID, 1, 1); err != nil {
				b.Fatal(err)
			}
			pipeTime += time.Since(start)
		}
		rawCopy := func() {
			start := time.Now()
			err := db.InTx(ctx, func(tx *sqlx.Tx) error {
				return store{}.replaceChunks(ctx, tx, rawDoc, chunks, rawVecs, svc.newID)
			})
			if err != nil {
				b.Fatal(err)
			}
			rawTime += time.Since(start)
		}
		b.ResetTimer()
		for i := range b.N {
			// Alternate the order: every insert makes the index graph (and its dead
			// entries) larger for the next one.
			if i%2 == 0 {
				pipeline()
				rawCopy()
			} else {
				rawCopy()
				pipeline()
			}
		}
		b.StopTimer()
		pipe := float64(b.N*chunksPerDoc) / pipeTime.Seconds()
		raw := float64(b.N*chunksPerDoc) / rawTime.Seconds()
		b.ReportMetric(pipe, "pipeline-chunks/s")
		b.ReportMetric(raw, "rawcopy-chunks/s")
		b.ReportMetric(pipe/raw, "ratio")
	}
	exec := func(q string) {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("hnsw", measure)
	// With the tsv GIN index that migration 00017 dropped, to show what it costs on top of
	// the schema's HNSW index (the full-text leg of retrieval could use it).
	exec(`CREATE INDEX knowledge_chunks_tsv_idx ON knowledge_chunks USING gin (tsv)`)
	b.Run("hnsw+gin", measure)
	// The same without the vector index (this benchmark process has its own database).
	exec(`DROP INDEX IF EXISTS knowledge_chunks_embedding_idx`)
	b.Run("no-vector-index+gin", measure)
	exec(`DROP INDEX knowledge_chunks_tsv_idx`)
	b.Run("no-vector-index", measure)
}
