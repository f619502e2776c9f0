package ai

import (
	"context"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// OfflineEmbeddingModel is the model name reported by the offline embedder. Change it
// whenever the feature recipe changes, so stored vectors can be told apart.
const OfflineEmbeddingModel = "offline-hash-v1"

// OfflineMinSimilarity is the retrieval threshold to use with the offline embedder, the
// offline counterpart of OpenAIMinSimilarity (question against stored chunk).
//
// It is low because a hashed bag of words dilutes with length: a question typically
// scores 0.15–0.5 against a 40–100-word passage that answers it but only 0.06–0.2
// against a 250–500-word chunk containing the answer, while a
// question on a topic the knowledge does not cover stays below about 0.06 against any
// chunk. Measured on 22 support questions over 20 FAQ passages grouped into chunks of
// 40 to 500 words: at 0.06, 19–20 of 22 answering chunks are kept at every size and no
// chunk passes for 7 off-topic questions; at 0.15, only 2–12 of 22 answering chunks of
// 100–500 words would be kept. Chunks that share words with the question but answer
// something else do pass now and then; the top-k limit and the offline responder's
// sentence-level check (OfflineAnswerSimilarity) absorb them.
const OfflineMinSimilarity = 0.06

// OfflineAnswerSimilarity is the threshold the offline responder and scorer apply to a
// single sentence of knowledge (see Offline). Sentences are short, so their scores are
// higher and less noisy than whole chunks': in the measurements above an answering
// sentence scored 0.15–0.7 against the question, and no sentence scored above 0.1 for
// the off-topic questions.
const OfflineAnswerSimilarity = 0.15

// Feature weights of the offline embedder.
const (
	weightWord     = 1.0
	weightBigram   = 0.7
	weightCharGram = 0.3
)

// stopWords are dropped from the offline embedder's features: function words and
// question words and the light verbs of requests ("get", "want", "need") that say nothing
// about a topic, and the pieces contractions split into.
var stopWords = map[string]bool{
	"a": true, "an": true, "the": true, "and": true, "or": true, "but": true, "if": true,
	"of": true, "to": true, "in": true, "on": true, "at": true, "by": true, "for": true,
	"with": true, "from": true, "as": true, "into": true, "about": true, "than": true,
	"is": true, "are": true, "was": true, "were": true, "be": true, "been": true, "am": true,
	"do": true, "does": true, "did": true, "have": true, "has": true, "had": true,
	"will": true, "would": true, "can": true, "could": true, "should": true, "may": true,
	"i": true, "me": true, "my": true, "we": true, "our": true, "you": true, "your": true,
	"he": true, "she": true, "it": true, "its": true, "they": true, "them": true, "their": true,
	"this": true, "that": true, "these": true, "those": true, "there": true, "here": true,
	"what": true, "which": true, "who": true, "how": true, "when": true, "where": true, "why": true,
	"so": true, "too": true, "very": true, "just": true, "also": true, "any": true, "some": true,
	"s": true, "t": true, "m": true, "d": true, "ll": true, "re": true, "ve": true,
	"get": true, "got": true, "want": true, "need": true, "know": true, "tell": true,
	"let": true, "us": true, "please": true, "hi": true, "hello": true, "thanks": true,
}

// FNV-1a 64-bit parameters.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

func fnvByte(h uint64, b byte) uint64 {
	h ^= uint64(b)
	return h * fnvPrime64
}

// Feature namespaces, hashed first so a word and a char-gram with the same letters land
// in different dimensions.
var (
	seedWord     = fnvByte(fnvOffset64, 'w')
	seedBigram   = fnvByte(fnvOffset64, 'b')
	seedCharGram = fnvByte(fnvOffset64, 'c')
)

type feature struct {
	count  int
	weight float64
}

// tokens lower-cases text and splits it into runs of Unicode letters and digits.
func tokens(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// contentTokens drops stop words and reduces plurals to their singular; when nothing is
// left it keeps the stop words, so a text made only of them still gets a meaningful
// vector.
func contentTokens(toks []string) []string {
	out := make([]string, 0, len(toks))
	for _, t := range toks {
		if !stopWords[t] {
			out = append(out, singular(t))
		}
	}
	if len(out) == 0 {
		return toks
	}
	return out
}

// singular is Harman's "S" stemmer: it maps English plurals to their singular
// ("refunds" → "refund", "policies" → "policy", "boxes" → "boxe") so that a question and
// a passage match on the same word, and leaves other words alone.
func singular(w string) string {
	n := len(w)
	switch {
	case n < 4:
		return w
	case strings.HasSuffix(w, "ies") && !strings.HasSuffix(w, "eies") && !strings.HasSuffix(w, "aies"):
		return w[:n-3] + "y"
	case strings.HasSuffix(w, "es") && !strings.HasSuffix(w, "aes") && !strings.HasSuffix(w, "ees") && !strings.HasSuffix(w, "oes"):
		return w[:n-1]
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "ss"):
		return w[:n-1]
	}
	return w
}

// offlineEmbed computes the offline embedding of text (see the package documentation).
// A text without letters or digits gets the unit vector along the first dimension, so
// every vector has length 1 and cosine similarity stays defined.
func offlineEmbed(text string) []float32 { return offlineEmbedWeighted(text, nil) }

// offlineEmbedWeighted is offlineEmbed with every feature of a content token scaled by
// weight(token) (a bigram by the geometric mean of its two tokens' weights); nil weighs
// every token 1.
func offlineEmbedWeighted(text string, weight func(string) float64) []float32 {
	feats := offlineFeatures(text, weight)
	vec := make([]float64, EmbeddingDimensions)
	for h, f := range feats {
		idx, w := f.dim(h)
		vec[idx] += w
	}

	var norm float64
	for _, v := range vec {
		norm += v * v
	}
	out := make([]float32, EmbeddingDimensions)
	if norm == 0 {
		out[0] = 1
		return out
	}
	norm = math.Sqrt(norm)
	for i, v := range vec {
		out[i] = float32(v / norm)
	}
	return out
}

// dim is the dimension feature h lands in and the signed value it adds there.
func (f feature) dim(h uint64) (uint64, float64) {
	// Fold the high half in before taking the index: FNV-1a's low bits mix less.
	idx := (h ^ h>>32) % EmbeddingDimensions
	w := f.weight * (1 + math.Log(float64(f.count)))
	if h>>63 == 1 {
		w = -w
	}
	return idx, w
}

// sparseCosine is cosine(qv, offlineEmbed(text)) for a unit vector qv, computed over
// text's features only instead of all 1536 dimensions (a sentence has a few dozen):
// PassageScores scores every sentence of up to 40 chunks per search.
func sparseCosine(qv []float32, text string) float64 {
	feats := offlineFeatures(text, nil)
	vec := make(map[uint64]float64, len(feats))
	for h, f := range feats {
		idx, w := f.dim(h)
		vec[idx] += w
	}
	var norm, dot float64
	for idx, v := range vec {
		norm += v * v
		dot += float64(qv[idx]) * v
	}
	if norm == 0 {
		return float64(qv[0])
	}
	return dot / math.Sqrt(norm)
}

// offlineFeatures returns the hashed features of text: its content tokens, their bigrams
// and their character 3-grams, each with its count and weight (see offlineEmbedWeighted).
func offlineFeatures(text string, weight func(string) float64) map[uint64]feature {
	toks := contentTokens(tokens(text))
	feats := make(map[uint64]feature, len(toks)*8)
	add := func(h uint64, w float64) {
		f := feats[h]
		f.count++
		f.weight = max(f.weight, w)
		feats[h] = f
	}
	ws := make([]float64, len(toks))
	for i, t := range toks {
		ws[i] = 1
		if weight != nil {
			ws[i] = weight(t)
		}
	}

	var gram []byte
	for i, t := range toks {
		add(fnvString(seedWord, t), weightWord*ws[i])
		if i > 0 {
			h := fnvString(seedBigram, toks[i-1])
			h = fnvByte(h, ' ')
			add(fnvString(h, t), weightBigram*math.Sqrt(ws[i-1]*ws[i]))
		}
		// Character 3-grams of "<word>": the boundary markers distinguish prefixes and
		// suffixes, and let inflections ("refund", "refunds") share most features.
		gram = append(append(append(gram[:0], '<'), t...), '>')
		for start := 0; start < len(gram); {
			end, n := start, 0
			for n < 3 && end < len(gram) {
				_, size := utf8.DecodeRune(gram[end:])
				end += size
				n++
			}
			if n < 3 {
				break
			}
			h := seedCharGram
			for _, b := range gram[start:end] {
				h = fnvByte(h, b)
			}
			add(h, weightCharGram*ws[i])
			_, size := utf8.DecodeRune(gram[start:])
			start += size
		}
	}

	return feats
}

// cosine returns the cosine similarity of two vectors of equal length. For the unit
// vectors of this package it is their dot product.
func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// Embed returns the deterministic offline embedding of each text (1536 dims, L2-norm 1),
// in input order. It never calls the network; it fails only when ctx is done (see
// Offline.Complete).
func (*Offline) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if err := ctx.Err(); err != nil {
			return nil, contextError(ctx, err)
		}
		out[i] = offlineEmbed(t)
	}
	return out, nil
}

