// Command retrieval is the answer-quality evaluation: it ingests a small bike shop's
// knowledge (testdata: two long TEXT policies, a QA document, two HTML pages served by a
// local web server with navigation and footers around the content, and a PDF written at
// run time) through the real ingestion pipeline into a fresh, migrated test database, then
// asks the customer questions of testdata/questions.json and reports:
//
//   - top-1, top-5 and MRR (over the first 20) of the chunk that holds the answer, for the
//     Retriever's own legs, read from the ranks its hits carry (one Search of 20 hits with
//     no similarity cut-off): the vector leg, the full-text leg (English stemming, any of
//     the query's words, BM25), their weighted reciprocal-rank fusion, and what the agent
//     gets (Search with its threshold, k = 5);
//   - for each question, the agent's answer through the real Responder (agents module):
//     for the questions the knowledge does not answer, how often it says it does not know
//     or hands off; for the others, how often the reply contains the fact and cites its
//     document, and how often it wrongly gives up; and how often the model's reply before
//     the responder's decision holds the fact (-v prints that reply when the responder
//     replaced it), which tells the answerer's sentence choice from the declines.
//
// A chunk holds a fact when its text contains the fact's needle (testdata/facts.json,
// compared case-insensitively with whitespace collapsed), so the labels survive changes of
// chunk size. The questions were written before any tuning and are not to be changed.
//
// The offline provider is used unless OPENAI_API_KEY is set (then OpenAI, with
// OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_SCORER_MODEL and OPENAI_EMBEDDING_MODEL honoured
// as by the server; -offline forces the offline provider). The database server is
// DATABASE_URL's (default: the local axon_test server); the run clones the migrated test
// template into its own database and drops it at the end.
//
//	go run ./bench/retrieval        # or: make eval
//	go run ./bench/retrieval -v     # one line per question
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/modules/auth/authtest"
	"github.com/axonhq/axon/modules/billing/billingtest"
	"github.com/axonhq/axon/modules/ingestion"
	"github.com/axonhq/axon/platform/ai"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/storage"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

const (
	localBase = "http://axon.invalid"
	poolK     = 20 // ranks looked at for MRR
)

type corpus struct {
	Docs []struct {
		ID, Type, Title, File string
	} `json:"docs"`
	Facts []struct {
		ID, Doc, Needle string
	} `json:"facts"`
}

// dumpChunks is the -dump file.
var dumpChunks string

