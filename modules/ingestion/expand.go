package ingestion

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// Query expansion for the offline embedder (issue 13, round 6). Both offline legs are
// lexical, so a question that shares no word with its answer ("garantee" for "warranty",
// "money back" for "refund") cannot find it. Search therefore adds, before weighting the
// query, (1) the closest word of the agent's own vocabulary for each query word that no
// chunk holds (a typo), and (2) the other words of any group of supportThesaurus the query
// touches. A semantic embedder (OpenAI) needs neither and takes its own path.

// synonymWeight scales the weight of a word the thesaurus added: it widens the query
// without out-voting the customer's own words.
const synonymWeight = 0.5

// supportThesaurus is a small, generic customer-support thesaurus, hand-written from
// everyday support vocabulary (not from any evaluation question): each group holds words
// and phrases a customer and a knowledge base use for the same thing. A phrase matches
// consecutive query words; words are matched singular, as the offline embedder reads
// them.
var supportThesaurus = [][]string{
	{"refund", "refunded", "money back", "reimburse", "reimbursement", "return", "returned", "send back"},
	{"warranty", "guarantee", "guaranteed"},
	{"shipping", "shipped", "ship", "delivery", "deliver", "delivered", "postage", "dispatch", "dispatched"},
	{"phone", "call", "telephone", "phone number", "telephone number", "contact number", "contact"},
	{"hours", "opening", "open", "close", "closed", "closing"},
	{"weekday", "monday", "tuesday", "wednesday", "thursday", "friday"},
	{"weekend", "saturday", "sunday"},
	{"store", "shop", "showroom", "location", "address"},
	{"price", "cost", "fee", "charge", "charged"},
	{"cancel", "cancellation", "cancelled", "canceled"},
	{"order", "ordered", "purchase", "purchased"},
	{"discount", "coupon", "promo code", "voucher"},
	{"account", "login", "password"},
	{"size", "fit", "sizing"},
	{"repair", "service", "servicing", "fix", "fixed"},
}

