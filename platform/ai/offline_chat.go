package ai

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// KnowledgeMarker introduces the knowledge block that the offline responder answers from.
// Convention (shared with whoever builds prompts): a line of the system prompt that starts
// with KnowledgeMarker, followed by numbered entries, one per retrieved chunk:
//
//	Knowledge:
//	[1] Refunds are issued within 5 business days. Contact billing for invoices.
//	[2] Q: How do I reset my password?
//	A: Open Settings, then Security, and choose Reset password.
//
// An entry starts at a line beginning with "[n]" and runs until the next entry or the end
// of the message, so anything else the prompt contains must come before the marker. When
// several messages contain the marker, the last one is used. Lines of the block that hold
// nothing but one markup tag (after the "[n]" prefix, if any), such as `<excerpt
// source="FAQ">` or `</knowledge>`, are structure, not text, and are skipped: a prompt may
// fence each entry in tags so a model reads it as quoted data.
const KnowledgeMarker = "Knowledge:"

// TagsMarker introduces the tag list the offline tagger chooses from: a line of a system
// message that starts with TagsMarker followed by a JSON array of strings, e.g.
//
//	Available tags: ["billing", "shipping", "refund request"]
const TagsMarker = "Available tags:"

// OfflineDontKnow is the offline responder's reply when no knowledge entry matches.
const OfflineDontKnow = "I'm sorry, I don't know the answer to that."

// Offline is the deterministic Provider used when no OpenAI key is configured. It needs
// no network and its results depend only on its input.
//
// Complete and Stream answer the customer's last user message (without any knowledge
// block it carries) extractively. Every knowledge entry (see KnowledgeMarker) is cut
// into sentences, lines broken inside a sentence (PDF text) joined first. Headings (a
// short line that ends no sentence) and fragments (fewer than five words) are never an
// answer: each adds half its score to the sentences after it up to the next heading.
// Sentences ending in "?" are not answers either but lend their score to the sentence
// after them, so a Q&A entry matches on its question and answers with its answer
// ("A:"/"Answer:" labels are removed). The question is read as the retriever reads it:
// a word the knowledge does not hold is corrected to the closest word it does (or of the
// support thesaurus), and the thesaurus adds the other words of the groups the question
// touches (see expand.go). A sentence's score is the similarity of its offline
// embedding to the question's (each word weighted by its rarity among the knowledge's
// sentences, thesaurus words by SynonymWeight of theirs) plus 0.5 times the weighted
// share of the question's words it holds (a correction counts as the word, a thesaurus
// word SynonymWeight). The entries are taken to come best first: the sentences of every
// entry after the first count laterEntryShare (0.85) of their score. If the best
// sentence reaches OfflineAnswerSimilarity, the reply is that sentence, plus the
// runner-up of the same entry when it also reaches the threshold and runnerUpShare of the
// best score, in their original order. Otherwise the reply is OfflineDontKnow.
// Stream delivers the reply word by word. Token counts are word counts.
//
// CompleteJSON has three modes. When out is a pointer to a struct with a field named
// Summary (or tagged json:"summary"), or otherwise when a system message mentions
// "summar", it returns {"summary": …}: the first three sentences the customer wrote
// (user messages; all non-system messages when there are none). When out is a pointer to
// a struct with a field named Tags (or tagged json:"tags"), it returns {"tags": […]}: at
// most three of the tags listed after TagsMarker whose words occur in what the customer
// wrote (user messages), most matched words first, then in list order; a word matches
// when its singular equals one of the customer's or, for words of four letters or more,
// one is a prefix of the other ("ship" and "shipping"). Otherwise it returns
// confidence scores {"factual", "intent", "emotional"} in [0, 1], computed from the last
// user message as the customer's text:
//
//   - factual: 0.1 when a non-system message contains OfflineDontKnow; else, when a
//     knowledge block is present, derived from the best sentence score as above (0.7 or
//     more when it reaches OfflineAnswerSimilarity, below 0.4 when not; the question
//     widened as the answerer reads it) multiplied by the share of the customer's content
//     words (each weighted by its length times EnglishWeight; numbers left out) that the
//     knowledge the reply was drawn from contains: the reply's sentences with the
//     question before each and its section heading (termCoverage; a correction counts as
//     the word, a thesaurus word SynonymWeight), so a question about something the answer
//     does not mention scores low; else 0.8, since the offline responder only answers
//     from knowledge.
//   - intent: 0.8, or 0.5 when the customer's text has no words.
//   - emotional: starts at 0.9 and drops by 0.3 per anger word (angry, ridiculous, worst,
//     …), by 0.3 for shouting (two or more all-caps words of 3+ letters) and by 0.2 for
//     "!!", so an angry message falls below the 0.25 ANGER_DETECTED threshold.
type Offline struct{}

