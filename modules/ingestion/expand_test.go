package ingestion

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/axonhq/axon/platform/ai"
)

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b  string
		limit int
		want  int
	}{
		{"garantee", "guarantee", 2, 1},
		{"refnud", "refund", 1, 1}, // two neighbours swapped: one edit
		{"shiping", "shipping", 1, 1},
		{"warranty", "warranty", 2, 0},
		{"garantee", "warranty", 2, 3}, // over the limit: limit + 1
		{"cost", "fees", 1, 2},
	} {
		if got := editDistance([]rune(c.a), []rune(c.b), c.limit); got != c.want {
			t.Errorf("editDistance(%q, %q, %d) = %d, want %d", c.a, c.b, c.limit, got, c.want)
		}
	}
}

func TestClosestWord(t *testing.T) {
	t.Parallel()
	vocab := map[string]int{"shipping": 4, "shopping": 1, "refund": 2, "deposit": 1, "fee": 3, "feed": 1, "returns": 2}
	for _, c := range []struct {
		word, want string
	}{
		{"shiping", "shipping"},
		{"refnud", "refund"}, // two neighbours swapped: one edit
		{"depositt", "deposit"},
		{"retrns", "returns"},
		{"shoping", "shopping"}, // one insertion; shipping is two edits away
		{"fede", "fee"},         // fee (a deletion) and feed (a swap) tie: fee, in more chunks
		{"fe", ""},              // too short to correct
		{"refund", ""},          // the word itself is no correction
		{"parcel", ""},          // nothing within one edit
	} {
		got, ok := closestWord(c.word, vocab)
		if ok != (c.want != "") || got != c.want && ok {
			t.Errorf("closestWord(%q) = %q, %v, want %q", c.word, got, ok, c.want)
		}
	}
	// A tie goes to the word more chunks hold.
	if got, _ := closestWord("sipping", map[string]int{"shipping": 1, "sipping": 0, "zipping": 5}); got != "zipping" {
		t.Errorf("tie: got %q, want zipping (the more frequent)", got)
	}
	// A word of 8 letters or more may be two edits away, one of 4–7 letters only one.
	if got, ok := closestWord("garanteee", map[string]int{"guarantee": 1}); !ok || got != "guarantee" {
		t.Errorf("closestWord(garanteee) = %q, %v, want guarantee", got, ok)
	}
	if got, ok := closestWord("rfnd", map[string]int{"refund": 1}); ok {
		t.Errorf("closestWord(rfnd) = %q, want none (two edits for a 4-letter word)", got)
	}
}

func TestThesaurusTerms(t *testing.T) {
	t.Parallel()
	split := ai.NewOffline().QueryTerms
	got := thesaurusTerms(split("when do I get my money back"), split)
	for _, w := range []string{"refund", "reimburse", "return"} {
		if !slices.Contains(got, w) {
			t.Errorf("money back: %v lacks %q", got, w)
		}
	}
	if slices.Contains(got, "money") || slices.Contains(got, "back") {
		t.Errorf("money back: %v repeats the query's own words", got)
	}
	// A phrase matches only as consecutive words: "back" and "money" apart do not.
	if got := thesaurusTerms(split("back my money"), split); len(got) != 0 {
		t.Errorf("back my money: %v, want nothing", got)
	}
	if got := thesaurusTerms(split("what time do you close on weekdays"), split); !slices.Contains(got, "monday") || !slices.Contains(got, "opening") {
		t.Errorf("close on weekdays: %v, want the weekday names and the opening-hours words", got)
	}
	if got := thesaurusTerms(split("is the bike red"), split); len(got) != 0 {
		t.Errorf("is the bike red: %v, want nothing", got)
	}
}

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
