package ingestion

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/ai"
)

// Query expansion for the offline embedder (issue 13, round 6). Both offline legs are
// lexical, so a question that shares no word with its answer ("garantee" for "warranty",
// "money back" for "refund") cannot find it. Search therefore adds, before weighting the
// query, (1) the closest word of the agent's own vocabulary for each query word that no
// chunk holds (a typo, ai.ClosestWord), and (2) the other words of any group of the
// support thesaurus the query touches (ai.ThesaurusTerms, at ai.SynonymWeight). The
// thesaurus and the corrector live in platform/ai so that the offline answerer and
// scorer read the customer's question the same way (round 7). A semantic embedder
// (OpenAI) needs neither and takes its own path.

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

// offlineQuery returns the query the offline embedder searches with and the weight of
// each of its terms (rarityWeights): query, plus the correction of each word no chunk of
// the agent holds (ai.ClosestWord over the agent's vocabulary and the thesaurus' words), plus
// the thesaurus' words for the groups the query and its corrections touch, at
// ai.SynonymWeight.
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
			if i >= len(df) || df[i] > 0 || ai.MaxTypoEdits(t) == 0 {
				continue
			}
			if vocab == nil {
				if vocab, err = s.vocabulary(ctx, q, workspaceID, agentID); err != nil {
					return "", nil, err
				}
			}
			if w, ok := ai.ClosestWord(t, vocab); ok {
				fixes = append(fixes, w)
			} else if w, ok := ai.ClosestWord(t, ai.ThesaurusVocab()); ok {
				fixes = append(fixes, w)
			}
		}
	}
	syn := ai.ThesaurusTerms(append(slices.Clone(terms), e.QueryTerms(strings.Join(fixes, " "))...))
	if len(fixes) == 0 && len(syn) == 0 {
		return query, rarityWeights(terms, n, df, nil), nil
	}
	expanded := strings.TrimSpace(query + " " + strings.Join(fixes, " ") + " " + strings.Join(syn, " "))
	factor := make(map[string]float64, len(syn))
	for _, t := range syn {
		factor[t] = ai.SynonymWeight
	}
	terms = e.QueryTerms(expanded)
	if n, df, err = s.st.termFreqs(ctx, q, workspaceID, agentID, terms); err != nil {
		return "", nil, err
	}
	return expanded, rarityWeights(terms, n, df, factor), nil
}
