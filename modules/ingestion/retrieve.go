package ingestion

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/agents/agentapi"
	"github.com/axonhq/axon/platform/ai"
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
	// legPool is how many chunks each leg of the hybrid search ranks (at least k).
	legPool = 20
	// rrfK is the constant of reciprocal-rank fusion: score = Σ weight/(rrfK + rank).
	rrfK = 60
	// lexicalVectorWeight is the vector leg's weight in the fusion when the embedder is
	// the offline one (a termWeightedEmbedder): a bag of hashed words is a second, weaker
	// lexical ranking, and counting it as much as BM25 let it out-vote the better one
	// (make eval: retriever top-1 0.656 at 1, 0.721 at 0.5; docs/performance.md). A
	// semantic embedder's leg counts 1.
	lexicalVectorWeight = 0.5
	// sentencePool is how many of each leg's first chunks the offline embedder's
	// best-sentence ranking reads (bySentence): at most 20 chunks, about 14 ms for 512-word
	// chunks on the 2-core machine (BenchmarkOfflinePassageScores); reading all 40 measured
	// the same on make eval at twice the cost.
	sentencePool = 10
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
	// VectorRank and TextRank are the chunk's 1-based ranks in the vector and full-text
	// legs of the search (0: not among that leg's first 20). Score is their weighted
	// reciprocal-rank fusion, w/(60 + vector rank) + 1/(60 + text rank) (w = 1; with the
	// offline embedder w = 0.5 and the rank is that of the chunk's best sentence among
	// the candidates, see bySentence), the order of the hits.
	VectorRank, TextRank int
	Score                float64
}

// Retriever finds an agent's knowledge for a question (the retrieval step of the chat
// pipeline).
type Retriever interface {
	// Search embeds query (cached for an hour per model and query; with the offline
	// embedder, weighted by the rarity of its words among the agent's chunks, uncached,
	// and expanded with typo corrections and a support thesaurus, see offlineQuery)
	// and returns at most k chunks of the agent's READY and active documents, best first.
	// Two legs rank the chunks: cosine similarity to the query vector, and Postgres full
	// text (English stemming, any of the query's words, BM25); the hits are ordered by
	// weighted reciprocal-rank fusion of both (with the offline embedder, the candidates
	// of both legs ranked by their best sentence stand in for the cosine order). A chunk found only by the vector leg is kept when its cosine similarity is
	// at least minSimilarity; a chunk the full-text leg found is kept whatever its
	// similarity. It looks only at the given workspace and agent: an agent of another
	// workspace yields no hits. k is clamped to 1..50.
	Search(ctx context.Context, workspaceID, agentID, query string, k int, minSimilarity float64) ([]Hit, error)
}

var _ Retriever = (*Service)(nil)

// Search implements Retriever.
func (s *Service) Search(ctx context.Context, workspaceID, agentID, query string, k int, minSimilarity float64) ([]Hit, error) {
	k = min(max(k, 1), maxK)
	if strings.TrimSpace(query) == "" {
		return nil, nil
	}
	weighted, _ := s.embedder.(termWeightedEmbedder)
	var vec []float32
	if weighted == nil {
		var err error
		if vec, err = s.queryEmbedding(ctx, query); err != nil {
			return nil, err
		}
	}
	pool := max(k, legPool)
	var vrows, trows []hitRow
	var weight func(string) float64
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if weighted != nil {
			var err error
			if query, weight, err = s.offlineQuery(ctx, tx, weighted, workspaceID, agentID, query); err != nil {
				return err
			}
			if vec, err = weighted.EmbedQuery(ctx, query, weight); err != nil {
				return err
			}
		}
		var err error
		if vrows, err = s.st.search(ctx, tx, workspaceID, agentID, vec, pool, efSearch); err != nil {
			return err
		}
		trows, err = s.st.searchText(ctx, tx, workspaceID, agentID, query, vec, pool)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search knowledge: %w", err)
	}
	if weighted == nil {
		return fuse(vrows, trows, nil, k, minSimilarity, 1), nil
	}
	return fuse(vrows, trows, bySentence(weighted, query, weight, vrows, trows), k, minSimilarity, lexicalVectorWeight), nil
}

// bySentence ranks the union of both legs' first sentencePool candidates by their best
// sentence (ai.Offline.PassageScores: the weighted query's cosine with each sentence plus
// the weighted share of the query's words it holds; a heading or a Q&A question lends its
// score as in the offline answerer), each chunk read with its document title and section
// heading on lines before it. It is
// the offline embedder's ranking in the fusion instead of the whole-chunk cosine: a
// bag of words averaged over 512 words dilutes the one sentence that answers, so a
// 30-word Q&A pair sharing one word out-ranked the policy chunk that holds the answer;
// by its best sentence a long chunk competes with a short pair on equal terms (make
// eval: retriever top-5 0.951 → 0.967, MRR 0.821 → 0.835; docs/performance.md, round 5).
// Ties keep the vector leg's order, then the full-text leg's.
func bySentence(e termWeightedEmbedder, query string, weight func(string) float64, vrows, trows []hitRow) []hitRow {
	type key struct {
		doc string
		idx int
	}
	seen := map[key]bool{}
	var cands []hitRow
	for _, rows := range [][]hitRow{vrows[:min(sentencePool, len(vrows))], trows[:min(sentencePool, len(trows))]} {
		for _, r := range rows {
			if kk := (key{r.DocID, r.ChunkIdx}); !seen[kk] {
				seen[kk] = true
				cands = append(cands, r)
			}
		}
	}
	texts := make([]string, len(cands))
	for i, r := range cands {
		var meta struct {
			Heading string `json:"heading"`
		}
		_ = json.Unmarshal(r.Metadata, &meta)
		texts[i] = r.Title + "\n" + meta.Heading + "\n" + r.Content
	}
	scores := e.PassageScores(query, weight, texts)
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	out := make([]hitRow, len(cands))
	for i, j := range order {
		out[i] = cands[j]
	}
	return out
}