// NewOffline returns the offline provider.
func NewOffline() *Offline { return &Offline{} }

// Name returns "offline".
func (*Offline) Name() string { return "offline" }

// Complete returns the extractive answer described on Offline. It fails only when ctx is
// done: with an ErrTimeout past its deadline, with context.Canceled when cancelled.
func (o *Offline) Complete(ctx context.Context, req ChatRequest) (ChatResponse, error) {
	if err := ctx.Err(); err != nil {
		return ChatResponse{}, contextError(ctx, err)
	}
	answer := offlineAnswer(req.Messages)
	return ChatResponse{
		Content:          answer,
		PromptTokens:     promptWords(req.Messages),
		CompletionTokens: len(strings.Fields(answer)),
	}, nil
}

// Stream emits the Complete answer word by word ("I'm", " sorry,", …), so the deltas
// concatenate to the returned Content. An error from onDelta or the end of ctx stops it.
func (o *Offline) Stream(ctx context.Context, req ChatRequest, onDelta func(delta string) error) (ChatResponse, error) {
	resp, err := o.Complete(ctx, req)
	if err != nil {
		return ChatResponse{}, err
	}
	for i, w := range strings.Fields(resp.Content) {
		if err := ctx.Err(); err != nil {
			return ChatResponse{}, contextError(ctx, err)
		}
		if i > 0 {
			w = " " + w
		}
		if err := onDelta(w); err != nil {
			return ChatResponse{}, err
		}
	}
	return resp, nil
}

