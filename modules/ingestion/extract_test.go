package ingestion

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestChunkBlocksWindows(t *testing.T) {
	t.Parallel()
	text := words("w", 999) // 1000 words
	cases := []struct {
		size, overlap int
		wantStarts    []string // first word of each chunk
	}{
		{512, 64, []string{"w", "filler447", "filler895"}},
		{400, 50, []string{"w", "filler349", "filler699"}},
		{300, 40, []string{"w", "filler259", "filler519", "filler779"}},
	}
	for _, c := range cases {
		chunks := chunkBlocks([]block{{Text: text}}, c.size, c.overlap)
		var starts []string
		for _, ch := range chunks {
			starts = append(starts, strings.Fields(ch.Text)[0])
		}
		if fmt.Sprint(starts) != fmt.Sprint(c.wantStarts) {
			t.Errorf("%d/%d: chunk starts %v, want %v", c.size, c.overlap, starts, c.wantStarts)
		}
		last := strings.Fields(chunks[len(chunks)-1].Text)
		if last[len(last)-1] != "filler998" {
			t.Errorf("%d/%d: the last chunk ends with %s", c.size, c.overlap, last[len(last)-1])
		}
		if n := len(strings.Fields(chunks[0].Text)); n != c.size {
			t.Errorf("%d/%d: first chunk has %d words", c.size, c.overlap, n)
		}
	}
}

func TestChunkBlocksMetadataGroupsAndTinyChunks(t *testing.T) {
	t.Parallel()
	blocks := []block{
		{Text: "Intro words here for the first page.", Page: 1, Heading: "Intro"},
		{Text: "Second page text\nwith a line break.", Page: 2, Heading: "Body"},
		{Text: "short", Group: 1, URL: "https://a.example/2"}, // its own group, ≤ 20 chars: dropped
		{Text: "A separate page of the sitemap with enough words.", Group: 2, URL: "https://a.example/3"},
	}
	chunks := chunkBlocks(blocks, 512, 64)
	if len(chunks) != 2 {
		t.Fatalf("chunks = %+v", chunks)
	}
	if chunks[0].Text != "Intro words here for the first page.\nSecond page text\nwith a line break." || chunks[0].Page != 1 || chunks[0].Heading != "Intro" {
		t.Errorf("chunk 0 = %+v", chunks[0])
	}
	if chunks[1].URL != "https://a.example/3" || strings.Contains(chunks[1].Text, "short") {
		t.Errorf("chunk 1 = %+v", chunks[1])
	}
	inline := chunkBlocks([]block{{Text: "one two", Inline: true}, {Text: "three four five six seven", Inline: true}}, 300, 40)
	if len(inline) != 1 || inline[0].Text != "one two three four five six seven" {
		t.Errorf("inline = %+v", inline)
	}
	meta, _ := chunks[0].metadataJSON()
	if meta != `{"heading":"Intro","page":1}` {
		t.Errorf("metadata = %s", meta)
	}
}

func TestParseQA(t *testing.T) {
	t.Parallel()
	in := "Welcome text before the first question is ignored.\n" +
		"Q: What is Axon?\nA: A support agent.\n" +
		"question: Multi-line\nquestion here?\nANSWER: First line.\nSecond line.\n" +
		"Q: Unanswered?\n" +
		"Q: Last?\nA: Yes."
	got := parseQA(in)
	want := []qaPair{
		{"What is Axon?", "A support agent."},
		{"Multi-line question here?", "First line.\nSecond line."},
		{"Last?", "Yes."},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pairs = %q\nwant    %q", got, want)
	}
	if len(parseQA("no pairs at all")) != 0 {
		t.Fatal("pairs found in plain text")
	}
	chunks := blockChunks([]block{{Text: "Q: Hi?\nA: Yo."}, {Text: "Q: What are your opening hours?\nA: Nine to five."}})
	if len(chunks) != 1 || !strings.HasPrefix(chunks[0].Text, "Q: What are") {
		t.Fatalf("QA chunks = %+v", chunks)
	}
}

