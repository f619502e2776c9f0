package ingestion

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/modules/internal/apptest"
	"github.com/axonhq/axon/platform/ai"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/storage"
	"github.com/axonhq/axon/platform/testkit/apitest"
	"github.com/axonhq/axon/platform/testkit/fakeopenai"
	"github.com/axonhq/axon/platform/testkit/pdftest"
)

// localBase is the API base URL the local store signs; tests swap it for the test
// server's URL (the store is built before the server starts).
const localBase = "http://axon.invalid"

// harness is one API server with the ingestion module, a working River worker, the fake
// OpenAI server, a local store in a temporary directory and a small web site that the
// fetcher may reach (every other address stays under the private-address policy).
type harness struct {
	*apptest.Env
	mod   *Module
	ai    *fakeopenai.Server
	local *storage.Local
	site  *httptest.Server
	mux   *http.ServeMux
	yt    *httptest.Server
	// private is a loopback server that is NOT allow-listed.
	private *httptest.Server
}

// Tests built on a harness do not run in parallel: every harness of the test process shares
// one database, so one harness's River worker would take another's jobs, and the sweep
// (recoverLost, sweepStuck) looks at every workspace's documents. Tests of pure functions
// (extract_test.go) run in parallel.
func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{ai: fakeopenai.New(t), mux: http.NewServeMux()}
	h.site = httptest.NewServer(h.mux)
	t.Cleanup(h.site.Close)
	h.private = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "<html><body><main><p>internal secrets that must never be ingested</p></main></body></html>")
	}))
	t.Cleanup(h.private.Close)
	h.yt = httptest.NewServer(http.HandlerFunc(serveTimedText))
	t.Cleanup(h.yt.Close)
	h.local = storage.NewLocal(t.TempDir(), localBase, []byte("test-secret-test-secret-test-sec"))
	emb := ai.NewOpenAI(ai.OpenAIConfig{
		APIKey: "test", BaseURL: h.ai.URL(), MaxRetries: 3,
		RetryBaseDelay: 5 * time.Millisecond, MaxRetryWait: time.Second, EmbedRPS: -1,
	})
	h.Env = apptest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		m, err := New(Deps{
			DB: d.DB, Queue: d.Queue, Publisher: d.Publisher, Cache: d.Cache, Embedder: emb,
			Store: h.local, Local: h.local, Agents: agents.NewDirectory(d.DB),
			Authed: testAuth(d), Log: d.Log,
			YouTubeTranscriptURL: h.yt.URL,
			AllowAddrs:           []string{strings.TrimPrefix(h.site.URL, "http://")},
			RetryBase:            20 * time.Millisecond,
			MinSimilarity:        ai.OfflineMinSimilarity, // the fake answers with offline embeddings
		})
		h.mod = m
		return []kernel.Module{m}, err
	})
	return h
}

// agent inserts an agent into the workspace and returns its id.
func (h *harness) agent(ws apitest.Workspace) string {
	h.T.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	if _, err := h.DB.Exec(`INSERT INTO agents (id, workspace_id, name, system_prompt) VALUES ($1, $2, 'Support', 'Be helpful.')`, id, ws.ID); err != nil {
		h.T.Fatal(err)
	}
	return id
}

// create posts a document and returns its id, failing unless the answer is 202 PENDING.
func (h *harness) create(ws apitest.Workspace, agentID string, body map[string]any) string {
	h.T.Helper()
	res := h.Post("/v1/agents/"+agentID+"/knowledge", ws.Token, body)
	if res.Status != http.StatusAccepted {
		h.T.Fatalf("create: status %d: %s", res.Status, res.Body)
	}
	var out struct {
		Doc docDTO `json:"doc"`
	}
	res.JSON(h.T, &out)
	if out.Doc.ID == "" || out.Doc.Status != StatusPending {
		h.T.Fatalf("create: %s", res.Body)
	}
	return out.Doc.ID
}

// wait polls the document until it is READY or ERROR and returns it.
func (h *harness) wait(ws apitest.Workspace, agentID, docID string) docDTO {
	h.T.Helper()
	// Poll the table (polling the API would hit the per-IP rate limit), then read the
	// document through the API.
	apitest.Eventually(h.T, 20*time.Second, func() bool {
		var status string
		if err := h.DB.Get(&status, `SELECT status FROM knowledge_docs WHERE id = $1`, docID); err != nil {
			h.T.Fatal(err)
		}
		return status == StatusReady || status == StatusError
	}, "document "+docID+" READY or ERROR")
	res := h.Get("/v1/agents/"+agentID+"/knowledge/"+docID, ws.Token)
	if res.Status != http.StatusOK {
		h.T.Fatalf("get doc: %d %s", res.Status, res.Body)
	}
	var d docDTO
	res.JSON(h.T, &d)
	return d
}