// CompleteJSON writes the summary or the confidence scores described on Offline into out.
// It returns an ErrBadResponse when out cannot hold them.
func (o *Offline) CompleteJSON(ctx context.Context, req ChatRequest, out any) error {
	if err := ctx.Err(); err != nil {
		return contextError(ctx, err)
	}
	var v any
	switch {
	case wantsField(out, "tags"):
		v = map[string][]string{"tags": offlineTags(req.Messages)}
	case wantsSummary(req.Messages, out):
		v = map[string]string{"summary": offlineSummary(req.Messages)}
	default:
		v = offlineScores(req.Messages)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return newError(ErrBadResponse, 0, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return newError(ErrBadResponse, 0, err)
	}
	return nil
}

// offlineAnswer implements the extractive responder.
func offlineAnswer(msgs []ChatMessage) string {
	question := customerText(msgs)
	entries := knowledgeEntries(msgs)
	if strings.TrimSpace(question) == "" || len(entries) == 0 {
		return OfflineDontKnow
	}
	qs := newQuestionScorer(question, entries)
	var best []scoredSentence
	bestSim := math.Inf(-1)
	for i, e := range entries {
		cands := scoreSentences(qs.score, e, leadWeight)
		if i > 0 {
			// The entries come best first from the retriever, which ranked them with more
			// evidence than one sentence gives (the whole knowledge, two legs).
			for j := range cands {
				cands[j].sim *= laterEntryShare
			}
		}
		if len(cands) > 0 && cands[0].sim > bestSim {
			best, bestSim = cands, cands[0].sim
		}
	}
	if bestSim < OfflineAnswerSimilarity {
		return OfflineDontKnow
	}
	picked := best[:1]
	if len(best) > 1 && best[1].sim >= OfflineAnswerSimilarity && best[1].sim >= runnerUpShare*best[0].sim {
		picked = []scoredSentence{best[0], best[1]}
		if picked[1].pos < picked[0].pos {
			picked[0], picked[1] = picked[1], picked[0]
		}
	}
	parts := make([]string, len(picked))
	for i, p := range picked {
		parts[i] = p.text
	}
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

// bestSimilarity returns the highest cosine similarity of an answer sentence (or of the
// question before it) of any entry to the question, as written or widened with its
// corrections and thesaurus words (expandQuestion; a thesaurus word counts
// SynonymWeight), whichever is higher (the widening serves recall and must not dilute a
// direct match), or -1 when there is nothing to compare: the scorer's measure of how
// closely the knowledge matches, without the answerer's rarity weights, heading and
// overlap bonuses.
func bestSimilarity(question string, entries []string) float64 {
	if strings.TrimSpace(question) == "" {
		return -1
	}
	// The question widened as the answerer reads it (expandQuestion): corrections count
	// as the customer's words, thesaurus words SynonymWeight.
	wt := map[string]float64{}
	var extra []string
	for _, t := range expandQuestion(question, knowledgeVocab(entries)) {
		if t.fix != "" {
			wt[t.fix] = 1
			extra = append(extra, t.fix)
		}
		for _, m := range t.syn {
			for _, w := range m {
				if _, ok := wt[w]; !ok {
					wt[w] = SynonymWeight
					extra = append(extra, w)
				}
			}
		}
	}
	for _, w := range queryTerms(question) {
		wt[w] = 1
	}
	qv := offlineEmbedWeighted(question+" "+strings.Join(extra, " "), func(t string) float64 {
		if w, ok := wt[t]; ok {
			return w
		}
		return 1
	})
	plain := offlineEmbed(question)
	cos := func(text string) float64 {
		v := offlineEmbed(text)
		return max(cosine(qv, v), cosine(plain, v))
	}
	best := -1.0
	for _, e := range entries {
		if cands := scoreSentences(cos, e, 0); len(cands) > 0 {
			best = max(best, cands[0].sim)
		}
	}
	return best
}

type scoredSentence struct {
	pos  int
	text string
	sim  float64
}

// scoreSentences scores the answer sentences of entry with score, best first. The entry is first cut into answer units (answerUnits): lines broken inside
// a sentence (PDF text) are joined, and headings, questions and fragments are leads, not
// answers: a question lends its score to the answer sentence right after it when that
// is higher, so a Q&A entry matches on its question and answers with its answer; a
// heading or fragment adds sectionWeight (leadWeight when answering) of its score to
// every sentence after it up to the next heading, so a section matches on its heading while its own sentences still
// decide which of them answers. "A:"/"Answer:" labels are removed.
func scoreSentences(score func(string) float64, entry string, sectionWeight float64) []scoredSentence {
	var out []scoredSentence
	inherited, section := math.Inf(-1), 0.0
	for i, u := range answerUnits(entry) {
		sim := score(u.text)
		switch u.lead {
		case leadQuestion:
			inherited = max(inherited, sim)
			continue
		case leadHeading:
			section = max(0, sim)
			continue
		}
		out = append(out, scoredSentence{pos: i, text: u.text, sim: max(sim+sectionWeight*section, inherited)})
		inherited = math.Inf(-1)
	}
	slices.SortStableFunc(out, func(a, b scoredSentence) int {
		switch {
		case a.sim > b.sim:
			return -1
		case a.sim < b.sim:
			return 1
		}
		return 0
	})
	return out
}

// runnerUpShare: the second-best sentence of the best entry joins the answer when its
// score is at least this share of the best one's.
const runnerUpShare = 0.5

// laterEntryShare scales the sentence scores of every knowledge entry after the first:
// the entries come best first from the retriever, which ranks with more evidence than
// one sentence gives (BM25 over the whole knowledge, two legs that agree), so a sentence
// of a later entry answers only when it clearly beats the first entry's best (make eval,
// round 7: replies holding the fact 39 → 45 of 61 with the rest of the round; 0.6–0.85
// measured alike, 1 and 0.9–0.95 worse; docs/performance.md).
const laterEntryShare = 0.85

// overlapWeight is the weight of the question-term overlap in a sentence's answer score
// (questionScorer), as in the retriever's sentence ranking (passageOverlapWeight);
// cosine similarities of the offline embedder are mostly 0.05–0.4.
const overlapWeight = passageOverlapWeight

// questionScorer scores a sentence as an answer to the question, reading the question
// the way the retriever does (expandQuestion: a word the knowledge does not hold is
// corrected to the closest one it does, and the support thesaurus adds the other words of
// the groups the question touches): the cosine of the sentence's offline embedding with
// the question's, weighted term by term, plus overlapWeight times the weighted share of
// the question's words the sentence holds (queryTerm.credit: the word or its correction
// counts fully, a thesaurus sibling SynonymWeight). A word weighs its rarity among the
// sentences of the knowledge given (inverse document frequency over answer units), so
// the sentence that holds the rare words of the question ("late", "deposit") beats one
// that shares only the common ones ("bike", "rental"); a thesaurus word weighs
// SynonymWeight times its own rarity in the query embedding.
type questionScorer struct {
	qv      []float32
	terms   []queryTerm
	weights []float64
	total   float64
}

func newQuestionScorer(question string, entries []string) *questionScorer {
	var sets []map[string]bool
	for _, e := range entries {
		for _, u := range answerUnits(e) {
			sets = append(sets, wordSet(u.text))
		}
	}
	// idf is the rarity of the first of words (a word, or a word and its correction)
	// that a sentence holds among the knowledge's answer units.
	idf := func(words ...string) float64 {
		df := 0
		for _, set := range sets {
			for _, w := range words {
				if w != "" && knownWord(w, set) {
					df++
					break
				}
			}
		}
		return math.Log(1 + float64(len(sets))/float64(1+df))
	}
	qs := &questionScorer{}
	weight := map[string]float64{}
	var extra []string
	for _, t := range expandQuestion(question, knowledgeVocab(entries)) {
		if stopWords[t.word] {
			continue
		}
		w := idf(t.word, t.fix)
		qs.terms = append(qs.terms, t)
		qs.weights = append(qs.weights, w)
		qs.total += w
		weight[t.word] = w
		if t.fix != "" {
			weight[t.fix] = max(weight[t.fix], w)
			extra = append(extra, t.fix)
		}
		for _, m := range t.syn {
			for _, sw := range m {
				if _, ok := weight[sw]; !ok {
					weight[sw] = SynonymWeight * idf(sw)
					extra = append(extra, sw)
				}
			}
		}
	}
	qs.qv = offlineEmbedWeighted(question+" "+strings.Join(extra, " "), func(t string) float64 {
		if w, ok := weight[t]; ok {
			return w
		}
		return 1
	})
	return qs
}

func (qs *questionScorer) score(text string) float64 {
	sim := cosine(qs.qv, offlineEmbed(text))
	if qs.total == 0 {
		return sim
	}
	set := passageWords(text)
	var found float64
	for i, t := range qs.terms {
		found += qs.weights[i] * t.credit(set)
	}
	return sim + overlapWeight*found/qs.total
}

// knowledgeVocab is the words (singular) of the knowledge entries, each with the number
// of entries that hold it: what a typo of the question is corrected against.
func knowledgeVocab(entries []string) map[string]int {
	vocab := map[string]int{}
	for _, e := range entries {
		for w := range wordSet(e) {
			vocab[w]++
		}
	}
	return vocab
}

// wordSet is the set of text's words in their singular form.
func wordSet(text string) map[string]bool {
	set := map[string]bool{}
	for _, t := range tokens(text) {
		set[singular(t)] = true
	}
	return set
}

// Answer-unit settings.
const (
	// minAnswerWords: a sentence of fewer words is a fragment ("Returns and late fees."),
	// never an answer.
	minAnswerWords = 5
	// headingWords: a line of at most this many words without sentence-ending
	// punctuation is a heading ("Delivery costs"), never an answer.
	headingWords = 8
	// leadWeight is the share of a heading's or fragment's score added to the score of
	// each sentence after it, up to the next heading.
	leadWeight = 0.5
)

// Lead kinds of an answer unit.
const (
	leadNone     = iota // an answer sentence
	leadQuestion        // a sentence ending in "?"
	leadHeading         // a heading or a fragment
)

type answerUnit struct {
	text string
	lead int
}

var sentenceFinal = regexp.MustCompile(`[.!?]["')\]]*$`)

// answerUnits cuts an entry into sentences an answer can be made of. Lines are joined
// into paragraphs where a line does not end a sentence and either the next line starts
// in lower case, a digit or punctuation, or the line is longer than a heading (text
// extracted from a PDF breaks lines inside sentences); a short line that ends no sentence
// stays alone as a heading. Each paragraph is then split after sentence-ending
// punctuation.
func answerUnits(entry string) []answerUnit {
	var paras []string
	var cur string
	for line := range strings.Lines(entry) {
		line = strings.TrimSpace(line)
		if line == "" {
			if cur != "" {
				paras, cur = append(paras, cur), ""
			}
			continue
		}
		if cur != "" && !sentenceFinal.MatchString(cur) && (continues(line) || len(strings.Fields(cur)) > headingWords) {
			cur += " " + line
			continue
		}
		if cur != "" {
			paras = append(paras, cur)
		}
		cur = line
	}
	if cur != "" {
		paras = append(paras, cur)
	}
	var out []answerUnit
	for _, p := range paras {
		for _, s := range sentences(p) {
			s = answerLabel.ReplaceAllString(s, "")
			if s == "" {
				continue
			}
			u := answerUnit{text: s}
			switch n := len(strings.Fields(s)); {
			case strings.HasSuffix(s, "?"):
				u.lead = leadQuestion
			case n < minAnswerWords, !sentenceFinal.MatchString(s) && n <= headingWords:
				u.lead = leadHeading
			}
			out = append(out, u)
		}
	}
	return out
}

// continues reports whether a line carries on the sentence of the line before it: it
// starts in lower case, with a digit or with punctuation.
func continues(line string) bool {
	r, _ := utf8.DecodeRuneInString(line)
	return unicode.IsLower(r) || unicode.IsDigit(r) || unicode.IsPunct(r) && r != '[' && r != '<'
}

// customerText is the last user message without any knowledge block it may carry.
func customerText(msgs []ChatMessage) string {
	text := lastContent(msgs, RoleUser)
	off := 0
	for line := range strings.Lines(text) {
		if strings.HasPrefix(strings.TrimSpace(line), KnowledgeMarker) {
			return text[:off]
		}
		off += len(line)
	}
	return text
}

var (
	entryStart  = regexp.MustCompile(`^\s*\[\d+\]\s*`)
	markupLine  = regexp.MustCompile(`^\s*</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>\s*$`)
	answerLabel = regexp.MustCompile(`(?i)^(?:a|answer)\s*:\s*`)
	sentenceEnd = regexp.MustCompile(`[.!?]+["')\]]*\s+`)
)

// knowledgeEntries returns the numbered entries after KnowledgeMarker in the last message
// that contains it, without their "[n]" prefixes.
func knowledgeEntries(msgs []ChatMessage) []string {
	var block string
	found := false
	for _, m := range msgs {
		off := 0
		for line := range strings.Lines(m.Content) {
			off += len(line)
			if strings.HasPrefix(strings.TrimSpace(line), KnowledgeMarker) {
				block, found = m.Content[off:], true
			}
		}
	}
	if !found {
		return nil
	}
	var (
		entries []string
		cur     strings.Builder
		inEntry bool
	)
	flush := func() {
		if e := strings.TrimSpace(cur.String()); inEntry && e != "" {
			entries = append(entries, e)
		}
		cur.Reset()
	}
	for line := range strings.Lines(block) {
		if loc := entryStart.FindStringIndex(line); loc != nil {
			flush()
			inEntry = true
			line = line[loc[1]:]
		}
		if markupLine.MatchString(line) {
			continue
		}
		if inEntry {
			cur.WriteString(line)
		}
	}
	flush()
	return entries
}

// sentences splits text at line breaks and after sentence-ending punctuation.
func sentences(text string) []string {
	var out []string
	for line := range strings.Lines(text) {
		rest := strings.TrimSpace(line)
		for rest != "" {
			loc := sentenceEnd.FindStringIndex(rest)
			if loc == nil {
				out = append(out, rest)
				break
			}
			out = append(out, strings.TrimSpace(rest[:loc[1]]))
			rest = strings.TrimSpace(rest[loc[1]:])
		}
	}
	return out
}

func lastContent(msgs []ChatMessage, role string) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == role {
			return msgs[i].Content
		}
	}
	return ""
}

