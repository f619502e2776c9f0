package ai_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/axonhq/axon/platform/ai"
)

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func embedOne(t testing.TB, text string) []float32 {
	t.Helper()
	v, err := ai.NewOffline().Embed(context.Background(), []string{text})
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

func TestOfflineEmbedDeterministicAndNormalised(t *testing.T) {
	t.Parallel()
	in := []string{"How do I reset my password?", "Ünïcödé naïve café — 42 × résumé", "the and of", "?!", ""}
	a, err := ai.NewOffline().Embed(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ai.NewOffline().Embed(t.Context(), in)
	o := ai.NewOffline()
	if o.Dimensions() != 1536 || o.Model() != ai.OfflineEmbeddingModel || o.Name() != "offline" {
		t.Errorf("Dimensions, Model, Name = %d, %q, %q", o.Dimensions(), o.Model(), o.Name())
	}
	for i := range in {
		if len(a[i]) != 1536 {
			t.Errorf("%q: %d dims", in[i], len(a[i]))
		}
		if !slices.Equal(a[i], b[i]) {
			t.Errorf("%q: embedding differs between calls", in[i])
		}
		if n := math.Sqrt(dot(a[i], a[i])); math.Abs(n-1) > 1e-5 {
			t.Errorf("%q: norm %v, want 1", in[i], n)
		}
	}
	// Case and punctuation do not matter; word order does a little (bigrams).
	if s := dot(embedOne(t, "Reset PASSWORD!"), embedOne(t, "reset password")); s < 0.9999 {
		t.Errorf("case/punctuation variant similarity = %v, want 1", s)
	}
	if got, err := o.Embed(t.Context(), nil); got != nil || err != nil {
		t.Errorf("Embed(nil) = %v, %v", got, err)
	}
}

func TestOfflineEmbedRespectsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ai.NewOffline().Embed(ctx, []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

// rankingCases pair a customer question with a knowledge chunk that answers it and one
// that does not.
var rankingCases = []struct{ question, answer, unrelated string }{
	{
		"How do I reset my password?",
		"To reset your password, open Settings, choose Security and click Reset password. We will email you a link that is valid for one hour.",
		"Our warehouse is located in Rotterdam. Orders placed before 2pm are shipped the same day.",
	},
	{
		"Do you ship internationally?",
		"We ship to over 40 countries worldwide. International shipping takes 7 to 14 business days and customs duties are paid by the recipient.",
		"Two-factor authentication can be enabled under Security. We support authenticator apps and hardware keys.",
	},
	{
		"Can I cancel my subscription?",
		"You can cancel your subscription at any time from the Billing page. Cancellation takes effect at the end of the current billing period.",
		"The mobile app is available for iOS and Android. It supports offline mode and push notifications.",
	},
	{
		"is there a discount for students",
		"Students get a 50 percent discount on all plans when they verify with a university email address.",
		"Deleted projects stay in the trash for 30 days. After that they are permanently removed.",
	},
	{
		"do gift cards expire?",
		"Gift cards never expire and can be used for any product in our store. They cannot be exchanged for cash.",
		"Our API allows 100 requests per minute per key. Requests over the limit receive a 429 response.",
	},
}

func TestOfflineEmbedRanksAnswerAboveUnrelated(t *testing.T) {
	t.Parallel()
	for _, c := range rankingCases {
		q := embedOne(t, c.question)
		ans, other := dot(q, embedOne(t, c.answer)), dot(q, embedOne(t, c.unrelated))
		if ans <= other {
			t.Errorf("%q: answer %.3f not above unrelated %.3f", c.question, ans, other)
		}
		if ans < ai.OfflineMinSimilarity {
			t.Errorf("%q: answer %.3f below OfflineMinSimilarity", c.question, ans)
		}
	}
}

func TestOfflineEmbedOffTopicBelowThreshold(t *testing.T) {
	t.Parallel()
	offTopic := []string{
		"What's the weather like on Mars?",
		"Who won the football world cup in 2010?",
		"Can you recommend a good pizza place nearby?",
		"How do I fix a flat bicycle tire?",
	}
	for _, q := range offTopic {
		qv := embedOne(t, q)
		for _, c := range rankingCases {
			for _, chunk := range []string{c.answer, c.unrelated} {
				if s := dot(qv, embedOne(t, chunk)); s >= ai.OfflineMinSimilarity {
					t.Errorf("%q vs %.40q: %.3f, want below OfflineMinSimilarity", q, chunk, s)
				}
			}
		}
	}
}

func TestOfflineEmbedLongChunkAboveThreshold(t *testing.T) {
	t.Parallel()
	// A chunk of the chunker's size (about 400 words) containing the answer among other topics.
	var filler []string
	for _, c := range rankingCases[1:] {
		filler = append(filler, c.answer, c.unrelated)
	}
	chunk := strings.Repeat(strings.Join(filler, " ")+" ", 3) + rankingCases[0].answer
	if n := len(strings.Fields(chunk)); n < 350 {
		t.Fatalf("chunk has %d words, want about 400", n)
	}
	q := embedOne(t, rankingCases[0].question)
	if s := dot(q, embedOne(t, chunk)); s < ai.OfflineMinSimilarity {
		t.Errorf("similarity to a long chunk containing the answer = %.3f, below OfflineMinSimilarity", s)
	}
}

// knowledgePrompt builds a system prompt in the KnowledgeMarker convention.
func knowledgePrompt(entries ...string) string {
	var b strings.Builder
	b.WriteString("You are the support agent of Acme. Be concise.\n\n" + ai.KnowledgeMarker + "\n")
	for i, e := range entries {
		fmt.Fprintf(&b, "[%d] %s\n", i+1, e)
	}
	return b.String()
}

func ask(system string, history ...string) ai.ChatRequest {
	msgs := []ai.ChatMessage{{Role: ai.RoleSystem, Content: system}}
	for i, h := range history {
		role := ai.RoleUser
		if i%2 == 1 {
			role = ai.RoleAssistant
		}
		msgs = append(msgs, ai.ChatMessage{Role: role, Content: h})
	}
	return ai.ChatRequest{Messages: msgs, Temperature: 0.3, MaxTokens: 1024}
}

func TestOfflineResponder(t *testing.T) {
	t.Parallel()
	system := knowledgePrompt(
		"Refunds are issued to the original payment method within 5 business days. Contact billing@acme.test for invoices.",
		"Q: How do I reset my password?\nA: Open Settings, then Security, and choose Reset password.",
		"We ship to over 40 countries worldwide.\nInternational shipping takes 7 to 14 business days.",
	)
	tests := []struct{ question, want string }{
		{"How many days until my refund arrives?", "Refunds are issued to the original payment method within 5 business days."},
		{"how can I reset my password", "Open Settings, then Security, and choose Reset password."},
		{"Do you ship to other countries?", "We ship to over 40 countries worldwide."},
		{"How long does international shipping take?", "International shipping takes 7 to 14 business days."},
		{"What is the capital of France?", ai.OfflineDontKnow},
		{"tell me a joke about cats", ai.OfflineDontKnow},
	}
	o := ai.NewOffline()
	for _, tt := range tests {
		resp, err := o.Complete(t.Context(), ask(system, "Hello", "Hi! How can I help?", tt.question))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Content != tt.want {
			t.Errorf("%q: answer %q, want %q", tt.question, resp.Content, tt.want)
		}
		if resp.CompletionTokens != len(strings.Fields(resp.Content)) || resp.PromptTokens == 0 {
			t.Errorf("%q: tokens = %d, %d", tt.question, resp.PromptTokens, resp.CompletionTokens)
		}
	}

	resp, _ := o.Complete(t.Context(), ask("You are helpful.", "How do I reset my password?"))
	if resp.Content != ai.OfflineDontKnow {
		t.Errorf("without knowledge: %q, want OfflineDontKnow", resp.Content)
	}
}

func TestOfflineStreamWordByWord(t *testing.T) {
	t.Parallel()
	o := ai.NewOffline()
	req := ask(knowledgePrompt("Our support team is available Monday to Friday from 9am to 6pm."), "When is the support team available?")
	var deltas []string
	resp, err := o.Stream(t.Context(), req, func(d string) error {
		deltas = append(deltas, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != "Our support team is available Monday to Friday from 9am to 6pm." {
		t.Errorf("content = %q", resp.Content)
	}
	if strings.Join(deltas, "") != resp.Content || len(deltas) != len(strings.Fields(resp.Content)) || deltas[1] != " support" {
		t.Errorf("deltas = %q", deltas)
	}

	stop := errors.New("stop")
	_, err = o.Stream(t.Context(), ask("none", "anything?"), func(string) error { return stop })
	if err != stop {
		t.Errorf("error = %v, want the callback's error", err)
	}
}

type scores struct {
	Factual   float64 `json:"factual"`
	Intent    float64 `json:"intent"`
	Emotional float64 `json:"emotional"`
}

func (s scores) composite() float64 { return 0.45*s.Factual + 0.35*s.Intent + 0.20*s.Emotional }

func TestOfflineScorer(t *testing.T) {
	t.Parallel()
	o := ai.NewOffline()
	know := knowledgePrompt("Refunds are issued to the original payment method within 5 business days.")
	scorer := "Score the assistant's reply. Respond in JSON with factual, intent and emotional between 0 and 1.\n\n" + know
	answer := "Refunds are issued to the original payment method within 5 business days."

	var calm scores
	if err := o.CompleteJSON(t.Context(), ask(scorer, "When do I get my refund?", answer), &calm); err != nil {
		t.Fatal(err)
	}
	if calm.Factual < 0.7 || calm.Intent != 0.8 || calm.Emotional != 0.9 || calm.composite() < 0.65 {
		t.Errorf("calm, answered: %+v (composite %.2f)", calm, calm.composite())
	}

	var unknown scores
	_ = o.CompleteJSON(t.Context(), ask(scorer, "Can I pay with bitcoin?", ai.OfflineDontKnow), &unknown)
	if unknown.Factual != 0.1 || unknown.composite() >= 0.65 {
		t.Errorf("unanswered: %+v (composite %.2f), want factual 0.1 and a handoff", unknown, unknown.composite())
	}

	var angry scores
	_ = o.CompleteJSON(t.Context(), ask(scorer, "THIS IS RIDICULOUS!!! Worst service ever, where is my refund", answer), &angry)
	if angry.Emotional >= 0.25 {
		t.Errorf("angry: emotional %.2f, want below 0.25", angry.Emotional)
	}

	// A map works too; the result is deterministic.
	var m1, m2 map[string]float64
	_ = o.CompleteJSON(t.Context(), ask(scorer, "When do I get my refund?"), &m1)
	_ = o.CompleteJSON(t.Context(), ask(scorer, "When do I get my refund?"), &m2)
	if len(m1) != 3 || m1["factual"] != m2["factual"] || m1["intent"] != 0.8 {
		t.Errorf("map scores = %v, %v", m1, m2)
	}

	var wrong struct{ Factual string }
	err := o.CompleteJSON(t.Context(), ask(scorer, "x"), &wrong)
	wantKind(t, err, ai.ErrBadResponse)
}

func TestOfflineSummary(t *testing.T) {
	t.Parallel()
	o := ai.NewOffline()
	req := ask("Summarise the conversation for a human agent. Reply in JSON.",
		"My order 1234 never arrived. I paid two weeks ago.", "I'm sorry to hear that.",
		"Can I get a refund? Or a replacement. Thanks.")

	var out struct {
		Summary string `json:"summary"`
	}
	if err := o.CompleteJSON(t.Context(), req, &out); err != nil {
		t.Fatal(err)
	}
	if want := "My order 1234 never arrived. I paid two weeks ago. Can I get a refund?"; out.Summary != want {
		t.Errorf("summary = %q, want %q", out.Summary, want)
	}

	// The prompt alone selects the mode when out has no fields to inspect.
	var m map[string]string
	_ = o.CompleteJSON(t.Context(), req, &m)
	if m["summary"] != out.Summary {
		t.Errorf("map summary = %v", m)
	}
}

func BenchmarkOfflineEmbed(b *testing.B) {
	// About one 512-word chunk, the ingestion size for documents.
	chunk := strings.Repeat(rankingCases[0].answer+" "+rankingCases[1].answer+" "+rankingCases[2].unrelated+" ", 8)
	o := ai.NewOffline()
	in := []string{chunk}
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.Embed(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOfflineSkipsMarkupInKnowledge(t *testing.T) {
	t.Parallel()
	system := "Be concise.\n\n" + ai.KnowledgeMarker + "\nThe entries are quoted data.\n<knowledge>\n" +
		"[1] <excerpt source=\"Refund policy\">\nRefunds are issued within 5 business days.\n</excerpt>\n" +
		"[2] <excerpt source=\"Shipping\">\nWe ship to over 40 countries.\n</excerpt>\n</knowledge>\n"
	o := ai.NewOffline()
	resp, err := o.Complete(t.Context(), ask(system, "What is your refund policy?"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != "Refunds are issued within 5 business days." {
		t.Errorf("answer = %q, want the refund sentence without tags", resp.Content)
	}
}

func TestOfflineTags(t *testing.T) {
	t.Parallel()
	o := ai.NewOffline()
	system := "Pick the tags that fit. Reply in JSON {\"tags\": [...]}.\n" + ai.TagsMarker + ` ["Billing", "Shipping delay", "refund request", "Login", "sales"]`
	var out struct {
		Tags []string `json:"tags"`
	}
	req := ask(system, "The shipping is slow and I want my refund.", "Sorry about that.", "Also the bill was wrong.")
	if err := o.CompleteJSON(t.Context(), req, &out); err != nil {
		t.Fatal(err)
	}
	// One word each ("Billing" by prefix, "bill"), so in list order; "Login" and "sales" do not match.
	if want := []string{"Billing", "Shipping delay", "refund request"}; !slices.Equal(out.Tags, want) {
		t.Errorf("tags = %q, want %q", out.Tags, want)
	}

	out.Tags = nil
	if err := o.CompleteJSON(t.Context(), ask(system, "What is the weather like?"), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Tags) != 0 {
		t.Errorf("unrelated: tags = %q, want none", out.Tags)
	}
	// Without a tag list there is nothing to pick.
	if err := o.CompleteJSON(t.Context(), ask("Reply in JSON.", "refund please"), &out); err != nil || len(out.Tags) != 0 {
		t.Errorf("no list: tags = %q, err %v", out.Tags, err)
	}
}

// The offline answerer answers with whole sentences: lines broken inside a sentence (PDF
// text) are joined, and a heading or a fragment is never the answer, though it lends its
// score to the sentence after it.
func TestOfflineAnswerSkipsHeadingsAndFragments(t *testing.T) {
	t.Parallel()
	system := knowledgePrompt(
		"Delivery costs\nWe offer free standard shipping on orders over $75. Orders below that amount pay a flat charge of $6.95.\nDelivery times\nStandard delivery takes 3 to 5 business days.",
		"Bike Rental Agreement. Ridgeway rents road bikes\nfrom the showroom. Returns and late fees. Bikes must be returned by closing time on\nthe last day of the rental. Late returns are charged $10 for\neach hour after closing time.",
	)
	o := ai.NewOffline()
	for q, want := range map[string]string{
		"delivery costs?":       "We offer free standard shipping on orders over $75.",
		"late fee?":             "Late returns are charged $10 for each hour after closing time.",
		"how long is delivery?": "Standard delivery takes 3 to 5 business days.",
	} {
		resp, err := o.Complete(t.Context(), ask(system, q))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(resp.Content, want) {
			t.Errorf("%q: answer %q, want it to contain %q", q, resp.Content, want)
		}
		for _, bad := range []string{"Delivery costs We", "Delivery times", "Returns and late fees.", "\n"} {
			if strings.Contains(resp.Content, bad) {
				t.Errorf("%q: answer %q holds the heading or fragment %q", q, resp.Content, bad)
			}
		}
	}
}

// The scorer's factual score falls when the knowledge does not mention the main words of
// the customer's question, even when a sentence shares its common words; a typo still
// counts as the word.
func TestOfflineFactualFollowsTermCoverage(t *testing.T) {
	t.Parallel()
	o := ai.NewOffline()
	know := knowledgePrompt("Please bring a photo ID to the shop, which we keep while you ride a test bike.", "Standard shipping takes 3 to 5 business days.")
	factual := offlineFactualScorer(t, o, know)
	unsupported := factual("can I bring my dog and my parrot into the shop", "Please bring a photo ID to the shop, which we keep while you ride a test bike.")
	supported := factual("do I need to bring a photo ID for a test ride", "Please bring a photo ID to the shop, which we keep while you ride a test bike.")
	typo := factual("how long does shiping take", "Standard shipping takes 3 to 5 business days.")
	if unsupported >= 0.36 || supported < 0.7 || typo < 0.5 {
		t.Errorf("factual: unsupported %.2f (want < 0.36), supported %.2f (want ≥ 0.7), typo %.2f (want ≥ 0.5)", unsupported, supported, typo)
	}
}

// TestOfflineEmbedQueryWeighsTerms checks the query path the Retriever uses with the
// offline embedder: unit weights give Embed's vector, and a term weighted down stops
// deciding the ranking (a passage repeating "bike" loses to the one holding "deposit").
func TestOfflineEmbedQueryWeighsTerms(t *testing.T) {
	t.Parallel()
	o := ai.NewOffline()
	q := "Is there a deposit for the bike rentals?"
	if got, want := o.QueryTerms(q+" bike"), []string{"deposit", "bike", "rental"}; !slices.Equal(got, want) {
		t.Errorf("QueryTerms = %v, want %v", got, want)
	}
	plain, err := o.EmbedQuery(t.Context(), q, func(string) float64 { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plain, embedOne(t, q)) {
		t.Error("EmbedQuery with unit weights differs from Embed")
	}
	common := embedOne(t, "Bike rentals: every bike in the bike rental fleet is a road bike or an e-bike.")
	rare := embedOne(t, "A deposit of $200 is held on your card while you have it.")
	if dot(plain, common) <= dot(plain, rare) {
		t.Fatalf("unweighted: common %.3f, rare %.3f; the test needs the common passage first", dot(plain, common), dot(plain, rare))
	}
	idf := map[string]float64{"bike": 0.05, "rental": 0.3, "deposit": 2.5}
	weighted, err := o.EmbedQuery(t.Context(), q, func(term string) float64 { return idf[term] })
	if err != nil {
		t.Fatal(err)
	}
	if n := math.Sqrt(dot(weighted, weighted)); math.Abs(n-1) > 1e-5 {
		t.Errorf("weighted norm %v, want 1", n)
	}
	if c, r := dot(weighted, common), dot(weighted, rare); r <= c {
		t.Errorf("weighted: rare-word passage %.3f not above common-word passage %.3f", r, c)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := o.EmbedQuery(ctx, q, nil); err == nil {
		t.Error("EmbedQuery with a cancelled context: no error")
	}
}

// EnglishWeight ranks words by how rare they are in everyday English: function and
// everyday words weigh little, topic words more, words beyond the list (or typos) 1.
func TestEnglishWeight(t *testing.T) {
	t.Parallel()
	order := []string{"you", "like", "use", "shop", "motor", "warranty"}
	for i := 1; i < len(order); i++ {
		if a, b := ai.EnglishWeight(order[i-1]), ai.EnglishWeight(order[i]); a >= b {
			t.Errorf("EnglishWeight(%q) = %.2f, not below EnglishWeight(%q) = %.2f", order[i-1], a, order[i], b)
		}
	}
	for _, w := range []string{"you", "use", "warranty", "derailleur", "garantee"} {
		if x := ai.EnglishWeight(w); x < 0.1 || x > 1 {
			t.Errorf("EnglishWeight(%q) = %v, outside [0.1, 1]", w, x)
		}
	}
	if x := ai.EnglishWeight("derailleur"); x != 1 {
		t.Errorf("EnglishWeight of an unlisted word = %v, want 1", x)
	}
}

// The factual score judges the reply by the knowledge it was drawn from: a question
// whose main word another passage mentions is still unsupported when the sentence
// answered (with its question and heading) does not, and a QA pair's question counts
// for its answer.
func TestOfflineFactualCoverageOfTheAnswer(t *testing.T) {
	t.Parallel()
	o := ai.NewOffline()
	know := knowledgePrompt(
		"Rentals\nWe rent road bikes and e-bikes from the showroom for $35 per day.",
		"Warranty\nThe battery and the motor of an e-bike are covered for two years.",
		"Q: Can I pay in instalments?\nA: Yes, orders over $500 can be split into 12 monthly payments.")
	factual := offlineFactualScorer(t, o, know)
	offTopic := factual("which motor brand do your e-bikes use", "We rent road bikes and e-bikes from the showroom for $35 per day.")
	onTopic := factual("how long is the motor of my e-bike covered", "The battery and the motor of an e-bike are covered for two years.")
	qa := factual("can i pay in instalments", "Yes, orders over $500 can be split into 12 monthly payments.")
	if offTopic >= 0.36 || onTopic < 0.7 || qa < 0.36 {
		t.Errorf("factual: off-topic answer %.2f (want < 0.36), on-topic %.2f (want ≥ 0.7), QA answer %.2f (want ≥ 0.36)", offTopic, onTopic, qa)
	}
}

// TestOfflinePassageScoresByBestSentence checks that a passage scores what its best
// sentence scores: the answer sentence alone and the same sentence inside 400 words of
// other policy score the same, and both above a short Q&A pair that shares only a common
// word; a hyphenated compound matches the word written closed up; rare terms decide.
func TestOfflinePassageScoresByBestSentence(t *testing.T) {
	o := ai.NewOffline()
	answer := "Returns and refunds\nA restocking fee of 15% applies to returned e-bikes."
	filler := strings.Repeat("Orders placed before noon are packed the same working day by our team. ", 33)
	long := "Shipping and Returns Policy\n" + filler + "\n" + answer + "\n" + filler
	qa := "Q: Do you sell e-bikes?\nA: Yes, we sell e-bikes from three brands in the showroom."
	weight := func(term string) float64 {
		if term == "restocking" {
			return 3
		}
		return 1
	}
	got := o.PassageScores("is there a restocking fee on e-bikes?", weight, []string{answer, long, qa, ""})
	if math.Abs(got[0]-got[1]) > 1e-9 {
		t.Errorf("answer alone %.3f, inside a long chunk %.3f: want the same", got[0], got[1])
	}
	if got[1] <= got[2] {
		t.Errorf("long chunk with the answer %.3f <= Q&A pair sharing a common word %.3f", got[1], got[2])
	}
	if got[3] != 0 {
		t.Errorf("empty passage scored %.3f, want 0", got[3])
	}
	// Without the rare word's weight the pair still loses, but by less.
	flat := o.PassageScores("is there a restocking fee on e-bikes?", nil, []string{long, qa})
	if got[1]-got[2] <= flat[0]-flat[1] {
		t.Errorf("weighting the rare term did not widen the gap: %.3f vs %.3f", got[1]-got[2], flat[0]-flat[1])
	}
	// "preorder" is the passage's "pre-orders" written closed up: the whole overlap share
	// (0.5) on top of the cosine.
	if pre := o.PassageScores("preorder", nil, []string{"Pre-orders are charged when the item ships."}); pre[0] < 0.5 {
		t.Errorf("\"preorder\" against \"Pre-orders …\" scored %.3f, want >= 0.5 (the compound matched)", pre[0])
	}
}

// BenchmarkOfflinePassageScores measures what ranking the candidates by their best
// sentence adds to an offline search: PassageScores over 20 candidates of 512 words
// (the most the search gives it), against the weighted query embedding the search already
// computes (compare the two ns/op of the same run).
func BenchmarkOfflinePassageScores(b *testing.B) {
	o := ai.NewOffline()
	ctx := context.Background()
	q := "can I return a bike I bought on sale and get my money back?"
	weight := func(string) float64 { return 1 }
	sentence := "Returned bikes must be unused and in their original packaging for a full refund. "
	passages := make([]string, 20)
	for i := range passages {
		passages[i] = fmt.Sprintf("Policy %d\n%s", i, strings.Repeat(sentence, 37)) // ~512 words
	}
	b.Run("embed-query", func(b *testing.B) {
		for b.Loop() {
			if _, err := o.EmbedQuery(ctx, q, weight); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("passage-scores-20x512", func(b *testing.B) {
		for b.Loop() {
			o.PassageScores(q, weight, passages)
		}
	})
}

// The offline answerer and scorer read the customer's words as the retriever does: a
// question sharing no word with its answer finds it through the support thesaurus
// ("telephone" → "call"), a typo the knowledge does not hold is corrected ("garantee" →
// "guarantee" → "warranty", "dleivery" → "delivery"), and the answer's factual score
// counts the corrected word fully and the thesaurus' word for half (minFactual in the
// responder is 0.36: a reply linked to the question by a synonym alone is scored low).
func TestOfflineAnswerExpandsTheQuestion(t *testing.T) {
	t.Parallel()
	o := ai.NewOffline()
	know := knowledgePrompt(
		"Call us on 555-0142 from Monday to Friday, 9 am to 5 pm.",
		"Every frame carries a lifetime warranty against defects in materials. Frames are welded from aluminium in our own factory.",
		"Standard delivery takes 3 to 5 business days.",
	)
	for _, c := range []struct {
		q, want    string
		minFactual float64
	}{
		{"what's your telephone?", "Call us on 555-0142 from Monday to Friday, 9 am to 5 pm.", 0.05},
		{"is my frame still under garantee?", "Every frame carries a lifetime warranty against defects in materials.", 0.36},
		{"how long does dleivery take", "Standard delivery takes 3 to 5 business days.", 0.7},
	} {
		resp, err := o.Complete(t.Context(), ask(know, c.q))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Content != c.want {
			t.Errorf("%q: answer %q, want %q", c.q, resp.Content, c.want)
			continue
		}
		var s scores
		if err := o.CompleteJSON(t.Context(), ask("Score the reply as JSON.\n\n"+know, c.q, resp.Content), &s); err != nil {
			t.Fatal(err)
		}
		if s.Factual < c.minFactual {
			t.Errorf("%q answered %q: factual %.2f, want ≥ %.2f", c.q, resp.Content, s.Factual, c.minFactual)
		}
	}
}

// The knowledge entries come best first from the retriever: a sentence of a later entry
// answers only when it clearly beats the first entry's best, not when it is a little
// closer to the question's words.
func TestOfflineAnswerPrefersTheFirstEntry(t *testing.T) {
	t.Parallel()
	o := ai.NewOffline()
	first := "Returns are accepted within 30 days of delivery, in the original box."
	close := "Returns are accepted within 30 days."
	for _, c := range []struct {
		entries []string
		want    string
	}{
		{[]string{first, close}, first},
		{[]string{close, first}, close},
		// A later entry that answers while the first does not still wins.
		{[]string{"Our showroom is open Monday to Friday from 9 am.", close}, close},
	} {
		resp, err := o.Complete(t.Context(), ask(knowledgePrompt(c.entries...), "are returns accepted?"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Content != c.want {
			t.Errorf("entries %q: answer %q, want %q", c.entries, resp.Content, c.want)
		}
	}
}

// The factual score's coverage matches a hyphenated compound of the answer written
// closed up ("preorder" for "Pre-orders"), as the retriever's sentence ranking does.
func TestOfflineFactualMatchesClosedCompounds(t *testing.T) {
	t.Parallel()
	o := ai.NewOffline()
	reply := "Pre-orders are charged when the item ships, not when you order."
	know := knowledgePrompt("Returns are accepted within 30 days of delivery for a full refund.", reply)
	var s scores
	if err := o.CompleteJSON(t.Context(), ask("Score the reply as JSON.\n\n"+know, "when is a preorder charged", reply), &s); err != nil {
		t.Fatal(err)
	}
	if s.Factual < 0.7 {
		t.Errorf("preorder against Pre-orders: factual %.2f, want ≥ 0.7", s.Factual)
	}
}

// offlineFactualScorer returns the offline scorer's factual score of a reply to a question,
// with know (a knowledgePrompt) in the scorer's system prompt.
func offlineFactualScorer(t *testing.T, o *ai.Offline, know string) func(q, reply string) float64 {
	t.Helper()
	scorer := "Score the assistant's reply as JSON.\n\n" + know
	return func(q, reply string) float64 {
		t.Helper()
		var s scores
		if err := o.CompleteJSON(t.Context(), ask(scorer, q, reply), &s); err != nil {
			t.Fatal(err)
		}
		return s.Factual
	}
}