// thesaurusTerms returns the words the thesaurus adds to a query whose terms (singular,
// as QueryTerms gives them) are terms: for each group that one of terms or a phrase of
// consecutive terms belongs to, the other members' terms, each once and none already in
// terms. split turns a member into its terms (QueryTerms).
func thesaurusTerms(terms []string, split func(string) []string) []string {
	have := make(map[string]bool, len(terms))
	for _, t := range terms {
		have[t] = true
	}
	joined := " " + strings.Join(terms, " ") + " "
	added := map[string]bool{}
	var out []string
	for _, group := range supportThesaurus {
		hit := false
		for _, m := range group {
			if mt := split(m); len(mt) > 0 && strings.Contains(joined, " "+strings.Join(mt, " ")+" ") {
				hit = true
				break
			}
		}
		if !hit {
			continue
		}
		for _, m := range group {
			for _, t := range split(m) {
				if !have[t] && !added[t] {
					added[t] = true
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// maxTypoEdits is how far (Damerau-Levenshtein: insert, delete, replace, swap two
// neighbours) a query word may be from the vocabulary word that replaces it: none for
// words of up to 3 letters, 1 for 4–7, 2 for longer.
func maxTypoEdits(word string) int {
	switch n := len([]rune(word)); {
	case n < 4:
		return 0
	case n <= 7:
		return 1
	default:
		return 2
	}
}

// closestWord returns the word of vocab (word → number of chunks holding it) nearest to
// w within maxTypoEdits(w), the more frequent one on a tie (then the smaller, so the
// answer does not depend on map order); ok is false when there is none.
func closestWord(w string, vocab map[string]int) (best string, ok bool) {
	limit := maxTypoEdits(w)
	if limit == 0 {
		return "", false
	}
	bestD, bestN := limit+1, -1
	rw := []rune(w)
	for v, n := range vocab {
		rv := []rune(v)
		if d := len(rv) - len(rw); d > limit || -d > limit || v == w {
			continue
		}
		d := editDistance(rw, rv, limit)
		if d < bestD || d == bestD && (n > bestN || n == bestN && v < best) {
			best, bestD, bestN = v, d, n
		}
	}
	return best, bestD <= limit
}

// editDistance is the optimal-string-alignment Damerau-Levenshtein distance of a and b,
// or limit+1 when it exceeds limit.
func editDistance(a, b []rune, limit int) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	if prev[len(b)] > limit {
		return limit + 1
	}
	return prev[len(b)]
}

// vocabTTL bounds how long an agent's vocabulary is reused without re-checking it.
const vocabTTL = 10 * time.Minute

// vocabCache holds each agent's vocabulary (words of its READY chunks, 'simple'
// configuration: lower-cased, not stemmed, with the number of chunks holding each),
// keyed by agent and invalidated when the agent's documents change (the stamp: their
// count and latest updated_at) or after vocabTTL. The zero value is ready to use.
type vocabCache struct {
	mu sync.Mutex
	m  map[string]vocabEntry
}

type vocabEntry struct {
	stamp   string
	fetched time.Time
	words   map[string]int
}

// vocabulary returns the agent's vocabulary, from the cache when its documents did not
// change since it was read.
func (s *Service) vocabulary(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID string) (map[string]int, error) {
	stamp, err := s.st.vocabStamp(ctx, q, workspaceID, agentID)
	if err != nil {
		return nil, err
	}
	if s.vocab == nil {
		return s.st.vocabulary(ctx, q, workspaceID, agentID)
	}
	key := workspaceID + "/" + agentID
	s.vocab.mu.Lock()
	e, ok := s.vocab.m[key]
	s.vocab.mu.Unlock()
	if ok && e.stamp == stamp && time.Since(e.fetched) < vocabTTL {
		return e.words, nil
	}
	words, err := s.st.vocabulary(ctx, q, workspaceID, agentID)
	if err != nil {
		return nil, err
	}
	s.vocab.mu.Lock()
	if s.vocab.m == nil {
		s.vocab.m = map[string]vocabEntry{}
	}
	s.vocab.m[key] = vocabEntry{stamp: stamp, fetched: time.Now(), words: words}
	s.vocab.mu.Unlock()
	return words, nil
}

// thesaurusVocab holds the thesaurus' words, candidates for a typo's correction next to
// the agent's own words ("garantee" → "guarantee" → "warranty").
var thesaurusVocab = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	for _, g := range supportThesaurus {
		for _, w := range g {
			if !strings.Contains(w, " ") {
				m[w] = 0
			}
		}
	}
	return m
})

// offlineQuery returns the query the offline embedder searches with and the weight of
// each of its terms (rarityWeights): query, plus the correction of each word no chunk of
// the agent holds (closestWord over the agent's vocabulary and the thesaurus' words), plus
// the thesaurus' words for the groups the query and its corrections touch, at
// synonymWeight.
func (s *Service) offlineQuery(ctx context.Context, q sqlx.QueryerContext, e termWeightedEmbedder, workspaceID, agentID, query string) (string, func(string) float64, error) {
	terms := e.QueryTerms(query)
	n, df, err := s.st.termFreqs(ctx, q, workspaceID, agentID, terms)
	if err != nil {
		return "", nil, err
	}
	var fixes []string
	if n > 0 {
		var vocab map[string]int
		for i, t := range terms {
			if i >= len(df) || df[i] > 0 || maxTypoEdits(t) == 0 {
				continue
			}
			if vocab == nil {
				if vocab, err = s.vocabulary(ctx, q, workspaceID, agentID); err != nil {
					return "", nil, err
				}
			}
			if w, ok := closestWord(t, vocab); ok {
				fixes = append(fixes, w)
			} else if w, ok := closestWord(t, thesaurusVocab()); ok {
				fixes = append(fixes, w)
			}
		}
	}
	syn := thesaurusTerms(append(slices.Clone(terms), e.QueryTerms(strings.Join(fixes, " "))...), e.QueryTerms)
	if len(fixes) == 0 && len(syn) == 0 {
		return query, rarityWeights(terms, n, df, nil), nil
	}
	expanded := strings.TrimSpace(query + " " + strings.Join(fixes, " ") + " " + strings.Join(syn, " "))
	factor := make(map[string]float64, len(syn))
	for _, t := range syn {
		factor[t] = synonymWeight
	}
	terms = e.QueryTerms(expanded)
	if n, df, err = s.st.termFreqs(ctx, q, workspaceID, agentID, terms); err != nil {
		return "", nil, err
	}
	return expanded, rarityWeights(terms, n, df, factor), nil
}
