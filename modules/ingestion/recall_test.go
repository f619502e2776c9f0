package ingestion

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"testing"
)

type retrievalSet struct {
	Passages []struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	} `json:"passages"`
	Questions []struct {
		Q      string `json:"q"`
		Answer string `json:"answer"`
	} `json:"questions"`
}

// sqlFullText ranks the agent's READY, active chunks by full-text match of any of the
// query's words (plainto_tsquery ANDs them, which a question rarely satisfies).
const sqlFullText = `
SELECT c.doc_id FROM knowledge_chunks c
JOIN knowledge_docs d ON d.id = c.doc_id
CROSS JOIN LATERAL (SELECT NULLIF(replace(plainto_tsquery('english', $3)::text, '&', '|'), '')::tsquery AS q) t
WHERE c.workspace_id = $1 AND c.agent_id = $2 AND d.status = 'READY' AND d.is_active AND c.tsv @@ t.q
ORDER BY ts_rank_cd(c.tsv, t.q) DESC, c.doc_id
LIMIT $4`

// TestRetrievalRecall measures recall@5 and MRR on testdata/retrieval.json for vector
// search (the Retriever), full-text search, and their reciprocal-rank fusion (k = 60),
// with the offline embedder. The figures are in docs/decisions.md ("Hybrid retrieval");
// the test fails if the Retriever's recall@5 falls below what was measured.
func TestRetrievalRecall(t *testing.T) {
	raw, err := os.ReadFile("testdata/retrieval.json")
	if err != nil {
		t.Fatal(err)
	}
	var set retrievalSet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	ctx := context.Background()
	ws := h.NewWorkspace("STARTER", 0)
	agent := h.agent(ws)
	svc := h.mod.svc
	passageOf := map[string]string{} // doc id → passage id
	for _, p := range set.Passages {
		id := h.create(ws, agent, map[string]any{"type": "TEXT", "title": p.ID, "content": p.Text})
		if err := svc.runIngest(ctx, id, 1, 1); err != nil {
			t.Fatal(err)
		}
		passageOf[id] = p.ID
	}

	const k, pool = 5, 20
	type score struct{ recall, mrr float64 }
	var vec, fts, fused score
	add := func(s *score, ranked []string, want string) {
		for i, id := range ranked {
			if i >= k {
				break
			}
			if passageOf[id] == want {
				s.recall++
				s.mrr += 1 / float64(i+1)
				return
			}
		}
	}
	for _, q := range set.Questions {
		hits, err := svc.Search(ctx, ws.ID, agent, q.Q, pool, -1)
		if err != nil {
			t.Fatal(err)
		}
		var vRank []string
		for _, h := range hits {
			vRank = append(vRank, h.DocID)
		}
		var fRank []string
		if err := h.DB.Select(&fRank, sqlFullText, ws.ID, agent, q.Q, pool); err != nil {
			t.Fatal(err)
		}
		add(&vec, vRank, q.Answer)
		add(&fts, fRank, q.Answer)
		add(&fused, rrf(vRank, fRank), q.Answer)
	}
	n := float64(len(set.Questions))
	t.Logf("recall@%d / MRR over %d questions: vector %.3f / %.3f, full-text %.3f / %.3f, fused %.3f / %.3f",
		k, len(set.Questions), vec.recall/n, vec.mrr/n, fts.recall/n, fts.mrr/n, fused.recall/n, fused.mrr/n)
	if vec.recall/n < 0.90 {
		t.Fatalf("vector recall@%d = %.3f, below 0.90 (1.000 was measured when the set was made)", k, vec.recall/n)
	}
}

// rrf fuses rankings by reciprocal rank: score(d) = Σ 1/(60 + rank).
func rrf(rankings ...[]string) []string {
	scores := map[string]float64{}
	for _, r := range rankings {
		for i, id := range r {
			scores[id] += 1 / float64(60+i+1)
		}
	}
	out := make([]string, 0, len(scores))
	for id := range scores {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool {
		if scores[out[i]] != scores[out[j]] {
			return scores[out[i]] > scores[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}
