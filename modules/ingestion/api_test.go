package ingestion

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/storage"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

func testAuth(d *kernel.Deps) []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{authn.Middleware(d.Issuer, false)}
}

const refundText = "Refund policy. Customers can ask for a refund within 30 days of purchase. " +
	"Refunds are paid back to the original card within 5 business days after we approve them. " +
	"Annual plans are refunded pro rata for the unused months."

// TestKnowledge runs the knowledge flows through the HTTP API with one server, one River
// worker and one fake OpenAI server. The subtests run in order: some program failures
// into the shared fake.
func TestKnowledge(t *testing.T) {
	h := newHarness(t)
	h.StartWorker()
	ws := h.NewWorkspace("STARTER", 100)
	agent := h.agent(ws)
	base := "/v1/agents/" + agent + "/knowledge"

	t.Run("TEXT becomes READY with word-window chunks", func(t *testing.T) {
		// 700 words with windows of 512 overlapping by 64: [0,512) and [448,700).
		id := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Long text", "content": words("Intro.", 699)})
		h.ready(ws, agent, id, 2)
		var idx []int
		if err := h.DB.Select(&idx, `SELECT chunk_idx FROM knowledge_chunks WHERE doc_id = $1 ORDER BY chunk_idx`, id); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(idx) != "[0 1]" {
			t.Fatalf("chunk_idx = %v", idx)
		}
	})

	t.Run("QA makes one chunk per pair", func(t *testing.T) {
		content := "Q: How do I reset my password?\nA: Click 'Forgot password' on the login page.\n\n" +
			"Q: Do you ship abroad?\nA: Yes, to 40 countries;\nduties are paid by the buyer.\n" +
			"Q: Can I pay by invoice?\nA: Invoices are available on the Pro plan."
		id := h.create(ws, agent, map[string]any{"type": "QA", "title": "FAQ", "content": content})
		h.ready(ws, agent, id, 3)
		var c string
		if err := h.DB.Get(&c, `SELECT content FROM knowledge_chunks WHERE doc_id = $1 AND chunk_idx = 1`, id); err != nil {
			t.Fatal(err)
		}
		if c != "Q: Do you ship abroad?\nA: Yes, to 40 countries;\nduties are paid by the buyer." {
			t.Fatalf("chunk 1 = %q", c)
		}
	})

	h.mux.HandleFunc("/help/shipping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head><title>Shipping help</title><style>.x{}</style></head><body>
<header><a href="/">Home</a> MENUWORD</header><nav><a href="/a">NAVWORD pricing</a></nav>
<main><h1>Shipping</h1><p>We ship parcels with DHL Express from our warehouse in Rotterdam.</p>
<h2>Delivery times</h2><p>Orders placed before 3 pm leave the warehouse the same day and arrive within two business days.</p>
<script>var TRACKER = "SCRIPTWORD";</script><form>FORMWORD <input></form></main>
<footer>FOOTERWORD © Acme</footer></body></html>`)
	})

	t.Run("URL keeps the readable content with heading and url metadata", func(t *testing.T) {
		id := h.create(ws, agent, map[string]any{"type": "URL", "title": "Shipping", "sourceUrl": h.site.URL + "/help/shipping"})
		h.ready(ws, agent, id, 1)
		var c, meta string
		if err := h.DB.QueryRow(`SELECT content, metadata::text FROM knowledge_chunks WHERE doc_id = $1`, id).Scan(&c, &meta); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"MENUWORD", "NAVWORD", "SCRIPTWORD", "FORMWORD", "FOOTERWORD", ".x{}"} {
			if strings.Contains(c, bad) {
				t.Fatalf("chunk keeps %s: %q", bad, c)
			}
		}
		if !strings.Contains(c, "DHL Express") || !strings.Contains(c, "two business days") {
			t.Fatalf("chunk lost the content: %q", c)
		}
		if !strings.Contains(meta, `"heading": "Shipping"`) || !strings.Contains(meta, h.site.URL+"/help/shipping") {
			t.Fatalf("metadata = %s", meta)
		}
	})

	page := func(path, body string) {
		h.mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "<html><body><article><h1>%s</h1><p>%s</p></article></body></html>", path, body)
		})
	}
	page("/p/one", "Our support team answers e-mails within four hours on weekdays.")
	page("/p/two", "The mobile app works on iOS 16 and Android 12 or newer versions.")
	page("/p/three", "Gift cards never expire and can be combined with discount codes.")
	h.mux.HandleFunc("/sitemap_index.xml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>%[1]s/sitemap-a.xml</loc></sitemap><sitemap><loc>%[1]s/sitemap-b.xml.gz</loc></sitemap>
<sitemap><loc>%[1]s/sitemap-missing.xml</loc></sitemap></sitemapindex>`, h.site.URL)
	})
	h.mux.HandleFunc("/sitemap-a.xml", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>%[1]s/p/one</loc></url>
<url><loc>%[1]s/p/two</loc></url><url><loc>%[1]s/p/gone</loc></url></urlset>`, h.site.URL)
	})
	h.mux.HandleFunc("/sitemap-b.xml.gz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/gzip")
		zw := gzip.NewWriter(w)
		fmt.Fprintf(zw, `<urlset><url><loc>%[1]s/p/three</loc></url><url><loc>%[1]s/p/one</loc></url></urlset>`, h.site.URL)
		_ = zw.Close()
	})

	t.Run("SITEMAP follows nested indexes and tolerates failing pages", func(t *testing.T) {
		id := h.create(ws, agent, map[string]any{"type": "SITEMAP", "title": "Site", "sourceUrl": h.site.URL + "/sitemap_index.xml"})
		// Pages one, two, three (one listed twice, /p/gone answers 404): three chunks.
		h.ready(ws, agent, id, 3)
		var urls []string
		if err := h.DB.Select(&urls, `SELECT metadata->>'url' FROM knowledge_chunks WHERE doc_id = $1 ORDER BY chunk_idx`, id); err != nil {
			t.Fatal(err)
		}
		want := []string{h.site.URL + "/p/one", h.site.URL + "/p/two", h.site.URL + "/p/three"}
		if fmt.Sprint(urls) != fmt.Sprint(want) {
			t.Fatalf("urls = %v, want %v", urls, want)
		}
		// The skipped page is named in errorMsg of the READY document.
		d := h.wait(ws, agent, id)
		if msg := str(d.ErrorMsg); !strings.Contains(msg, "1 of 4 pages") || !strings.Contains(msg, h.site.URL+"/p/gone") {
			t.Fatalf("errorMsg = %q, want the skipped page named", msg)
		}
	})

	t.Run("PDF via presign, PUT and create", func(t *testing.T) {
		data := makePDF("Warranty terms. Every Acme router has a warranty of three years from the date of delivery.",
			"Batteries are covered for one year. Damage from water is not covered by the warranty.")
		key := h.upload(ws, "warranty.pdf", "application/pdf", data)
		id := h.create(ws, agent, map[string]any{"type": "PDF", "title": "Warranty", "storageKey": key})
		d := h.ready(ws, agent, id, 1)
		if d.Type != TypePDF {
			t.Fatalf("type = %s", d.Type)
		}
		var c, meta string
		if err := h.DB.QueryRow(`SELECT content, metadata::text FROM knowledge_chunks WHERE doc_id = $1`, id).Scan(&c, &meta); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(c, "three years") || !strings.Contains(c, "Damage from water") || meta != `{"page": 1}` {
			t.Fatalf("chunk %q, metadata %s", c, meta)
		}
	})

	t.Run("DOCX, CSV, MD, TXT and HTML files are FILE documents", func(t *testing.T) {
		files := []struct {
			name, ct string
			data     []byte
			want     string
		}{
			{
				"manual.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
				makeDOCX("Installation", "Mount the camera at least two metres above the ground.", "Use the included screws."), "two metres above",
			},
			{"prices.csv", "text/csv", []byte("plan,price,seats\nStarter,9 EUR,1\nPro,49 EUR,10\n"), "plan: Pro\nprice: 49 EUR\nseats: 10"},
			{"notes.md", "text/markdown", []byte("# Opening hours\n\nThe shop opens at nine in the morning from Monday to Saturday.\n"), "opens at nine"},
			{"notes.txt", "text/plain; charset=utf-8", []byte("Parking is free for customers in the garage under the shop.\n"), "Parking is free"},
			{"page.html", "text/html", []byte("<html><body><nav>NAVWORD</nav><main><p>Returns are accepted in any of our twelve stores.</p></main></body></html>"), "twelve stores"},
		}
		for _, f := range files {
			key := h.upload(ws, f.name, f.ct, f.data)
			id := h.create(ws, agent, map[string]any{"type": "FILE", "title": f.name, "storageKey": key})
			d := h.ready(ws, agent, id, 1)
			var c string
			if err := h.DB.Get(&c, `SELECT content FROM knowledge_chunks WHERE doc_id = $1`, id); err != nil {
				t.Fatal(err)
			}
			if d.Type != TypeFile || !strings.Contains(c, f.want) || strings.Contains(c, "NAVWORD") {
				t.Fatalf("%s: type %s, chunk %q", f.name, d.Type, c)
			}
		}
	})

	t.Run("YOUTUBE transcript", func(t *testing.T) {
		id := h.create(ws, agent, map[string]any{"type": "YOUTUBE", "title": "Router video", "sourceUrl": "https://youtu.be/dQw4w9WgXcQ"})
		h.ready(ws, agent, id, 1)
		var c, u string
		if err := h.DB.QueryRow(`SELECT content, metadata->>'url' FROM knowledge_chunks WHERE doc_id = $1`, id).Scan(&c, &u); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(c, "wall socket & wait for the green light. Then open the app") || u != "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=0s" {
			t.Fatalf("chunk %q url %q", c, u)
		}
		bad := h.create(ws, agent, map[string]any{"type": "YOUTUBE", "title": "No captions", "sourceUrl": "https://www.youtube.com/watch?v=aaaaaaaaaaa"})
		if d := h.wait(ws, agent, bad); d.Status != StatusError || !strings.Contains(str(d.ErrorMsg), "No English transcript") {
			t.Fatalf("doc without transcript: %s %s", d.Status, str(d.ErrorMsg))
		}
	})

	t.Run("search returns the chunk that holds the answer first", func(t *testing.T) {
		a := h.agent(ws)
		docs := map[string]string{
			"Refunds":  refundText,
			"Shipping": "Shipping. Parcels leave our warehouse in Rotterdam every weekday and DHL delivers them within two business days.",
			"Password": "Account security. To change your password open Settings, then Security, and pick a new password of at least twelve characters.",
			"Hours":    "Opening hours. Our phone support is open from 8 am to 6 pm Central European Time, Monday to Friday.",
		}
		ids := map[string]string{}
		for title, text := range docs {
			ids[title] = h.create(ws, a, map[string]any{"type": "TEXT", "title": title, "content": text})
		}
		for _, id := range ids {
			h.ready(ws, a, id, 1)
		}
		res := h.Post("/v1/agents/"+a+"/knowledge/search", ws.Token, map[string]any{"query": "How many days until my refund is paid back?", "limit": 3})
		if res.Status != http.StatusOK {
			t.Fatalf("search: %d %s", res.Status, res.Body)
		}
		var out searchResponse
		res.JSON(t, &out)
		if len(out.Items) == 0 || out.Items[0].DocID != ids["Refunds"] || out.Items[0].Title != "Refunds" || out.Items[0].ChunkIdx != 0 {
			t.Fatalf("search: %s", res.Body)
		}
		if !strings.Contains(out.Items[0].Content, "5 business days") || out.Items[0].Similarity <= 0 {
			t.Fatalf("first hit: %+v", out.Items[0])
		}
		// The query's embedding is cached: asking again makes no embedding call.
		before := h.ai.EmbeddingCalls()
		again := h.Post("/v1/agents/"+a+"/knowledge/search", ws.Token, map[string]any{"query": "How many days until my refund is paid back?", "limit": 3})
		if again.Status != http.StatusOK || string(again.Body) != string(res.Body) || h.ai.EmbeddingCalls() != before {
			t.Fatalf("repeated search: %d calls, %s", h.ai.EmbeddingCalls()-before, again.Body)
		}
		h.Post("/v1/agents/"+a+"/knowledge/search", ws.Token, map[string]any{"query": ""}).ExpectError(t, 400, "VALIDATION_ERROR")
		h.Post("/v1/agents/"+a+"/knowledge/search", ws.Token, map[string]any{"query": "x", "limit": 21}).ExpectError(t, 400, "VALIDATION_ERROR")
		h.Post("/v1/agents/"+a+"/knowledge/search", ws.Token, map[string]any{"query": strings.Repeat("x", 2001)}).ExpectError(t, 400, "VALIDATION_ERROR")

		// Deactivated documents are not searched; the title can change.
		upd := h.Do(apitest.Req{
			Method: http.MethodPatch, Path: "/v1/agents/" + a + "/knowledge/" + ids["Refunds"], Token: ws.Token,
			Body: map[string]any{"isActive": false, "title": "Refunds (old)"},
		})
		if upd.Status != http.StatusOK || !strings.Contains(string(upd.Body), `"isActive":false`) || !strings.Contains(string(upd.Body), "Refunds (old)") {
			t.Fatalf("patch: %d %s", upd.Status, upd.Body)
		}
		res = h.Post("/v1/agents/"+a+"/knowledge/search", ws.Token, map[string]any{"query": "How many days until my refund is paid back?"})
		if strings.Contains(string(res.Body), ids["Refunds"]) {
			t.Fatalf("inactive document searched: %s", res.Body)
		}
	})

	t.Run("URL to a loopback address ends ERROR", func(t *testing.T) {
		for _, u := range []string{h.private.URL + "/", strings.Replace(h.private.URL, "127.0.0.1", "localhost", 1) + "/x"} {
			id := h.create(ws, agent, map[string]any{"type": "URL", "title": "Internal", "sourceUrl": u})
			d := h.wait(ws, agent, id)
			if d.Status != StatusError || !strings.Contains(str(d.ErrorMsg), "private, loopback") || d.ChunkCount != 0 {
				t.Fatalf("%s: status %s errorMsg %s", u, d.Status, str(d.ErrorMsg))
			}
		}
	})

	h.mux.HandleFunc("/go", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, h.private.URL+"/latest/meta-data", http.StatusFound)
	})
	h.mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})

	t.Run("URL that redirects to a private address ends ERROR", func(t *testing.T) {
		id := h.create(ws, agent, map[string]any{"type": "URL", "title": "Redirect", "sourceUrl": h.site.URL + "/go"})
		d := h.wait(ws, agent, id)
		if d.Status != StatusError || !strings.Contains(str(d.ErrorMsg), "Refused to fetch") {
			t.Fatalf("status %s errorMsg %s", d.Status, str(d.ErrorMsg))
		}
		id = h.create(ws, agent, map[string]any{"type": "URL", "title": "Loop", "sourceUrl": h.site.URL + "/loop"})
		if d := h.wait(ws, agent, id); d.Status != StatusError || !strings.Contains(str(d.ErrorMsg), "Too many redirects") {
			t.Fatalf("status %s errorMsg %s", d.Status, str(d.ErrorMsg))
		}
	})

	t.Run("injected 429s are retried", func(t *testing.T) {
		before := h.ai.EmbeddingCalls()
		h.ai.FailNext(2, http.StatusTooManyRequests, "0")
		id := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Rate limited", "content": "Our office is closed on public holidays in the Netherlands."})
		h.ready(ws, agent, id, 1)
		if calls := h.ai.EmbeddingCalls() - before; calls != 3 {
			t.Fatalf("embedding calls = %d, want 3 (two 429s, then success)", calls)
		}
	})

	t.Run("provider outage retries the job, then ends ERROR", func(t *testing.T) {
		before := h.ai.EmbeddingCalls()
		// Every attempt of the job makes 4 requests (the client retries 3 times).
		h.ai.FailNext(ingestAttempts*4, http.StatusInternalServerError, "")
		id := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Outage", "content": "The warehouse is closed between Christmas and New Year."})
		d := h.wait(ws, agent, id)
		if d.Status != StatusError || !strings.Contains(str(d.ErrorMsg), "unavailable (status 500)") {
			t.Fatalf("status %s errorMsg %s", d.Status, str(d.ErrorMsg))
		}
		if calls := h.ai.EmbeddingCalls() - before; calls != ingestAttempts*4 {
			t.Fatalf("embedding calls = %d, want %d", calls, ingestAttempts*4)
		}
		if n := h.chunkRows(id); n != 0 {
			t.Fatalf("%d chunks stored for a failed document", n)
		}
		// The provider is back: a reindex succeeds.
		if res := h.Post(base+"/"+id+"/reindex", ws.Token, nil); res.Status != http.StatusAccepted {
			t.Fatalf("reindex: %d %s", res.Status, res.Body)
		}
		h.ready(ws, agent, id, 1)
	})

	t.Run("reindex of unchanged content makes no embedding call", func(t *testing.T) {
		id := h.create(ws, agent, map[string]any{"type": "TEXT", "title": "Stable", "content": refundText})
		h.ready(ws, agent, id, 1)
		var chunkID string
		if err := h.DB.Get(&chunkID, `SELECT id FROM knowledge_chunks WHERE doc_id = $1`, id); err != nil {
			t.Fatal(err)
		}
		before := h.ai.EmbeddingCalls()
		res := h.Post(base+"/"+id+"/reindex", ws.Token, nil)
		if res.Status != http.StatusAccepted || !strings.Contains(string(res.Body), `"status":"PENDING"`) {
			t.Fatalf("reindex: %d %s", res.Status, res.Body)
		}
		h.ready(ws, agent, id, 1)
		var after string
		if err := h.DB.Get(&after, `SELECT id FROM knowledge_chunks WHERE doc_id = $1`, id); err != nil {
			t.Fatal(err)
		}
		if calls := h.ai.EmbeddingCalls() - before; calls != 0 || after != chunkID {
			t.Fatalf("reindex made %d embedding calls; chunk %s -> %s", calls, chunkID, after)
		}
	})

	t.Run("knowledge_ready is published", func(t *testing.T) {
		var n int
		if err := h.DB.Get(&n, `SELECT count(*) FROM realtime_events WHERE workspace_id = $1 AND type = 'knowledge_ready' AND payload->>'agentId' = $2 AND payload->>'status' = 'READY'`, ws.ID, agent); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("no knowledge_ready event")
		}
	})

	t.Run("list pages newest first", func(t *testing.T) {
		res := h.Get(base+"?limit=2", ws.Token)
		var page struct {
			Items      []docDTO `json:"items"`
			NextCursor *string  `json:"nextCursor"`
		}
		res.JSON(t, &page)
		if res.Status != http.StatusOK || len(page.Items) != 2 || page.NextCursor == nil || page.Items[0].CreatedAt.Before(page.Items[1].CreatedAt) {
			t.Fatalf("list: %d %s", res.Status, res.Body)
		}
		first := page.Items
		res = h.Get(base+"?limit=2&cursor="+*page.NextCursor, ws.Token)
		page.Items = nil // decode into a fresh slice, not over first
		res.JSON(t, &page)
		if len(page.Items) != 2 || page.Items[0].ID == first[0].ID || page.Items[0].ID == first[1].ID {
			t.Fatalf("second page: %s", res.Body)
		}
		h.Get(base+"?cursor=bm9wZQ", ws.Token).ExpectError(t, 400, "VALIDATION_ERROR")
	})

	t.Run("delete removes chunks and the stored file", func(t *testing.T) {
		key := h.upload(ws, "gone.txt", "text/plain", []byte("This file is about to be deleted together with its document."))
		id := h.create(ws, agent, map[string]any{"type": "FILE", "title": "gone", "storageKey": key})
		h.ready(ws, agent, id, 1)
		if res := h.Do(apitest.Req{Method: http.MethodDelete, Path: base + "/" + id, Token: ws.Token}); res.Status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", res.Status, res.Body)
		}
		if n := h.chunkRows(id); n != 0 {
			t.Fatalf("%d chunks left", n)
		}
		if _, _, err := h.local.Open(context.Background(), key); err == nil {
			t.Fatal("file still stored")
		}
		h.Get(base+"/"+id, ws.Token).ExpectError(t, 404, "NOT_FOUND")
	})

	t.Run("a second workspace sees none of it", func(t *testing.T) {
		other := h.NewWorkspace("STARTER", 0)
		otherAgent := h.agent(other)
		var docID string
		if err := h.DB.Get(&docID, `SELECT id FROM knowledge_docs WHERE agent_id = $1 LIMIT 1`, agent); err != nil {
			t.Fatal(err)
		}
		h.Get(base, other.Token).ExpectError(t, 404, "NOT_FOUND")
		h.Get(base+"/"+docID, other.Token).ExpectError(t, 404, "NOT_FOUND")
		h.Post(base+"/search", other.Token, map[string]any{"query": "refund"}).ExpectError(t, 404, "NOT_FOUND")
		h.Post(base+"/"+docID+"/reindex", other.Token, nil).ExpectError(t, 404, "NOT_FOUND")
		h.Do(apitest.Req{Method: http.MethodPatch, Path: base + "/" + docID, Token: other.Token, Body: map[string]any{"title": "x"}}).ExpectError(t, 404, "NOT_FOUND")
		h.Do(apitest.Req{Method: http.MethodDelete, Path: base + "/" + docID, Token: other.Token}).ExpectError(t, 404, "NOT_FOUND")
		// The document id under the other workspace's own agent is not found either.
		h.Get("/v1/agents/"+otherAgent+"/knowledge/"+docID, other.Token).ExpectError(t, 404, "NOT_FOUND")
		res := h.Post("/v1/agents/"+otherAgent+"/knowledge/search", other.Token, map[string]any{"query": "How many days until my refund is paid back?"})
		if res.Status != http.StatusOK || string(bytes.TrimSpace(res.Body)) != `{"items":[]}` {
			t.Fatalf("other workspace search: %d %s", res.Status, res.Body)
		}
		res = h.Get("/v1/agents/"+otherAgent+"/knowledge", other.Token)
		if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"items":[]`) {
			t.Fatalf("other workspace list: %s", res.Body)
		}
		// Its searches of its own retriever do not reach the first workspace's chunks.
		hits, err := h.mod.Retriever().Search(context.Background(), other.ID, agent, "refund", 5, -1)
		if err != nil || len(hits) != 0 {
			t.Fatalf("retriever across workspaces: %v %v", hits, err)
		}
		h.Get("/v1/agents/not-a-uuid/knowledge", ws.Token).ExpectError(t, 404, "NOT_FOUND")
	})

	t.Run("roles", func(t *testing.T) {
		member := h.AddMember(ws, authn.RoleMember)
		if res := h.Get(base, member.Token); res.Status != http.StatusOK {
			t.Fatalf("member list: %d", res.Status)
		}
		if res := h.Post(base+"/search", member.Token, map[string]any{"query": "refund"}); res.Status != http.StatusOK {
			t.Fatalf("member search: %d", res.Status)
		}
		h.Post(base, member.Token, map[string]any{"type": "TEXT", "title": "x", "content": "y"}).ExpectError(t, 403, "FORBIDDEN")
		h.Post("/v1/storage/presign", member.Token, map[string]any{"filename": "a.pdf", "contentType": "application/pdf", "size": 10}).ExpectError(t, 403, "FORBIDDEN")
		h.Get(base, "").ExpectError(t, 401, "MISSING_TOKEN")
	})
}

