package ai

import (
	"strings"
	"sync"
)

// Query expansion for the offline provider (issue 13, rounds 6 and 7). The offline
// embedder, the offline answerer and the offline scorer are lexical: a question that
// shares no word with its answer ("garantee" for "warranty", "money back" for "refund")
// cannot match it. The knowledge module's retriever (with the agent's whole vocabulary)
// and the offline answerer and scorer (with the knowledge entries they were given) widen
// the customer's words the same way: a word the knowledge does not hold is corrected to
// the closest word it does hold (ClosestWord), and each group of a small support
// thesaurus the question touches brings in its other members (ThesaurusTerms,
// SynonymWeight). A semantic embedder and a real model need neither.

// SynonymWeight scales what a word the thesaurus added counts for, against the
// customer's own word (1): it widens the question without out-voting what the customer
// wrote.
const SynonymWeight = 0.5

// supportThesaurus is a small, generic customer-support thesaurus, hand-written from
// everyday support vocabulary (not from any evaluation question): each group holds words
// and phrases a customer and a knowledge base use for the same thing. A phrase matches
// consecutive words; words are matched singular, as the offline embedder reads them.
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

// thesaurusGroups is supportThesaurus with each member split into its terms (queryTerms).
var thesaurusGroups = sync.OnceValue(func() [][][]string {
	out := make([][][]string, len(supportThesaurus))
	for i, g := range supportThesaurus {
		for _, m := range g {
			if mt := queryTerms(m); len(mt) > 0 {
				out[i] = append(out[i], mt)
			}
		}
	}
	return out
})

// thesaurusMatches calls hit with each thesaurus group and the positions (into terms) of
// the terms that a member of the group matches: a one-word member matches that term, a
// phrase the run of consecutive terms it spells.
func thesaurusMatches(terms []string, hit func(group [][]string, at []int)) {
	for _, group := range thesaurusGroups() {
		var at []int
		for _, m := range group {
			for i := 0; i+len(m) <= len(terms); i++ {
				match := true
				for j, w := range m {
					if terms[i+j] != w {
						match = false
						break
					}
				}
				if match {
					for j := range m {
						at = append(at, i+j)
					}
				}
			}
		}
		if len(at) > 0 {
			hit(group, at)
		}
	}
}

// ThesaurusTerms returns the words the support thesaurus adds to a query whose terms
// (as Offline.QueryTerms gives them: lower case, no stop words, singular) are terms: for
// each group that one of terms, or a phrase of consecutive terms, belongs to, the other
// members' terms, each once and none already in terms, in the thesaurus' order.
func ThesaurusTerms(terms []string) []string {
	have := make(map[string]bool, len(terms))
	for _, t := range terms {
		have[t] = true
	}
	added := map[string]bool{}
	var out []string
	thesaurusMatches(terms, func(group [][]string, _ []int) {
		for _, m := range group {
			for _, t := range m {
				if !have[t] && !added[t] {
					added[t] = true
					out = append(out, t)
				}
			}
		}
	})
	return out
}

// ThesaurusVocab returns the thesaurus' one-word members (each with count 0), candidates
// for a typo's correction next to the knowledge's own words ("garantee" → "guarantee",
// which the thesaurus then maps to "warranty"). The map is shared: do not modify it.
var ThesaurusVocab = sync.OnceValue(func() map[string]int {
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

// MaxTypoEdits is how far (Damerau-Levenshtein: insert, delete, replace, swap two
// neighbours) a query word may be from the word that corrects it: none for words of up
// to 3 letters, 1 for 4–7, 2 for longer.
func MaxTypoEdits(word string) int {
	switch n := len([]rune(word)); {
	case n < 4:
		return 0
	case n <= 7:
		return 1
	default:
		return 2
	}
}

// ClosestWord returns the word of vocab (word → how many passages hold it) nearest to w
// within MaxTypoEdits(w), the more frequent one on a tie (then the smaller, so the answer
// does not depend on map order); ok is false when there is none. w itself is no
// correction.
func ClosestWord(w string, vocab map[string]int) (best string, ok bool) {
	limit := MaxTypoEdits(w)
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

// queryTerm is one of the customer's words as the offline answerer and scorer read it,
// with the words that may stand in for it in the knowledge.
type queryTerm struct {
	word string
	// fix is the correction of a word the knowledge does not hold (a typo), "" when none;
	// it counts as the word itself.
	fix string
	// syn are the other members of the thesaurus groups the word (or its correction, or a
	// phrase it is part of) belongs to, each split into its terms; one counts
	// SynonymWeight of the word.
	syn [][]string
}

// expandQuestion reads the customer's question against the knowledge given (its words:
// vocab, word → how many entries hold it): the question's terms (queryTerms), each
// with its correction when the knowledge does not hold it (ClosestWord over vocab, then
// over the thesaurus' words; a word knownWord already finds in the knowledge needs
// none), and its thesaurus siblings. The retriever expands the same way over the agent's
// whole vocabulary (the knowledge module's offlineQuery).
func expandQuestion(question string, vocab map[string]int) []queryTerm {
	words := queryTerms(question)
	set := make(map[string]bool, len(vocab))
	for k := range vocab {
		set[k] = true
	}
	out := make([]queryTerm, len(words))
	fixed := make([]string, len(words))
	for i, w := range words {
		out[i].word = w
		if knownWord(w, set) {
			fixed[i] = w
			continue
		}
		if f, ok := ClosestWord(w, vocab); ok {
			out[i].fix = f
		} else if f, ok := ClosestWord(w, ThesaurusVocab()); ok {
			out[i].fix = f
		}
		fixed[i] = w
		if out[i].fix != "" {
			fixed[i] = out[i].fix
		}
	}
	// A group matches the customer's words or their corrections.
	for _, ts := range [][]string{words, fixed} {
		thesaurusMatches(ts, func(group [][]string, at []int) {
			for _, i := range at {
				for _, m := range group {
					if len(m) == 1 && (m[0] == words[i] || m[0] == out[i].fix) {
						continue
					}
					if !containsTerms(out[i].syn, m) {
						out[i].syn = append(out[i].syn, m)
					}
				}
			}
		})
	}
	return out
}

func containsTerms(list [][]string, m []string) bool {
	for _, l := range list {
		if strings.Join(l, " ") == strings.Join(m, " ") {
			return true
		}
	}
	return false
}

// credit is how much of t a text whose words are set holds: 1 for the word or its
// correction, SynonymWeight for a thesaurus sibling (every term of a phrase present), 0
// otherwise.
func (t queryTerm) credit(set map[string]bool) float64 {
	if knownWord(t.word, set) || t.fix != "" && knownWord(t.fix, set) {
		return 1
	}
	for _, m := range t.syn {
		all := true
		for _, w := range m {
			if !knownWord(w, set) {
				all = false
				break
			}
		}
		if all {
			return SynonymWeight
		}
	}
	return 0
}

// queryTerms is Offline.QueryTerms.
func queryTerms(text string) []string { return (*Offline)(nil).QueryTerms(text) }
