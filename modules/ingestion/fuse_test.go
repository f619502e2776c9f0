package ingestion

import (
	"context"
	"fmt"
	"testing"

	"github.com/axonhq/axon/platform/ai"
)

// TestFuse checks the hybrid ranking: reciprocal-rank fusion of the two legs, vector-only
// chunks below the threshold left out, full-text matches kept whatever their similarity.
func TestFuse(t *testing.T) {
	row := func(doc string, sim float64) hitRow { return hitRow{DocID: doc, Title: doc, Similarity: sim} }
	vec := []hitRow{row("a", 0.30), row("b", 0.20), row("c", 0.01)}
	txt := []hitRow{row("b", 0.20), row("d", 0.02)}
	hits := fuse(vec, txt, nil, 5, 0.06, 1)
	var got []string
	for _, h := range hits {
		got = append(got, fmt.Sprintf("%s v%d t%d", h.DocID, h.VectorRank, h.TextRank))
	}
	// b is in both legs (1/62 + 1/61), a first in one (1/61), d second in one (1/62); c is
	// vector-only and below 0.06.
	if want := "[b v2 t1 a v1 t0 d v0 t2]"; fmt.Sprint(got) != want {
		t.Fatalf("fuse = %v, want %s", got, want)
	}
	if hits[0].Score <= hits[1].Score || hits[1].Score <= hits[2].Score {
		t.Fatalf("scores not descending: %+v", hits)
	}
	if n := len(fuse(vec, txt, nil, 1, 0.06, 1)); n != 1 {
		t.Fatalf("k = 1 gave %d hits", n)
	}
	// With the vector leg at half weight (the offline embedder), d (second in full text,
	// 1/62) goes before a (first in the vector leg, 0.5/61).
	got = got[:0]
	for _, h := range fuse(vec, txt, nil, 5, 0.06, 0.5) {
		got = append(got, h.DocID)
	}
	if want := "[b d a]"; fmt.Sprint(got) != want {
		t.Fatalf("fuse with vector weight 0.5 = %v, want %s", got, want)
	}
	// With srows (the offline embedder's best-sentence ranking) the vector side's score
	// follows srows, while VectorRank stays the vector leg's rank: d first in srows
	// (1/61 + 1/62) beats b (1/62 + 1/61 ties, then by similarity b 0.20 > d 0.02), so b,
	// d, then a last in srows.
	got = got[:0]
	for _, h := range fuse(vec, txt, []hitRow{row("d", 0.02), row("b", 0.20), row("a", 0.30)}, 5, 0.06, 1) {
		got = append(got, fmt.Sprintf("%s v%d t%d", h.DocID, h.VectorRank, h.TextRank))
	}
	if want := "[b v2 t1 d v0 t2 a v1 t0]"; fmt.Sprint(got) != want {
		t.Fatalf("fuse with srows = %v, want %s", got, want)
	}
}

// TestSearchRareWordDecides checks both legs weigh words by their rarity among the agent's
// chunks: "bike" is in every chunk, "deposit" in one long chunk, and a short chunk that
// repeats "bike" must not out-rank it: in the full-text leg (BM25) whatever the embedder,
// and in the vector leg with the offline embedder, whose query is weighted by inverse
// document frequency. (A harness test: not parallel, see newHarness.)
func TestSearchRareWordDecides(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ws := h.NewWorkspace("STARTER", 0)
	agent := h.agent(ws)
	docs := map[string]string{
		"range":    "Our bike shop sells every bike: road bike, gravel bike, kids bike and e-bike.",
		"workshop": "We repair every bike brand in our bike workshop, and a bike service takes two days.",
		"rental":   words("Rental terms.", 60) + " A deposit of $200 is held on your card for every rental bike until it is returned.",
	}
	title := map[string]string{}
	for name, text := range docs {
		id := h.create(ws, agent, map[string]any{"type": "TEXT", "title": name, "content": text})
		if err := h.mod.svc.runIngest(ctx, id, 1, 1); err != nil {
			t.Fatal(err)
		}
		title[id] = name
	}
	search := func(svc *Service) ([]Hit, string) {
		t.Helper()
		hits, err := svc.Search(ctx, ws.ID, agent, "is there a bike deposit?", 3, -1)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, x := range hits {
			got = append(got, fmt.Sprintf("%s v%d t%d", title[x.DocID], x.VectorRank, x.TextRank))
		}
		return hits, fmt.Sprint(got)
	}
	// The harness's embedder is OpenAI's client (against a fake): the plain vector leg.
	hits, got := search(h.mod.svc)
	var rental *Hit
	for i := range hits {
		if title[hits[i].DocID] == "rental" {
			rental = &hits[i]
		}
	}
	if rental == nil || rental.TextRank != 1 {
		t.Fatalf("OpenAI embedder: hits = %s, want rental first in the full-text leg", got)
	}
	if rental.VectorRank == 1 {
		t.Fatalf("OpenAI embedder: hits = %s; the unweighted vector leg must not already put rental first", got)
	}
	// The fake embeds like the offline embedder, so the stored vectors are the offline ones.
	offline := *h.mod.svc
	offline.embedder = ai.NewOffline()
	if hits, got := search(&offline); len(hits) == 0 || title[hits[0].DocID] != "rental" || hits[0].VectorRank != 1 || hits[0].TextRank != 1 {
		t.Fatalf("offline embedder: hits = %s, want rental first in both legs", got)
	}
}