func promptWords(msgs []ChatMessage) int {
	n := 0
	for _, m := range msgs {
		n += len(strings.Fields(m.Content))
	}
	return n
}

// wantsField reports whether out points to a struct with a field named field (or tagged
// json:"field"), case-insensitively.
func wantsField(out any, field string) bool {
	t := structType(out)
	if t == nil {
		return false
	}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if strings.EqualFold(f.Name, field) || strings.EqualFold(name, field) {
			return true
		}
	}
	return false
}

// structType is the struct type out points to, or nil.
func structType(out any) reflect.Type {
	t := reflect.TypeOf(out)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && t.Kind() == reflect.Struct {
		return t
	}
	return nil
}

// wantsSummary decides the CompleteJSON mode (see Offline).
func wantsSummary(msgs []ChatMessage, out any) bool {
	if structType(out) != nil {
		return wantsField(out, "summary")
	}
	for _, m := range msgs {
		if m.Role == RoleSystem && strings.Contains(strings.ToLower(m.Content), "summar") {
			return true
		}
	}
	return false
}

// offlineSummary returns the first three sentences the customer wrote, at most 400 bytes.
func offlineSummary(msgs []ChatMessage) string {
	var picked []string
	for _, role := range []string{RoleUser, ""} {
		for _, m := range msgs {
			if m.Role == RoleSystem || (role != "" && m.Role != role) {
				continue
			}
			for _, s := range sentences(m.Content) {
				if len(picked) < 3 {
					picked = append(picked, s)
				}
			}
		}
		if len(picked) > 0 {
			break
		}
	}
	s := strings.Join(picked, " ")
	if len(s) > 400 {
		s = strings.ToValidUTF8(s[:400], "") + "…"
	}
	return s
}

