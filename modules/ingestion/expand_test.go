package ingestion

import (
	"context"
	"fmt"
	"testing"

	"github.com/axonhq/axon/platform/ai"
)

// TestSearchExpandsOfflineQuery checks the offline query's expansion end to end: a typo
// that no chunk holds is corrected ("garantee" → the thesaurus' "guarantee" →
// "warranty"), and a question sharing no word with its answer finds it through the
// thesaurus ("phone number" → "call"), in the full-text leg as well. A word of the
// agent's own knowledge corrects a typo too ("delivry" → "delivery"). (A harness test:
// not parallel, see newHarness.)
func TestSearchExpandsOfflineQuery(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ws := h.NewWorkspace("STARTER", 0)
	agent := h.agent(ws)
	docs := map[string]string{
		"warranty": "Every frame we sell carries a lifetime warranty against manufacturing defects.",
		"contact":  "Call us on 555-0142, or write to the team through the chat on our website.",
		"delivery": "Delivery takes three to five working days; tracking comes by e-mail.",
		"sizes":    "Our size guide lists the frame size for each rider's height and inseam.",
	}
	title := map[string]string{}
	for name, text := range docs {
		id := h.create(ws, agent, map[string]any{"type": "TEXT", "title": name, "content": text})
		if err := h.mod.svc.runIngest(ctx, id, 1, 1); err != nil {
			t.Fatal(err)
		}
		title[id] = name
	}
	offline := *h.mod.svc
	offline.embedder = ai.NewOffline()
	for _, c := range []struct{ query, want string }{
		{"is it still under garantee?", "warranty"},
		{"what's your phone number", "contact"},
		{"how long is delivry", "delivery"},
	} {
		hits, err := offline.Search(ctx, ws.ID, agent, c.query, 3, -1)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, x := range hits {
			got = append(got, fmt.Sprintf("%s v%d t%d", title[x.DocID], x.VectorRank, x.TextRank))
		}
		if len(hits) == 0 || title[hits[0].DocID] != c.want || hits[0].TextRank != 1 {
			t.Errorf("%q: hits = %v, want %s first, found by the full-text leg", c.query, got, c.want)
		}
	}
}