// QueryTerms returns the terms the offline embedding of text is built from, each once, in
// order of appearance: its words in lower case, without stop words, plurals made
// singular. They are the keys EmbedQuery asks weights for.
func (*Offline) QueryTerms(text string) []string {
	toks := contentTokens(tokens(text))
	seen := make(map[string]bool, len(toks))
	out := make([]string, 0, len(toks))
	for _, t := range toks {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// EmbedQuery returns the offline embedding of a query whose features are weighted by
// term: every feature of a term t (the word, its character 3-grams, and the bigrams it is
// part of, by the geometric mean) counts weight(t) times as much. A caller that knows
// which words are rare in the searched knowledge (an inverse document frequency) makes
// them decide the similarity instead of words every passage holds. Stored passages are
// embedded unweighted (Embed), so the weights need no reindex. Weights must be positive.
// It fails only when ctx is done.
func (*Offline) EmbedQuery(ctx context.Context, text string, weight func(term string) float64) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, contextError(ctx, err)
	}
	return offlineEmbedWeighted(text, weight), nil
}

// Dimensions returns EmbeddingDimensions (1536).
func (*Offline) Dimensions() int { return EmbeddingDimensions }

// Model returns OfflineEmbeddingModel.
func (*Offline) Model() string { return OfflineEmbeddingModel }