// offlineScoreSet is the JSON object the scorer returns.
type offlineScoreSet struct {
	Factual   float64 `json:"factual"`
	Intent    float64 `json:"intent"`
	Emotional float64 `json:"emotional"`
}

func offlineScores(msgs []ChatMessage) offlineScoreSet {
	customer := customerText(msgs)
	return offlineScoreSet{
		Factual:   round2(offlineFactual(msgs, customer)),
		Intent:    round2(offlineIntent(customer)),
		Emotional: round2(offlineEmotional(customer)),
	}
}

func offlineFactual(msgs []ChatMessage, customer string) float64 {
	for _, m := range msgs {
		if m.Role != RoleSystem && strings.Contains(m.Content, OfflineDontKnow) {
			return 0.1
		}
	}
	entries := knowledgeEntries(msgs)
	if len(entries) == 0 {
		return 0.8
	}
	best := max(0, bestSimilarity(customer, entries))
	f := 0.4 * best / OfflineAnswerSimilarity
	if best >= OfflineAnswerSimilarity {
		f = min(1, 0.7+(best-OfflineAnswerSimilarity))
	}
	return f * termCoverage(customer, lastContent(msgs, RoleAssistant), entries)
}

// termCoverage is the share of the customer's content words that the knowledge the reply
// was drawn from contains: the answer sentences of the entries that the reply repeats,
// each with the question before it and its section's heading (answerContext), or all
// the entries when the reply repeats none of their sentences. The customer's words are
// read as the answerer reads them (expandQuestion): a word counts fully when the context
// holds it or its correction, SynonymWeight when it holds a thesaurus sibling ("money
// back" against "refund"). Each word is weighted by its length (a crude rarity:
// "physiotherapist" says more than "bike") times EnglishWeight (small talk, "oops",
// "still", "ago", "something", weighs less than a topic word) and a quarter for a
// placeholder noun ("product", "item": placeholderNouns); numbers (an amount, a
// year, an age) are left out: they are details of the customer's case that the
// knowledge answers with its own figures (make eval, round 7; docs/performance.md). A
// word is contained when the context has the same word (singular form) or, for words of
// four letters or more, one sharing all but at most two of the shorter word's letters as
// a prefix of four or more ("returning" and "return"), or, for words of five letters or
// more, one a single typo away ("garantee" and "guarantee"); a hyphenated compound of the
// context also counts written closed up ("preorder"). A question whose main words the
// answer's context never mentions is not answered by it, however similar its best
// sentence looks, even when some other passage mentions them ("which motor brand do
// your e-bikes use" answered with a sentence on renting e-bikes). 1 when the customer
// wrote no content word.
func termCoverage(customer, reply string, entries []string) float64 {
	known := answerContext(reply, entries)
	if known == nil {
		known = wordSet(strings.Join(entries, "\n"))
	}
	var total, found float64
	for _, t := range expandQuestion(customer, knowledgeVocab(entries)) {
		if stopWords[t.word] || strings.Trim(t.word, "0123456789") == "" {
			continue
		}
		weight := float64(len(t.word)) * EnglishWeight(t.word)
		if placeholderNouns[t.word] {
			weight *= placeholderWeight
		}
		total += weight
		found += weight * t.credit(known)
	}
	if total == 0 {
		return 1
	}
	return found / total
}