// TestLargeLocalUpload uploads a file above the global 2 MB body limit through the
// local store's route, which allows 25 MB.
func TestLargeLocalUpload(t *testing.T) {
	h := newHarness(t)
	ws := h.NewWorkspace("STARTER", 0)
	data := append([]byte("Large upload. "), bytes.Repeat([]byte("lorem ipsum dolor sit amet "), 120_000)...) // ~3.2 MB
	key := h.upload(ws, "large.txt", "text/plain", data)
	rc, obj, err := h.local.Open(context.Background(), key)
	if err != nil || obj.Size != int64(len(data)) {
		t.Fatalf("stored %+v, %v", obj, err)
	}
	rc.Close()
}

// TestCreateRejectsBadInput checks that bad requests get a 4xx in the contract shape and
// store nothing.
func TestCreateRejectsBadInput(t *testing.T) {
	h := newHarness(t)
	ws := h.NewWorkspace("STARTER", 0)
	other := h.NewWorkspace("STARTER", 0)
	agent := h.agent(ws)
	base := "/v1/agents/" + agent + "/knowledge"
	docs := func() int {
		var n int
		if err := h.DB.Get(&n, `SELECT count(*) FROM knowledge_docs WHERE workspace_id = $1`, ws.ID); err != nil {
			t.Fatal(err)
		}
		return n
	}

	cases := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"unknown type", map[string]any{"type": "VIDEO", "title": "x"}, 400, "VALIDATION_ERROR", "type"},
		{"empty title", map[string]any{"type": "TEXT", "title": " ", "content": "hello"}, 400, "VALIDATION_ERROR", "title"},
		{"long title", map[string]any{"type": "TEXT", "title": strings.Repeat("t", 201), "content": "hello"}, 400, "VALIDATION_ERROR", "title"},
		{"missing content", map[string]any{"type": "TEXT", "title": "x"}, 400, "VALIDATION_ERROR", "content"},
		{"content over 1 MB", map[string]any{"type": "TEXT", "title": "x", "content": strings.Repeat("a", 1<<20+1)}, 400, "VALIDATION_ERROR", "content"},
		{"field of another type", map[string]any{"type": "TEXT", "title": "x", "content": "y", "sourceUrl": "https://a.example"}, 400, "VALIDATION_ERROR", "sourceUrl"},
		{"QA without pairs", map[string]any{"type": "QA", "title": "x", "content": "just text"}, 400, "VALIDATION_ERROR", "content"},
		{"ftp URL", map[string]any{"type": "URL", "title": "x", "sourceUrl": "ftp://example.com/a"}, 400, "VALIDATION_ERROR", "sourceUrl"},
		{"relative URL", map[string]any{"type": "SITEMAP", "title": "x", "sourceUrl": "/sitemap.xml"}, 400, "VALIDATION_ERROR", "sourceUrl"},
		{"URL with credentials", map[string]any{"type": "URL", "title": "x", "sourceUrl": "https://u:p@example.com/"}, 400, "VALIDATION_ERROR", "sourceUrl"},
		{"not a YouTube URL", map[string]any{"type": "YOUTUBE", "title": "x", "sourceUrl": "https://vimeo.com/123"}, 400, "VALIDATION_ERROR", "sourceUrl"},
		{"malformed storage key", map[string]any{"type": "PDF", "title": "x", "storageKey": "../etc/passwd"}, 400, "VALIDATION_ERROR", "storageKey"},
		{"storage key of another workspace", map[string]any{"type": "PDF", "title": "x", "storageKey": "uploads/" + other.ID + "/0190f000-0000-7000-8000-000000000000.pdf"}, 400, "VALIDATION_ERROR", "storageKey"},
		{"storage key without an upload", map[string]any{"type": "PDF", "title": "x", "storageKey": "uploads/" + ws.ID + "/0190f000-0000-7000-8000-000000000000.pdf"}, 400, "VALIDATION_ERROR", "storageKey"},
		{"wrong JSON type", map[string]any{"type": "TEXT", "title": 5}, 400, "VALIDATION_ERROR", "title"},
		{"not JSON", "type=TEXT", 400, "VALIDATION_ERROR", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := h.Post(base, ws.Token, c.body).ExpectError(t, c.status, c.code)
			if c.field != "" {
				if d, _ := m["details"].(map[string]any); d[c.field] == nil {
					t.Fatalf("details %v lack %s", m["details"], c.field)
				}
			}
		})
	}
	h.Post("/v1/agents/0190f000-0000-7000-8000-000000000000/knowledge", ws.Token,
		map[string]any{"type": "TEXT", "title": "x", "content": "y"}).ExpectError(t, 404, "NOT_FOUND")

	t.Run("uploads", func(t *testing.T) {
		presign := func(body map[string]any) *apitest.Response { return h.Post("/v1/storage/presign", ws.Token, body) }
		presign(map[string]any{"filename": "big.pdf", "contentType": "application/pdf", "size": storage.MaxUploadBytes + 1}).ExpectError(t, 413, "PAYLOAD_TOO_LARGE")
		presign(map[string]any{"filename": "run.exe", "contentType": "application/octet-stream", "size": 10}).ExpectError(t, 415, "UNSUPPORTED_MEDIA_TYPE")
		presign(map[string]any{"filename": "a.pdf", "contentType": "text/plain", "size": 10}).ExpectError(t, 415, "UNSUPPORTED_MEDIA_TYPE")
		presign(map[string]any{"filename": "", "contentType": "application/pdf", "size": 10}).ExpectError(t, 400, "VALIDATION_ERROR")
		presign(map[string]any{"filename": "a.pdf", "contentType": "application/pdf", "size": 0}).ExpectError(t, 400, "VALIDATION_ERROR")
		presign(map[string]any{"filename": "../a.pdf", "contentType": "application/pdf", "size": 10}).ExpectError(t, 400, "VALIDATION_ERROR")

		res := presign(map[string]any{"filename": "ok.pdf", "contentType": "application/pdf", "size": 12})
		var p presignResponse
		res.JSON(t, &p)
		if res.Status != 200 || !strings.HasPrefix(p.StorageKey, "uploads/"+ws.ID+"/") || !strings.HasSuffix(p.StorageKey, ".pdf") ||
			p.ExpiresAt.Before(time.Now().Add(14*time.Minute)) || !strings.HasPrefix(p.UploadURL, localBase+storage.LocalRoutePrefix+p.StorageKey+"?") {
			t.Fatalf("presign: %s", res.Body)
		}
		body := []byte("%PDF-1.4 abc") // the 12 bytes the URL was signed for
		// Another size, another type or a tampered signature: 401.
		h.put(p.UploadURL, "application/pdf", body[:10]).ExpectError(t, 401, "INVALID_SIGNATURE")
		h.put(p.UploadURL, "text/plain", body).ExpectError(t, 401, "INVALID_SIGNATURE")
		h.put(strings.Replace(p.UploadURL, "sig=", "sig=00", 1), "application/pdf", body).ExpectError(t, 401, "INVALID_SIGNATURE")
		// Expired: 403.
		h.mod.svc.now = func() time.Time { return time.Now().Add(time.Hour) }
		h.put(p.UploadURL, "application/pdf", body).ExpectError(t, 403, "FORBIDDEN")
		h.mod.svc.now = time.Now
		if _, _, err := h.local.Open(context.Background(), p.StorageKey); err == nil {
			t.Fatal("rejected uploads stored a file")
		}

		// Over 25 MB at the upload route: 413 before anything is read.
		big := make([]byte, storage.MaxUploadBytes+1)
		h.put(p.UploadURL, "application/pdf", big).ExpectError(t, 413, "PAYLOAD_TOO_LARGE")

		// A corrupt PDF is refused at create time and removed.
		key := h.upload(ws, "broken.pdf", "application/pdf", []byte("this is not a PDF at all"))
		h.Post(base, ws.Token, map[string]any{"type": "PDF", "title": "broken", "storageKey": key}).ExpectError(t, 415, "UNSUPPORTED_MEDIA_TYPE")
		if _, _, err := h.local.Open(context.Background(), key); err == nil {
			t.Fatal("corrupt PDF kept in storage")
		}
		// The API reads only the first bytes: a file with a PDF header but a broken body
		// is accepted and fails in the worker's extraction child.
		h.StartWorker()
		key = h.upload(ws, "broken-body.pdf", "application/pdf", []byte("%PDF-1.4\nno objects, no cross-reference table\n"))
		brokenID := h.create(ws, agent, map[string]any{"type": "PDF", "title": "broken body", "storageKey": key})
		if d := h.wait(ws, agent, brokenID); d.Status != StatusError || !strings.Contains(str(d.ErrorMsg), "Could not read PDF") {
			t.Fatalf("broken PDF body: %s %q", d.Status, str(d.ErrorMsg))
		}
		key = h.upload(ws, "fake.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", []byte("plain text, not a zip"))
		h.Post(base, ws.Token, map[string]any{"type": "FILE", "title": "fake", "storageKey": key}).ExpectError(t, 415, "UNSUPPORTED_MEDIA_TYPE")

		// Another workspace's real upload.
		foreign := h.upload(other, "theirs.pdf", "application/pdf", makePDF("Their private text"))
		h.Post(base, ws.Token, map[string]any{"type": "PDF", "title": "theirs", "storageKey": foreign}).ExpectError(t, 400, "VALIDATION_ERROR")
		if _, _, err := h.local.Open(context.Background(), foreign); err != nil {
			t.Fatalf("the other workspace's file was touched: %v", err)
		}

		// One document per upload.
		key = h.upload(ws, "once.txt", "text/plain", []byte("Used by exactly one document."))
		h.create(ws, agent, map[string]any{"type": "FILE", "title": "once", "storageKey": key})
		h.Post(base, ws.Token, map[string]any{"type": "FILE", "title": "twice", "storageKey": key}).ExpectError(t, 409, "CONFLICT")
	})

	if n := docs(); n != 2 {
		t.Fatalf("%d documents stored, want only the PDF with a broken body and the one valid upload", n)
	}
}
