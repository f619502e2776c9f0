package ingestion

import (
	"fmt"
	"testing"
)

// TestFuse checks the hybrid ranking: reciprocal-rank fusion of the two legs, vector-only
// chunks below the threshold left out, full-text matches kept whatever their similarity.
func TestFuse(t *testing.T) {
	row := func(doc string, sim float64) hitRow { return hitRow{DocID: doc, Title: doc, Similarity: sim} }
	vec := []hitRow{row("a", 0.30), row("b", 0.20), row("c", 0.01)}
	txt := []hitRow{row("b", 0.20), row("d", 0.02)}
	hits := fuse(vec, txt, 5, 0.06)
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
	if n := len(fuse(vec, txt, 1, 0.06)); n != 1 {
		t.Fatalf("k = 1 gave %d hits", n)
	}
}