// ready waits and fails unless the document is READY with want chunks (want < 0: any).
func (h *harness) ready(ws apitest.Workspace, agentID, docID string, want int) docDTO {
	h.T.Helper()
	d := h.wait(ws, agentID, docID)
	if d.Status != StatusReady {
		h.T.Fatalf("doc %s: status %s, errorMsg %v", docID, d.Status, str(d.ErrorMsg))
	}
	if want >= 0 && d.ChunkCount != want {
		h.T.Fatalf("doc %s: chunkCount %d, want %d", docID, d.ChunkCount, want)
	}
	if n := h.chunkRows(docID); n != d.ChunkCount {
		h.T.Fatalf("doc %s: %d chunk rows for chunkCount %d", docID, n, d.ChunkCount)
	}
	return d
}

func (h *harness) chunkRows(docID string) int {
	h.T.Helper()
	var n int
	if err := h.DB.Get(&n, `SELECT count(*) FROM knowledge_chunks WHERE doc_id = $1`, docID); err != nil {
		h.T.Fatal(err)
	}
	return n
}

// upload presigns, PUTs and returns the storage key.
func (h *harness) upload(ws apitest.Workspace, filename, contentType string, data []byte) string {
	h.T.Helper()
	res := h.Post("/v1/storage/presign", ws.Token, map[string]any{"filename": filename, "contentType": contentType, "size": len(data)})
	if res.Status != http.StatusOK {
		h.T.Fatalf("presign: %d %s", res.Status, res.Body)
	}
	var p presignResponse
	res.JSON(h.T, &p)
	if put := h.put(p.UploadURL, contentType, data); put.Status != http.StatusOK {
		h.T.Fatalf("PUT upload: %d %s", put.Status, put.Body)
	}
	return p.StorageKey
}

// put sends a PUT to an upload URL issued by the local store.
func (h *harness) put(uploadURL, contentType string, data []byte) *apitest.Response {
	h.T.Helper()
	path := strings.TrimPrefix(uploadURL, localBase)
	return h.Do(apitest.Req{Method: http.MethodPut, Path: path, Body: data, Header: map[string]string{"Content-Type": contentType}})
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// words returns n distinct-looking words ("w0 w1 …") prefixed by text.
func words(prefix string, n int) string {
	var b strings.Builder
	b.WriteString(prefix)
	for i := range n {
		fmt.Fprintf(&b, " filler%d", i)
	}
	return b.String()
}

// makePDF builds a small valid PDF, one page per text (platform/testkit/pdftest).
var makePDF = pdftest.Make

// makeDOCX builds a minimal Word document: a heading paragraph and body paragraphs.
func makeDOCX(heading string, paras ...string) []byte {
	var body strings.Builder
	fmt.Fprintf(&body, `<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>%s</w:t></w:r></w:p>`, heading)
	for _, p := range paras {
		fmt.Fprintf(&body, `<w:p><w:r><w:t xml:space="preserve">%s</w:t></w:r></w:p>`, p)
	}
	files := map[string]string{
		"[Content_Types].xml": `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
		"word/document.xml":   `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` + body.String() + `</w:body></w:document>`,
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range []string{"[Content_Types].xml", "word/document.xml"} {
		f, _ := zw.Create(name)
		_, _ = f.Write([]byte(files[name]))
	}
	_ = zw.Close()
	return b.Bytes()
}

// serveTimedText fakes YouTube's timedtext endpoint: video dQw4w9WgXcQ has an English
// transcript (srv1 XML, entities escaped twice as YouTube does); others have none.
func serveTimedText(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/timedtext" || r.URL.Query().Get("lang") != "en" || r.URL.Query().Get("v") != "dQw4w9WgXcQ" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=UTF-8")
	fmt.Fprint(w, `<?xml version="1.0" encoding="utf-8" ?><transcript>`+
		`<text start="0.5" dur="3.1">Welcome to the Acme router setup guide.</text>`+
		`<text start="3.6" dur="4.2">First, plug the router into the wall socket &amp;amp; wait for the green light.</text>`+
		`<text start="7.8" dur="5">Then open the app and scan the QR code on the bottom of the router.</text>`+
		`<text start="12.8" dur="4">If the light blinks red, hold the reset button for ten seconds.</text>`+
		`</transcript>`)
}
