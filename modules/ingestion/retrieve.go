package ingestion

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Retrieval settings.
const (
	// efSearch is the HNSW candidate list per query. It must be at least k; 100 gave
	// recall@10 of 0.97 here (../shared/FINDINGS.md) at about twice the latency of 40.
	efSearch = 100
	// maxK bounds k.
	maxK = 50
	// queryCacheTTL keeps query embeddings (SPEC §7: 1 h).
	queryCacheTTL = time.Hour
)

// Hit is one retrieved chunk.
type Hit struct {
	DocID      string
	Title      string // the document's title
	ChunkIdx   int
	Content    string
	Similarity float64 // cosine similarity, 1 = same direction
	// Metadata holds page, heading and url when the document had them.
	Metadata map[string]any
}

// Retriever finds an agent's knowledge for a question (SPEC §7 step 5).
type Retriever interface {
	// Search embeds query (cached for an hour per model and query) and returns at most k
	// chunks of the agent's READY and active documents whose cosine similarity is at
	// least minSimilarity, most similar first. It looks only at the given workspace and
	// agent: an agent of another workspace yields no hits. k is clamped to 1..50.
	Search(ctx context.Context, workspaceID, agentID, query string, k int, minSimilarity float64) ([]Hit, error)
}

var _ Retriever = (*Service)(nil)

// sqlSearch is the agent-filtered nearest-neighbour query. The inner query can use the
// HNSW index; with hnsw.iterative_scan the index scan goes on past ef_search candidates
// until k rows pass the filters, and relaxed_order lets it return them slightly out of
// order, which the outer ORDER BY repairs.
const sqlSearch = `
WITH hits AS MATERIALIZED (
    SELECT c.doc_id, c.chunk_idx, c.content, c.metadata, c.embedding <=> $3::vector AS distance
    FROM knowledge_chunks c
    JOIN knowledge_docs d ON d.id = c.doc_id
    WHERE c.workspace_id = $1 AND c.agent_id = $2 AND d.status = 'READY' AND d.is_active
    ORDER BY distance
    LIMIT $4
)
SELECT h.doc_id, d.title, h.chunk_idx, h.content, h.metadata, 1 - h.distance AS similarity
FROM hits h JOIN knowledge_docs d ON d.id = h.doc_id
ORDER BY h.distance, h.doc_id, h.chunk_idx`

type hitRow struct {
	DocID      string  `db:"doc_id"`
	Title      string  `db:"title"`
	ChunkIdx   int     `db:"chunk_idx"`
	Content    string  `db:"content"`
	Metadata   []byte  `db:"metadata"`
	Similarity float64 `db:"similarity"`
}

// Search implements Retriever.
func (s *Service) Search(ctx context.Context, workspaceID, agentID, query string, k int, minSimilarity float64) ([]Hit, error) {
	k = min(max(k, 1), maxK)
	if strings.TrimSpace(query) == "" {
		return nil, nil
	}
	vec, err := s.queryEmbedding(ctx, query)
	if err != nil {
		return nil, err
	}
	var rows []hitRow
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		rows, err = searchTx(ctx, tx, workspaceID, agentID, vec, k)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search knowledge: %w", err)
	}
	out := make([]Hit, 0, len(rows))
	for _, r := range rows {
		if r.Similarity < minSimilarity {
			continue
		}
		h := Hit{DocID: r.DocID, Title: r.Title, ChunkIdx: r.ChunkIdx, Content: r.Content, Similarity: r.Similarity}
		if len(r.Metadata) > 0 {
			_ = json.Unmarshal(r.Metadata, &h.Metadata)
		}
		out = append(out, h)
	}
	return out, nil
}

// searchTx runs the nearest-neighbour query on tx with ef_search and the iterative scan
// set for the transaction only (SET LOCAL), so pooled connections keep their defaults.
func searchTx(ctx context.Context, tx *sqlx.Tx, workspaceID, agentID string, vec []float32, k int) ([]hitRow, error) {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(
		`SET LOCAL hnsw.ef_search = %d; SET LOCAL hnsw.iterative_scan = relaxed_order`, max(efSearch, k))); err != nil {
		return nil, err
	}
	var rows []hitRow
	err := sqlx.SelectContext(ctx, tx, &rows, sqlSearch, workspaceID, agentID, vectorText(vec), k)
	return rows, err
}

// queryEmbedding embeds a query, through the cache (key: model and sha256 of the query).
func (s *Service) queryEmbedding(ctx context.Context, query string) ([]float32, error) {
	sum := sha256.Sum256([]byte(query))
	key := "ingestion:qemb:" + s.embedder.Model() + ":" + hex.EncodeToString(sum[:])
	if b, ok := s.cache.Get(ctx, key); ok && len(b) == 4*s.embedder.Dimensions() {
		return decodeVector(b), nil
	}
	vecs, err := s.embedder.Embed(ctx, []string{query})
	if err != nil {
		return nil, err
	}
	if len(vecs) != 1 {
		return nil, fmt.Errorf("embedder returned %d vectors for 1 query", len(vecs))
	}
	s.cache.Set(ctx, key, encodeVector(vecs[0]), queryCacheTTL)
	return vecs[0], nil
}

func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func decodeVector(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}