// fuse merges the rankings by weighted reciprocal rank, vectorWeight/(60 + rank in
// srows) + 1/(60 + text rank), and returns the best k hits: vector-only hits below
// minSimilarity are left out. srows is the ranking counted on the vector's side (nil:
// vrows itself, the vector leg's order); hits carry their vrows and trows ranks
// whatever srows is.
func fuse(vrows, trows, srows []hitRow, k int, minSimilarity, vectorWeight float64) []Hit {
	type key struct {
		doc string
		idx int
	}
	byKey := map[key]*Hit{}
	get := func(r hitRow) *Hit {
		kk := key{r.DocID, r.ChunkIdx}
		if h := byKey[kk]; h != nil {
			return h
		}
		h := &Hit{DocID: r.DocID, Title: r.Title, ChunkIdx: r.ChunkIdx, Content: r.Content, Similarity: r.Similarity}
		if len(r.Metadata) > 0 {
			_ = json.Unmarshal(r.Metadata, &h.Metadata)
		}
		byKey[kk] = h
		return h
	}
	if srows == nil {
		srows = vrows
	}
	for i, r := range vrows {
		get(r).VectorRank = i + 1
	}
	for i, r := range srows {
		get(r).Score += vectorWeight / float64(rrfK+i+1)
	}
	for i, r := range trows {
		h := get(r)
		h.TextRank = i + 1
		h.Score += 1 / float64(rrfK+i+1)
	}
	out := make([]Hit, 0, len(byKey))
	for _, h := range byKey {
		if h.TextRank == 0 && h.Similarity < minSimilarity {
			continue
		}
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Score != b.Score:
			return a.Score > b.Score
		case a.Similarity != b.Similarity:
			return a.Similarity > b.Similarity
		case a.DocID != b.DocID:
			return a.DocID < b.DocID
		}
		return a.ChunkIdx < b.ChunkIdx
	})
	return out[:min(k, len(out))]
}

// termWeightedEmbedder is an embedder whose query vector can weigh the query's terms: the
// offline embedder (platform/ai's Offline), a bag of hashed words and character n-grams
// that knows nothing of which words are rare. A semantic embedder (OpenAI) has no terms to
// weigh and takes the plain, cached path.
type termWeightedEmbedder interface {
	QueryTerms(text string) []string
	EmbedQuery(ctx context.Context, text string, weight func(term string) float64) ([]float32, error)
	PassageScores(query string, weight func(term string) float64, passages []string) []float64
}

// rarityWeights returns the weight of each of a query's terms (n: the agent's chunks, df:
// how many of them hold each term; factor, when it has the term, scales its weight: a
// thesaurus word, see offlineQuery): its inverse document
// frequency among the agent's chunks, BM25's ln(1 + (N − df + 0.5) / (df + 0.5)): in a
// bike shop's knowledge "bike" is in every chunk and weighs almost nothing, "deposit" is
// in one and decides. Without it, a short QA pair that repeats the common words out-scores
// the long policy chunk holding the answer. Each weight is then scaled by the term's
// rarity in everyday English (ai.EnglishWeight): in a small knowledge base a word like
// "use" may be in one chunk only, and per-agent frequencies alone rated it as high as
// "motor" (make eval: retriever top-1 0.721 → 0.738, MRR 0.806 → 0.821). Search embeds
// the query with them and scores the candidates' sentences with them (bySentence). Not
// cached: the frequencies change with the agent's documents, and the offline embedding
// costs microseconds.
func rarityWeights(terms []string, n int, df []int64, factor map[string]float64) func(string) float64 {
	idf := make(map[string]float64, len(terms))
	for i, t := range terms {
		if i < len(df) && df[i] > 0 {
			idf[t] = math.Log(1 + (float64(n)-float64(df[i])+0.5)/(float64(df[i])+0.5))
		}
	}
	// A term no chunk holds has no measured rarity and keeps weight 1 (times its English
	// weight): at the largest
	// weight its character n-grams, which are all it can match, out-voted the words the
	// knowledge does hold (make eval: vector top-1 0.574 → 0.607, top-5 0.836 → 0.902).
	return func(t string) float64 {
		w, ok := idf[t]
		if !ok {
			w = 1
		}
		if f, ok := factor[t]; ok {
			w *= f
		}
		return w * ai.EnglishWeight(t)
	}
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

// passages gives the agents responder this module's retrieval in the agents contract's types.
type passages struct{ r Retriever }

// Passages returns the agents.Knowledge the responder searches (the Retriever's hits with
// their url and retrieval evidence).
func (m *Module) Passages() agentapi.Knowledge { return passages{m.svc} }

func (p passages) Search(ctx context.Context, workspaceID, agentID, query string, n int, minSimilarity float64) ([]agentapi.Passage, error) {
	hits, err := p.r.Search(ctx, workspaceID, agentID, query, n, minSimilarity)
	if err != nil {
		return nil, err
	}
	out := make([]agentapi.Passage, len(hits))
	for i, h := range hits {
		url, _ := h.Metadata["url"].(string)
		out[i] = agentapi.Passage{
			DocID: h.DocID, Title: h.Title, ChunkIdx: h.ChunkIdx, Content: h.Content, Similarity: h.Similarity, URL: url,
			VectorRank: h.VectorRank, TextRank: h.TextRank, Fused: h.Score,
		}
	}
	return out, nil
}