type question struct {
	Q     string   `json:"q"`
	Facts []string `json:"facts"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == ingestion.ChildCommand {
		os.Exit(ingestion.ExtractChildMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	verbose := flag.Bool("v", false, "print one line per question")
	offline := flag.Bool("offline", false, "use the offline provider even when OPENAI_API_KEY is set")
	flag.StringVar(&dumpChunks, "dump", "", "write the ingested chunks (title, metadata, content) as JSON to this file")
	flag.Parse()
	t := &runner{}
	code := 0
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(fatal); !ok {
					panic(r)
				}
				code = 1
			}
		}()
		run(t, *verbose, *offline)
	}()
	t.cleanup()
	os.Exit(code)
}

func run(t *runner, verbose, forceOffline bool) {
	ctx := context.Background()
	dir := testdataDir(t)
	var c corpus
	readJSON(t, filepath.Join(dir, "facts.json"), &c)
	var qs []question
	readJSON(t, filepath.Join(dir, "questions.json"), &qs)
	needles := map[string]string{}
	factDoc := map[string]string{}
	for _, f := range c.Facts {
		needles[f.ID] = norm(f.Needle)
		factDoc[f.ID] = f.Doc
	}
	for i, q := range qs {
		for _, f := range q.Facts {
			if needles[f] == "" {
				t.Fatalf("question %d names unknown fact %s", i+1, f)
			}
		}
	}

	var provider ai.Provider = ai.NewOffline()
	if key := os.Getenv("OPENAI_API_KEY"); key != "" && !forceOffline {
		provider = ai.NewOpenAI(ai.OpenAIConfig{
			APIKey: key, BaseURL: os.Getenv("OPENAI_BASE_URL"), ChatModel: os.Getenv("OPENAI_MODEL"),
			ScorerModel: os.Getenv("OPENAI_SCORER_MODEL"), EmbeddingModel: os.Getenv("OPENAI_EMBEDDING_MODEL"),
		})
	}
	minSim := ai.OpenAIMinSimilarity
	if provider.Model() == ai.OfflineEmbeddingModel {
		minSim = ai.OfflineMinSimilarity
	}

	// The web site the URL documents are fetched from.
	mux := http.NewServeMux()
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)

	local := storage.NewLocal(t.TempDir(), localBase, []byte("eval-secret-eval-secret-eval-sec"))
	var mod *ingestion.Module
	env := apitest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		m, err := ingestion.New(ingestion.Deps{
			DB: d.DB, Queue: d.Queue, Publisher: d.Publisher, Cache: d.Cache, Embedder: provider,
			Store: local, Local: local, Log: d.Log,
			Agents: agents.NewDirectory(d.DB), Authed: d.Authed,
			AllowAddrs:    []string{strings.TrimPrefix(site.URL, "http://")},
			MinSimilarity: minSim,
			RetryBase:     50 * time.Millisecond,
		})
		mod = m
		return []kernel.Module{m}, err
	})
	env.StartWorker()
	// The workspace is made through auth's and billing's test helpers, as
	// modules/internal/apptest does (that package is internal to modules/).
	owner := authtest.NewOwner(t, env.DB, env.Deps.Issuer)
	if err := billingtest.SetPlan(ctx, env.DB, owner.WorkspaceID, "STARTER"); err != nil {
		t.Fatal(err)
	}
	ws := apitest.Workspace{ID: owner.WorkspaceID, UserID: owner.UserID, Email: owner.Email, Role: owner.Role, Token: owner.Token}
	agent := agents.Agent{
		ID: uuid.Must(uuid.NewV7()).String(), WorkspaceID: ws.ID, Name: "Ridgeway Bikes",
		SystemPrompt: "You are the customer-support assistant of Ridgeway Bikes, an online bike shop. Answer from the knowledge excerpts only.",
		Status:       "ACTIVE", Mode: "TEXT", HandoffEnabled: true, HandoffThreshold: 0.65, HandoffDest: "LIVE_AGENT",
	}
	if _, err := env.DB.Exec(`INSERT INTO agents (id, workspace_id, name, system_prompt) VALUES ($1, $2, $3, $4)`,
		agent.ID, ws.ID, agent.Name, agent.SystemPrompt); err != nil {
		t.Fatal(err)
	}

	// Ingest every document through the HTTP API and the worker.
	start := time.Now()
	docOf := map[string]string{} // knowledge doc id → corpus doc id
	for _, d := range c.Docs {
		raw, err := os.ReadFile(filepath.Join(dir, d.File))
		if err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"type": d.Type, "title": d.Title}
		switch d.Type {
		case "TEXT", "QA":
			body["content"] = string(raw)
		case "URL":
			page := raw
			mux.HandleFunc("/"+d.File, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write(page)
			})
			body["sourceUrl"] = site.URL + "/" + d.File
		case "PDF":
			body["storageKey"] = upload(t, env, ws.Token, strings.TrimSuffix(d.File, ".txt"), makePDF(strings.Split(strings.TrimSpace(string(raw)), "\n")...))
		default:
			t.Fatalf("unknown type %s", d.Type)
		}
		res := env.Post("/v1/agents/"+agent.ID+"/knowledge", ws.Token, body)
		if res.Status != http.StatusAccepted {
			t.Fatalf("create %s: %d %s", d.ID, res.Status, res.Body)
		}
		var out struct {
			Doc struct {
				ID string `json:"id"`
			} `json:"doc"`
		}
		res.JSON(t, &out)
		docOf[out.Doc.ID] = d.ID
	}
	chunks := 0
	apitest.Eventually(t, 2*time.Minute, func() bool {
		var pending int
		if err := env.DB.Get(&pending, `SELECT count(*) FROM knowledge_docs WHERE agent_id = $1 AND status NOT IN ('READY', 'ERROR')`, agent.ID); err != nil {
			t.Fatal(err)
		}
		return pending == 0
	}, "documents READY")
	var failed []string
	if err := env.DB.Select(&failed, `SELECT title || ': ' || coalesce(error_msg, '') FROM knowledge_docs WHERE agent_id = $1 AND status = 'ERROR'`, agent.ID); err != nil {
		t.Fatal(err)
	}
	if len(failed) > 0 {
		t.Fatalf("documents failed: %v", failed)
	}
	if err := env.DB.Get(&chunks, `SELECT count(*) FROM knowledge_chunks WHERE agent_id = $1`, agent.ID); err != nil {
		t.Fatal(err)
	}
	ingestTime := time.Since(start)
	// Every fact must be findable in some chunk, or its questions could never score.
	var contents []string
	if err := env.DB.Select(&contents, `SELECT content FROM knowledge_chunks WHERE agent_id = $1`, agent.ID); err != nil {
		t.Fatal(err)
	}
	if dumpChunks != "" {
		var js []byte
		if err := env.DB.Get(&js, `SELECT coalesce(json_agg(json_build_object('title', d.title, 'type', d.type, 'metadata', c.metadata, 'content', c.content) ORDER BY d.created_at, c.chunk_idx), '[]') FROM knowledge_chunks c JOIN knowledge_docs d ON d.id = c.doc_id WHERE c.agent_id = $1`, agent.ID); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dumpChunks, js, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range c.Facts {
		found := false
		for _, ct := range contents {
			if strings.Contains(norm(ct), needles[f.ID]) {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("fact %s (%q) is in no chunk", f.ID, f.Needle)
		}
	}

	retriever := mod.Retriever()
	rec := &recordingChatter{Provider: provider}
	resp, err := agents.NewResponder(agents.ResponderDeps{
		Chatter: rec, Knowledge: mod.Passages(), MinSimilarity: minSim,
		Now: func() time.Time { return time.Date(2025, 6, 4, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}

	legNames := []string{"vector", "full-text", "fused (RRF)", "retriever (agent)"}
	scores := make([]rankScore, len(legNames))
	var ans answerScore
	for qi, q := range qs {
		holds := func(content string) bool {
			n := norm(content)
			for _, f := range q.Facts {
				if strings.Contains(n, needles[f]) {
					return true
				}
			}
			return false
		}
		vec, fts, fused := legs(t, retriever, ws.ID, agent.ID, q.Q)
		hits, err := retriever.Search(ctx, ws.ID, agent.ID, q.Q, 5, minSim)
		if err != nil {
			t.Fatal(err)
		}
		var ret []chunkRef
		for _, h := range hits {
			ret = append(ret, chunkRef{doc: h.DocID, title: h.Title, idx: h.ChunkIdx, content: h.Content})
		}
		ranks := make([]int, len(legNames))
		var firsts []string // each leg's first chunk, when it is not the answer
		if len(q.Facts) > 0 {
			for i, r := range [][]chunkRef{vec, fts, fused, ret} {
				ranks[i] = scores[i].add(r, holds)
				if ranks[i] != 1 && len(r) > 0 {
					firsts = append(firsts, legNames[i][:1]+":"+r[0].label())
				}
			}
		}

		rec.reply = ""
		a, err := resp.Answer(ctx, agents.AnswerRequest{Agent: agent, Message: q.Q}, nil)
		if err != nil {
			t.Fatal(err)
		}
		verdict := ans.add(a, q.Facts, needles, factDoc, docOf)
		rawHolds := holds(rec.reply)
		if len(q.Facts) > 0 && rawHolds {
			ans.rawCorrect++
		}
		if verbose {
			label := strings.Join(q.Facts, ",")
			if label == "" {
				label = "none"
			}
			fmt.Printf("%2d %-8s ranks v/f/rrf/ret %v %-12s %q\n     -> %q\n", qi+1, label, ranks, verdict, q.Q, trim(a.Content, 160))
			if rec.reply != a.Content {
				fmt.Printf("     model's reply (holds the fact: %v): %q\n", rawHolds, trim(rec.reply, 160))
			}
			var ev []string
			for _, h := range hits {
				ev = append(ev, fmt.Sprintf("%s#%d:v%d/t%d/%.3f", initials(h.Title), h.ChunkIdx, h.VectorRank, h.TextRank, h.Similarity))
			}
			fmt.Printf("     evidence %s; factual %.2f composite %.2f\n", strings.Join(ev, " "), a.Scores.Factual, a.Scores.Composite)
			if len(firsts) > 0 {
				fmt.Printf("     ranked first instead: %s\n", strings.Join(firsts, " "))
			}
		}
	}

	answerable := 0
	for _, q := range qs {
		if len(q.Facts) > 0 {
			answerable++
		}
	}
	fmt.Printf("Answer-quality evaluation (bench/retrieval), provider %s, embedding model %s\n", provider.Name(), provider.Model())
	fmt.Printf("corpus: %d documents, %d facts, %d chunks (ingested in %s); %d questions, %d answerable, %d not answerable\n\n",
		len(c.Docs), len(c.Facts), chunks, ingestTime.Round(time.Millisecond), len(qs), answerable, len(qs)-answerable)
	fmt.Printf("%-20s %6s %6s %6s\n", "retrieval", "top-1", "top-5", "MRR")
	for i, l := range legNames {
		s := scores[i]
		fmt.Printf("%-20s %6.3f %6.3f %6.3f\n", l, s.top1/float64(s.n), s.top5/float64(s.n), s.mrr/float64(s.n))
	}
	fmt.Println()
	fmt.Printf("not answerable (%d): don't know %d, handoff %d, answered anyway %d -> declined %.0f %%\n",
		ans.unN, ans.unDontKnow, ans.unHandoff, ans.unAnswered, 100*float64(ans.unDontKnow+ans.unHandoff)/float64(max(1, ans.unN)))
	fmt.Printf("answerable (%d): reply holds the fact %d (%.0f %%), and cites its document %d (%.0f %%); said don't know %d, handed off %d\n",
		ans.n, ans.correct, 100*float64(ans.correct)/float64(max(1, ans.n)), ans.cited, 100*float64(ans.cited)/float64(max(1, ans.n)), ans.dontKnow, ans.handoff)
	fmt.Printf("answerable: the model's reply before the responder's decision holds the fact %d\n", ans.rawCorrect)
}

// chunkRef is one ranked chunk.
type chunkRef struct {
	doc     string
	title   string
	idx     int
	content string
}

// label names the chunk in -v lines: the title's initials and the chunk index.
func (c chunkRef) label() string { return fmt.Sprintf("%s#%d", initials(c.title), c.idx) }

type rankScore struct {
	n               int
	top1, top5, mrr float64
}

// add scores one ranking and returns the 1-based rank of the first chunk that holds the
// answer (0 when none of the first poolK does).
func (s *rankScore) add(r []chunkRef, holds func(string) bool) int {
	s.n++
	for i, c := range r {
		if i >= poolK {
			break
		}
		if holds(c.content) {
			if i == 0 {
				s.top1++
			}
			if i < 5 {
				s.top5++
			}
			s.mrr += 1 / float64(i+1)
			return i + 1
		}
	}
	return 0
}

type answerScore struct {
	n, correct, cited, dontKnow, handoff   int
	rawCorrect                             int // the model's reply, before the responder's decision, holds the fact
	unN, unDontKnow, unHandoff, unAnswered int
}

// add classifies one answer and returns a short verdict.
func (s *answerScore) add(a agents.Answer, facts []string, needles, factDoc, docOf map[string]string) string {
	dk := saysDontKnow(a.Content)
	if len(facts) == 0 {
		s.unN++
		switch {
		case a.Handoff != nil:
			s.unHandoff++
			return "handoff"
		case dk:
			s.unDontKnow++
			return "dont-know"
		}
		s.unAnswered++
		return "ANSWERED"
	}
	s.n++
	n := norm(a.Content)
	for _, f := range facts {
		if strings.Contains(n, needles[f]) {
			s.correct++
			for _, src := range a.Sources {
				if docOf[src.DocID] == factDoc[f] {
					s.cited++
					break
				}
			}
			if a.Handoff != nil {
				return "correct+handoff"
			}
			return "correct"
		}
	}
	switch {
	case dk:
		s.dontKnow++
		return "DONT-KNOW"
	case a.Handoff != nil:
		s.handoff++
		return "HANDOFF"
	}
	return "WRONG"
}

// recordingChatter keeps the model's last reply (Complete or Stream), before the
// responder's decision replaces it, for the -v lines and the "before the decision" count.
type recordingChatter struct {
	ai.Provider
	reply string
}

func (c *recordingChatter) Complete(ctx context.Context, req ai.ChatRequest) (ai.ChatResponse, error) {
	r, err := c.Provider.Complete(ctx, req)
	c.reply = r.Content
	return r, err
}

func (c *recordingChatter) Stream(ctx context.Context, req ai.ChatRequest, onDelta func(string) error) (ai.ChatResponse, error) {
	r, err := c.Provider.Stream(ctx, req, onDelta)
	c.reply = r.Content
	return r, err
}

// saysDontKnow recognises a reply that admits it has no answer.
func saysDontKnow(reply string) bool {
	r := strings.ToLower(reply)
	for _, p := range []string{"don't know", "do not know", "don’t know", "not sure", "couldn't find", "could not find", "no information", "don't have information", "do not have information"} {
		if strings.Contains(r, p) {
			return true
		}
	}
	return strings.TrimSpace(r) == ""
}

// legs returns the product's own rankings of the agent's chunks for q: its vector leg,
// its full-text leg and their fusion, from one Retriever.Search of poolK hits with no
// similarity cut-off (each hit carries its rank in both legs).
func legs(t *runner, r ingestion.Retriever, wsID, agentID, q string) (vec, fts, fused []chunkRef) {
	hits, err := r.Search(context.Background(), wsID, agentID, q, poolK, -1)
	if err != nil {
		t.Fatal(err)
	}
	ref := func(h ingestion.Hit) chunkRef {
		return chunkRef{doc: h.DocID, title: h.Title, idx: h.ChunkIdx, content: h.Content}
	}
	byRank := func(rank func(ingestion.Hit) int) []chunkRef {
		ranked := slices.DeleteFunc(slices.Clone(hits), func(h ingestion.Hit) bool { return rank(h) == 0 })
		slices.SortFunc(ranked, func(a, b ingestion.Hit) int { return rank(a) - rank(b) })
		out := make([]chunkRef, len(ranked))
		for i, h := range ranked {
			out[i] = ref(h)
		}
		return out
	}
	vec = byRank(func(h ingestion.Hit) int { return h.VectorRank })
	fts = byRank(func(h ingestion.Hit) int { return h.TextRank })
	for _, h := range hits {
		fused = append(fused, ref(h))
	}
	return vec, fts, fused
}

// upload presigns, PUTs and returns the storage key.
func upload(t *runner, env *apitest.Env, token, filename string, data []byte) string {
	res := env.Post("/v1/storage/presign", token, map[string]any{"filename": filename, "contentType": "application/pdf", "size": len(data)})
	if res.Status != http.StatusOK {
		t.Fatalf("presign: %d %s", res.Status, res.Body)
	}
	var p struct {
		UploadURL  string `json:"uploadUrl"`
		StorageKey string `json:"storageKey"`
	}
	res.JSON(t, &p)
	put := env.Do(apitest.Req{
		Method: http.MethodPut, Path: strings.TrimPrefix(p.UploadURL, localBase), Body: data,
		Header: map[string]string{"Content-Type": "application/pdf"},
	})
	if put.Status != http.StatusOK {
		t.Fatalf("upload: %d %s", put.Status, put.Body)
	}
	return p.StorageKey
}

// norm lower-cases s and collapses whitespace, for needle matching.
func norm(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

func trim(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func readJSON(t *runner, path string, v any) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// testdataDir finds testdata next to this file (go run builds elsewhere).
func testdataDir(t *runner) string {
	for _, d := range []string{"bench/retrieval/testdata", "testdata"} {
		if _, err := os.Stat(filepath.Join(d, "questions.json")); err == nil {
			return d
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		return filepath.Join(filepath.Dir(file), "testdata")
	}
	t.Fatalf("testdata not found: run from the repository root")
	return ""
}

// initials shortens a document title for the -v lines ("Customer FAQ" → "CF").
func initials(title string) string {
	var b strings.Builder
	for _, w := range strings.Fields(title) {
		b.WriteString(strings.ToUpper(w[:1]))
	}
	return b.String()
}