// answerContext is the set of words (singular forms) of the knowledge a reply was drawn
// from: every answer sentence of the entries that the reply contains (compared in lower
// case with spaces collapsed), together with the question sentence right before it and
// the heading of its section (see answerUnits). nil when the reply contains none.
// placeholderNouns are the words a customer uses for whatever they bought or asked about
// without naming it ("can I return a product?", "is this item in stock?"): a policy
// sentence answers such a question without repeating the word, so in termCoverage it
// counts placeholderWeight of a topic word of its length.
var placeholderNouns = map[string]bool{
	"product": true, "products": true, "item": true, "items": true, "thing": true, "things": true,
	"stuff": true, "something": true, "anything": true, "purchase": true, "purchases": true,
}

const placeholderWeight = 0.25

func answerContext(reply string, entries []string) map[string]bool {
	norm := func(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
	r := norm(reply)
	if r == "" {
		return nil
	}
	var set map[string]bool
	for _, e := range entries {
		var question, heading string
		for _, u := range answerUnits(e) {
			switch u.lead {
			case leadQuestion:
				question = u.text
				continue
			case leadHeading:
				heading = u.text
				continue
			}
			if strings.Contains(r, norm(u.text)) {
				if set == nil {
					set = map[string]bool{}
				}
				for w := range passageWords(u.text + "\n" + question + "\n" + heading) {
					set[w] = true
				}
			}
			question = ""
		}
	}
	return set
}

func knownWord(w string, known map[string]bool) bool {
	if known[w] {
		return true
	}
	if len(w) < 4 {
		return false
	}
	for k := range known {
		n := 0
		for n < len(w) && n < len(k) && w[n] == k[n] {
			n++
		}
		if n >= 4 && n >= min(len(w), len(k))-2 || len(w) >= 5 && len(k) >= 5 && oneEdit(w, k) {
			return true
		}
	}
	return false
}

// oneEdit reports whether a and b differ by one inserted, deleted or replaced byte (a
// typo: "shiping" and "shipping", "instalments" and "installments").
func oneEdit(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(b)-len(a) > 1 {
		return false
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	if len(a) == len(b) {
		return a[i+min(1, len(a)-i):] == b[i+min(1, len(b)-i):]
	}
	return a[i:] == b[i+1:]
}

func offlineIntent(customer string) float64 {
	if len(tokens(customer)) == 0 {
		return 0.5
	}
	return 0.8
}

// angerWords and angerStems mark an upset customer for the offline scorer.
var (
	angerWords = map[string]bool{
		"angry": true, "furious": true, "livid": true, "outraged": true, "mad": true,
		"terrible": true, "horrible": true, "awful": true, "worst": true, "hate": true,
		"ridiculous": true, "useless": true, "unacceptable": true, "disgusting": true,
		"pathetic": true, "scam": true, "fraud": true, "stupid": true, "idiot": true,
		"idiots": true, "incompetent": true, "garbage": true, "trash": true, "rubbish": true,
		"wtf": true, "damn": true, "sucks": true, "joke": true,
	}
	angerStems = []string{"frustrat", "annoy", "disappoint", "infuriat"}
)

func offlineEmotional(customer string) float64 {
	score := 0.9
	for _, t := range tokens(customer) {
		if angerWords[t] || slices.ContainsFunc(angerStems, func(s string) bool { return strings.HasPrefix(t, s) }) {
			score -= 0.3
		}
	}
	shouted := 0
	for _, w := range strings.FieldsFunc(customer, func(r rune) bool { return !unicode.IsLetter(r) }) {
		if len([]rune(w)) >= 3 && strings.ToUpper(w) == w && strings.ToLower(w) != w {
			shouted++
		}
	}
	if shouted >= 2 {
		score -= 0.3
	}
	if strings.Contains(customer, "!!") {
		score -= 0.2
	}
	return min(1, max(0, score))
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// offlineTags picks the tags described on Offline.
func offlineTags(msgs []ChatMessage) []string {
	var available []string
	for _, m := range msgs {
		if m.Role != RoleSystem {
			continue
		}
		for line := range strings.Lines(m.Content) {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), TagsMarker); ok {
				available = nil
				_ = json.Unmarshal([]byte(strings.TrimSpace(rest)), &available)
			}
		}
	}
	said := map[string]bool{}
	for _, m := range msgs {
		if m.Role == RoleUser {
			for _, t := range tokens(m.Content) {
				said[singular(t)] = true
			}
		}
	}
	type hit struct {
		tag   string
		score int
	}
	var hits []hit
	for _, tag := range available {
		n := 0
		for _, w := range contentTokens(tokens(tag)) {
			if tagWordSaid(w, said) {
				n++
			}
		}
		if n > 0 {
			hits = append(hits, hit{tag, n})
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return b.score - a.score })
	out := []string{}
	for _, h := range hits[:min(3, len(hits))] {
		out = append(out, h.tag)
	}
	return out
}

// tagWordSaid reports whether the tag word w matches a word of said.
func tagWordSaid(w string, said map[string]bool) bool {
	if said[w] {
		return true
	}
	if len(w) < 4 {
		return false
	}
	for s := range said {
		if len(s) >= 4 && (strings.HasPrefix(s, w) || strings.HasPrefix(w, s)) {
			return true
		}
	}
	return false
}
