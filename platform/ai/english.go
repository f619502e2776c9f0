package ai

import (
	_ "embed"
	"math"
	"strconv"
	"strings"
	"sync"
)

// englishWordsFile holds the 5,000 most frequent words of spoken English with their
// counts (SUBTLEX-US; the file's header says where it comes from and how it was made).
//
//go:embed english_words.txt
var englishWordsFile string

// minEnglishWeight is the least weight EnglishWeight gives (the most frequent words),
// so that a text made only of very common words still has features.
const minEnglishWeight = 0.1

// englishTable is the parsed english_words.txt: each word's information content in
// nats, ln(total / count), and the smallest and largest of them (the largest is that of
// the least frequent listed word, which every unlisted word gets).
type englishTable struct {
	ic       map[string]float64
	min, max float64
}

var english = sync.OnceValue(func() englishTable {
	t := englishTable{ic: make(map[string]float64, 5000), min: math.Inf(1)}
	var total float64
	for line := range strings.Lines(englishWordsFile) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		word, count, ok := strings.Cut(line, " ")
		n, err := strconv.ParseFloat(count, 64)
		if !ok || err != nil || n <= 0 {
			panic("ai: bad line in english_words.txt: " + line)
		}
		if word == "total" && total == 0 {
			total = n
			continue
		}
		ic := math.Log(total / n)
		t.ic[word] = ic
		t.min, t.max = min(t.min, ic), max(t.max, ic)
	}
	if total == 0 || len(t.ic) == 0 {
		panic("ai: english_words.txt has no total or no words")
	}
	return t
})

// EnglishWeight returns how much term (lower case, plural made singular, as QueryTerms
// returns it) says about a topic by how rare it is in everyday spoken English: its
// information content ln(total / count) in SUBTLEX-US, scaled to [minEnglishWeight, 1]
// between the most frequent word and the 5,000th. Words beyond the 5,000 most frequent
// weigh 1 ("warranty", "derailleur", a typo); "use", "bring" and "like" weigh about 0.55
// ("you" the minimum). A knowledge base's own word frequencies cannot tell this: in a
// small one "use" may be in a single chunk, and a question like "which motor brand do
// your e-bikes use" then matched on it.
func EnglishWeight(term string) float64 {
	t := english()
	ic, ok := t.ic[term]
	if !ok {
		return 1
	}
	return max(minEnglishWeight, (ic-t.min)/(t.max-t.min))
}