func TestTextAndCSVBlocks(t *testing.T) {
	t.Parallel()
	md := "# Setup\r\n\r\nPlug it in.\nWait.\n\n## Reset ##\nHold the button.\x00"
	got := textBlocks(md, true)
	want := []block{
		{Text: "Setup", Heading: "Setup"},
		{Text: "Plug it in.\nWait.", Heading: "Setup"},
		{Text: "Reset", Heading: "Reset"},
		{Text: "Hold the button.", Heading: "Reset"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("markdown blocks = %+v", got)
	}
	if b := textBlocks("# not a heading in plain text", false); b[0].Heading != "" {
		t.Fatalf("plain text heading: %+v", b)
	}
	rows, err := csvBlocks([]byte("\xEF\xBB\xBFname,\"city, country\",\nAda,\"London, UK\",x\nBob,,\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Text != "name: Ada\ncity, country: London, UK\ncolumn 3: x" || rows[1].Text != "name: Bob" {
		t.Fatalf("csv blocks = %+v", rows)
	}
}

func TestHTMLBlocks(t *testing.T) {
	t.Parallel()
	page := `<html><head><title>Acme | Returns</title><script>x()</script></head><body>
<nav>Products Pricing</nav><div role="banner">Banner text</div>
<div class="layout"><aside>Related links</aside>
<article><p>Short teaser.</p></article>
<article><h2>Returns</h2><p>Items can be returned within <b>60</b> days.</p><p hidden>Hidden text</p>
<p style="display: none">Invisible</p><ul><li>Keep the receipt</li><li>Use the original box</li></ul>
<h3>Exceptions</h3><p>Sale items are final.</p><div aria-hidden="true">Decoration</div></article>
</div><footer>Copyright</footer></body></html>`
	blocks, title := htmlBlocks([]byte(page), "https://acme.example/returns")
	if title != "Acme | Returns" {
		t.Errorf("title = %q", title)
	}
	var got []string
	for _, b := range blocks {
		got = append(got, b.Heading+": "+b.Text)
		if b.URL != "https://acme.example/returns" {
			t.Errorf("block url = %q", b.URL)
		}
	}
	want := []string{
		"Returns: Returns",
		"Returns: Items can be returned within 60 days.",
		"Returns: Keep the receipt",
		"Returns: Use the original box",
		"Exceptions: Exceptions",
		"Exceptions: Sale items are final.",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("blocks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Without main or article, the body is read; text before any heading gets the title.
	blocks, _ = htmlBlocks([]byte(`<title>T</title><body><p>Body text</p><footer>F</footer></body>`), "")
	if len(blocks) != 1 || blocks[0].Text != "Body text" || blocks[0].Heading != "T" {
		t.Fatalf("body blocks = %+v", blocks)
	}
}

func TestIsPublicAddr(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr   string
		public bool
	}{
		{"93.184.216.34", true},
		{"8.8.8.8", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false},
		{"2002:a00:1::", false},
		{"192.0.2.10", false},
		{"0.1.2.3", false},
		{"172.32.0.1", true},
		{"100.128.0.1", true},
	} {
		if got := isPublicAddr(netip.MustParseAddr(c.addr)); got != c.public {
			t.Errorf("isPublicAddr(%s) = %v, want %v", c.addr, got, c.public)
		}
	}
}

func TestFetcher(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	private := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "secret") }))
	defer private.Close()
	mux := http.NewServeMux()
	site := httptest.NewServer(mux)
	defer site.Close()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "<p>hello</p>") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("a", fetchMaxBytes+10)))
	})
	mux.HandleFunc("/private", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, private.URL, http.StatusMovedPermanently)
	})
	hops := 0
	mux.HandleFunc("/hop/", func(w http.ResponseWriter, r *http.Request) {
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/hop/%d", &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		hops++
		if n == 0 {
			fmt.Fprint(w, "arrived")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/500", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	mux.HandleFunc("/404", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) })

	f := newFetcher(false, []string{strings.TrimPrefix(site.URL, "http://")})
	p, err := f.get(ctx, site.URL+"/ok", "*/*")
	if err != nil || string(p.Body) != "<p>hello</p>" || p.ContentType != "text/html" {
		t.Fatalf("ok: %+v %v", p, err)
	}
	expect := func(path, msg string, permanent bool) {
		t.Helper()
		_, err := f.get(ctx, path, "*/*")
		m, perm := classify(err)
		if err == nil || !strings.Contains(m, msg) || perm != permanent {
			t.Errorf("%s: err %v (message %q, permanent %v), want %q permanent %v", path, err, m, perm, msg, permanent)
		}
	}
	expect(private.URL, "private, loopback", true)
	expect(site.URL+"/private", "Refused to fetch", true)
	expect(site.URL+"/big", "larger than 5 MB", true)
	expect(site.URL+"/500", "503", false)
	expect(site.URL+"/404", "404", true)
	expect("file:///etc/passwd", "not an http(s) URL", true)
	expect(site.URL+"/hop/6", "Too many redirects", true)
	hops = 0
	if p, err := f.get(ctx, site.URL+"/hop/5", "*/*"); err != nil || string(p.Body) != "arrived" || hops != 6 {
		t.Errorf("5 redirects: %v, %d hops", err, hops)
	}
	// INGEST_ALLOW_PRIVATE lifts the policy.
	if _, err := newFetcher(true, nil).get(ctx, private.URL, "*/*"); err != nil {
		t.Errorf("allow private: %v", err)
	}
	// A cancelled context is not a document error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.get(cctx, site.URL+"/ok", "*/*"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestYouTube(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=10":   "dQw4w9WgXcQ",
		"https://youtu.be/dQw4w9WgXcQ?si=x":                  "dQw4w9WgXcQ",
		"https://m.youtube.com/shorts/dQw4w9WgXcQ":           "dQw4w9WgXcQ",
		"https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ": "dQw4w9WgXcQ",
		"https://www.youtube.com/watch?v=short":              "",
		"https://vimeo.com/dQw4w9WgXcQ":                      "",
		"ftp://youtu.be/dQw4w9WgXcQ":                         "",
	} {
		got, ok := youTubeVideoID(raw)
		if got != want || ok != (want != "") {
			t.Errorf("youTubeVideoID(%q) = %q, %v", raw, got, ok)
		}
	}
	caps, err := parseTimedText([]byte(`<timedtext format="3"><body><p t="1500" d="2000">Hello <s>there</s></p><p t="61000" d="1">It&amp;#39;s me</p></body></timedtext>`))
	if err != nil || len(caps) != 2 || caps[0].text != "Hello there" || caps[1].text != "It's me" || caps[1].start != 61*time.Second {
		t.Fatalf("srv3 = %+v %v", caps, err)
	}
	srv := httptest.NewServer(http.HandlerFunc(serveTimedText))
	defer srv.Close()
	blocks, err := newTranscriptClient(srv.URL).fetch(context.Background(), "dQw4w9WgXcQ")
	if err != nil || len(blocks) != 4 || !blocks[0].Inline || blocks[3].URL != "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=12s" {
		t.Fatalf("transcript = %+v %v", blocks, err)
	}
	if _, err := newTranscriptClient(srv.URL).fetch(context.Background(), "aaaaaaaaaaa"); err == nil {
		t.Fatal("missing transcript accepted")
	} else if m, perm := classify(err); !perm || !strings.Contains(m, "No English transcript") {
		t.Fatalf("missing transcript: %q %v", m, perm)
	}
}

func TestFileExtractors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	blocks, note, err := pdfBlocks(ctx, makePDF("First page about invoices and billing cycles.", "Second page about refunds."))
	if err != nil || note != "" || len(blocks) != 2 || blocks[1].Page != 2 || !strings.Contains(blocks[1].Text, "refunds") {
		t.Fatalf("pdf = %+v %q %v", blocks, note, err)
	}
	for name, data := range map[string][]byte{
		"not a pdf": []byte("hello"),
		"garbage":   append([]byte("%PDF-1.7\n"), []byte(strings.Repeat("\x00\xff obj << >> ", 50))...),
	} {
		_, _, err := pdfBlocks(ctx, data)
		if m, perm := classify(err); err == nil || !perm || !strings.Contains(m, "Could not read PDF") {
			t.Errorf("%s: %v (%q, permanent %v)", name, err, m, perm)
		}
	}
	docx, err := docxBlocks(makeDOCX("Install &amp; setup", "Step one.", "Step two."))
	if err != nil || len(docx) != 3 || docx[2].Heading != "Install & setup" || docx[1].Text != "Step one." {
		t.Fatalf("docx = %+v %v", docx, err)
	}
	if _, err := docxBlocks([]byte("PK\x03\x04 not really")); err == nil {
		t.Fatal("broken docx accepted")
	}
}