// passageOverlapWeight is the weight of the query-term overlap in a sentence's score in
// PassageScores (make eval, round 5: 0.5–1 measured alike and better than 0.2–0.3;
// docs/performance.md).
const passageOverlapWeight = 0.5

// PassageScores scores each passage by its best answer sentence for query, the way the
// offline answerer reads a passage (answer units: a heading lends leadWeight of its
// score to the sentences of its section, a question its score to the answer after it):
// a sentence scores the cosine of its embedding with the query's, weighted as by
// EmbedQuery, plus passageOverlapWeight times the weighted share of the query's terms
// that the sentence holds (as the offline scorer matches words: singular, a shared
// prefix, one typo, or a hyphenated compound written closed up, "preorder" for
// "pre-order"). A passage scores what its best sentence scores, whatever its length, so
// a 512-word chunk whose one sentence answers competes with a 30-word Q&A pair on equal
// terms; a whole-chunk cosine dilutes that sentence in the rest. A passage without an
// answer sentence scores 0. weight nil weighs every term 1; weights must be positive.
func (*Offline) PassageScores(query string, weight func(term string) float64, passages []string) []float64 {
	qv := offlineEmbedWeighted(query, weight)
	terms := (*Offline)(nil).QueryTerms(query)
	ws := make([]float64, len(terms))
	var total float64
	for i, t := range terms {
		ws[i] = 1
		if weight != nil {
			ws[i] = weight(t)
		}
		total += ws[i]
	}
	score := func(text string) float64 {
		sim := sparseCosine(qv, text)
		if total == 0 {
			return sim
		}
		set := passageWords(text)
		var found float64
		for i, t := range terms {
			if knownWord(t, set) {
				found += ws[i]
			}
		}
		return sim + passageOverlapWeight*found/total
	}
	out := make([]float64, len(passages))
	for i, p := range passages {
		if c := scoreSentences(score, p, leadWeight); len(c) > 0 {
			out[i] = c[0].sim
		}
	}
	return out
}

// passageWords is wordSet plus each hyphenated compound of text written as one word
// ("pre-order" also gives "preorder").
func passageWords(text string) map[string]bool {
	set := wordSet(text)
	for _, f := range strings.Fields(text) {
		if !strings.Contains(f, "-") {
			continue
		}
		if parts := tokens(f); len(parts) > 1 {
			set[singular(strings.Join(parts, ""))] = true
		}
	}
	return set
}
