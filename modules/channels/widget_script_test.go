package channels

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/axonhq/axon/platform/testkit/apitest"
)

// The embedded script stays small and keeps its safety rules: no HTML sinks, no eval.
func TestWidgetScriptSizeAndRules(t *testing.T) {
	t.Parallel()
	if len(widgetJSGzip()) >= 30*1024 {
		t.Fatalf("widget.js is %d bytes gzipped, the budget is 30 KB", len(widgetJSGzip()))
	}
	zr, err := gzip.NewReader(bytes.NewReader(widgetJSGzip()))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, widgetJS) {
		t.Fatal("the gzipped script is not the script")
	}
	t.Logf("widget.js: %d bytes, %d gzipped", len(widgetJS), len(widgetJSGzip()))
	for _, sink := range []*regexp.Regexp{
		regexp.MustCompile(`\.innerHTML\b`), regexp.MustCompile(`\.outerHTML\b`), regexp.MustCompile(`insertAdjacentHTML`),
		regexp.MustCompile(`document\.write`), regexp.MustCompile(`\beval\s*\(`), regexp.MustCompile(`\bnew\s+Function\b`),
		regexp.MustCompile(`setTimeout\(\s*['"]`), regexp.MustCompile(`setAttribute\(\s*['"](style|on)`),
		regexp.MustCompile(`postMessage`), regexp.MustCompile(`session_token`),
	} {
		// The header comment names the rules; only code counts.
		code := string(widgetJS[bytes.Index(widgetJS, []byte("(function ()")):])
		if sink.MatchString(code) {
			t.Errorf("widget.js uses %s", sink)
		}
	}
}

func TestWidgetScriptServing(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{})

	get := func(path string, h map[string]string) *apitest.Response {
		return se.Do(apitest.Req{Method: http.MethodGet, Path: path, Header: h})
	}
	res := get("/widget.js", nil)
	if res.Status != 200 || !bytes.Equal(res.Body, widgetJS) {
		t.Fatalf("/widget.js: %d, %d bytes", res.Status, len(res.Body))
	}
	h := res.Header
	if h.Get("Content-Type") != "text/javascript; charset=utf-8" || h.Get("Cross-Origin-Resource-Policy") != "cross-origin" ||
		h.Get("Cache-Control") != "public, max-age=300, must-revalidate" || h.Get("ETag") == "" {
		t.Fatalf("/widget.js headers %v", h)
	}
	if res := get("/widget.js", map[string]string{"If-None-Match": h.Get("ETag")}); res.Status != http.StatusNotModified {
		t.Fatalf("revalidation: %d", res.Status)
	}
	// Gzip when accepted (the test client asks for it explicitly, so it does not decode).
	req, _ := http.NewRequest(http.MethodGet, se.Server.URL+"/widget.js", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	raw, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(raw.Body)
	raw.Body.Close()
	if raw.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(body, widgetJSGzip()) || !strings.Contains(strings.Join(raw.Header.Values("Vary"), ","), "Accept-Encoding") {
		t.Fatalf("gzip: %v, %d bytes", raw.Header, len(body))
	}

	v := get(WidgetJSPath(), nil)
	if v.Status != 200 || !bytes.Equal(v.Body, widgetJS) || v.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("%s: %d %v", WidgetJSPath(), v.Status, v.Header)
	}
	get("/widget/0123456789ab.js", nil).ExpectError(t, http.StatusNotFound, "NOT_FOUND")

	// The demo page: 404 unless enabled; then the snippet under a strict CSP.
	w := se.NewWorkspace("STARTER", 10)
	agent := se.newAgent(t, w, nil)
	get("/widget/demo/"+agent, nil).ExpectError(t, http.StatusNotFound, "NOT_FOUND")
	se.mod.surf.WidgetDemo = true
	get("/widget/demo/not-a-uuid", nil).ExpectError(t, http.StatusNotFound, "NOT_FOUND")
	d := get("/widget/demo/"+agent, nil)
	if d.Status != 200 || !strings.HasPrefix(d.Header.Get("Content-Type"), "text/html") ||
		d.Header.Get("Content-Security-Policy") != widgetDemoCSP ||
		!strings.Contains(string(d.Body), `<script src="`+se.Server.URL+`/widget.js" data-agent-id="`+agent+`" async></script>`) {
		t.Fatalf("demo: %d %v\n%s", d.Status, d.Header, d.Body)
	}
	if strings.Contains(string(d.Body), "style=") || strings.Count(string(d.Body), "<script") != 1 {
		t.Fatalf("demo page has inline style or script:\n%s", d.Body)
	}
}

// A missing agent's 404 carries the CORS headers, so the widget can tell it from a
// network failure (and logs one warning instead of retrying).
func TestWidgetUnknownAgentIsReadable404(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{})
	res := se.Do(apitest.Req{Method: http.MethodGet, Path: "/v1/widget/0190b0a0-0000-7000-8000-0000000000ff/config", Header: map[string]string{"Origin": shopOrigin}})
	res.ExpectError(t, http.StatusNotFound, "NOT_FOUND")
	if res.Header.Get("Access-Control-Allow-Origin") != shopOrigin {
		t.Fatalf("ACAO %q", res.Header.Get("Access-Control-Allow-Origin"))
	}
}
