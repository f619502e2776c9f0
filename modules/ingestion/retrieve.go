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
	// efSearch is the HNSW candidate list per query (at least k). With the agent filter and
	// the iterative scan, 100 gave recall@10 of 0.97 (measurements in docs/decisions.md).
	efSearch = 100
	// maxK bounds k.
	maxK = 50
	// queryCacheTTL is how long a query's embedding is cached.
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

// Retriever finds an agent's knowledge for a question (the retrieval step of the chat
// pipeline).
type Retriever interface {
	// Search embeds query (cached for an hour per model and query) and returns at most k
	// chunks of the agent's READY and active documents whose cosine similarity is at
	// least minSimilarity, most similar first. It looks only at the given workspace and
	// agent: an agent of another workspace yields no hits. k is clamped to 1..50.
	Search(ctx context.Context, workspaceID, agentID, query string, k int, minSimilarity float64) ([]Hit, error)
}

var _ Retriever = (*Service)(nil)

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
		rows, err = s.st.search(ctx, tx, workspaceID, agentID, vec, k, efSearch)
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
