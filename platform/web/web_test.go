package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/pgtest"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
	"github.com/axonhq/axon/platform/web"
)

// lines returns the JSON log lines.
func logLines(t *testing.T, l *syncbuf.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ln := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if ln == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(ln), &m); err != nil {
			t.Fatalf("log line %q: %v", ln, err)
		}
		out = append(out, m)
	}
	return out
}

type payload struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
	Inner struct {
		On bool `json:"on"`
	} `json:"inner"`
}

type testServer struct {
	*httptest.Server
	logs *syncbuf.Buffer
}

func newServer(t *testing.T, o web.Options) *testServer {
	t.Helper()
	logs := &syncbuf.Buffer{}
	o.Logger = observe.NewLogger(logs, observe.LogOptions{Level: slog.LevelDebug, Format: "json"})
	e := web.New(o)
	e.GET("/health", web.Health("v-test", time.Now(), web.Check{Name: "db", Fn: func(context.Context) error { return nil }}))
	e.GET("/v1/ok", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"ok": "yes"}) })
	e.POST("/v1/echo", func(c echo.Context) error {
		var p payload
		if err := web.Bind(c, &p); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, p)
	})
	e.GET("/v1/fail", func(c echo.Context) error {
		return errors.New("db password=hunter2 exploded at 10.0.0.7")
	})
	e.GET("/v1/panic", func(c echo.Context) error { panic("handler bug: secret-detail") })
	e.GET("/v1/validation", func(c echo.Context) error {
		p := web.Problems{}
		p.Check(false, "name", "is required")
		p.Check(false, "name", "second problem is ignored")
		p.Check(true, "email", "fine")
		return p.Err()
	})
	e.GET("/v1/items/:id", func(c echo.Context) error {
		id, err := web.PathUUID(c, "id", "Item")
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, id)
	})
	e.GET("/v1/page", func(c echo.Context) error {
		r, err := web.ParsePage(c)
		if err != nil {
			return err
		}
		// Two rows past the cursor's key and a limit of one: the page has a next cursor.
		next := page.Key{Time: r.After.Time.Add(time.Second), ID: r.After.ID}
		rows := []page.Key{next, next}
		return c.JSON(http.StatusOK, page.Cut(page.Request{Limit: 1}, rows, func(k page.Key) page.Key { return k }, func(page.Key) string { return "x" }))
	})
	s := httptest.NewServer(e)
	t.Cleanup(s.Close)
	return &testServer{Server: s, logs: logs}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) errorBody(t *testing.T) web.ErrorBody {
	t.Helper()
	var b web.ErrorBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return b
}

func (r resp) expectError(t *testing.T, status int, code string) web.ErrorBody {
	t.Helper()
	testkit.ExpectError(t, r.status, r.header, r.body, status, code)
	return r.errorBody(t)
}

func do(t *testing.T, method, url string, body io.Reader, header map[string]string) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

var jsonCT = map[string]string{"Content-Type": "application/json"}

func TestErrorShape(t *testing.T) {
	s := newServer(t, web.Options{})

	b := do(t, "GET", s.URL+"/v1/nope", nil, nil).expectError(t, 404, "NOT_FOUND")
	if b.Details != nil {
		t.Errorf("details on 404: %v", b.Details)
	}
	do(t, "DELETE", s.URL+"/v1/ok", nil, nil).expectError(t, 405, "METHOD_NOT_ALLOWED")

	r := do(t, "GET", s.URL+"/v1/fail", nil, nil)
	b = r.expectError(t, 500, "INTERNAL_ERROR")
	if b.Message != "An unexpected error occurred" || b.Details != nil {
		t.Errorf("500 body %+v", b)
	}
	if bytes.Contains(r.body, []byte("hunter2")) || bytes.Contains(r.body, []byte("exploded")) {
		t.Errorf("the cause reached the client: %s", r.body)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, "exploded at 10.0.0.7") {
		t.Errorf("the cause was not logged: %s", logs)
	}
	if strings.Contains(logs, "hunter2") {
		t.Errorf("a password inside an error reached the log: %s", logs)
	}

	b = do(t, "GET", s.URL+"/v1/validation", nil, nil).expectError(t, 400, "VALIDATION_ERROR")
	if len(b.Details) != 1 || b.Details["name"] != "is required" {
		t.Errorf("details %v", b.Details)
	}
	do(t, "GET", s.URL+"/v1/items/not-a-uuid", nil, nil).expectError(t, 404, "NOT_FOUND")
	if r := do(t, "GET", s.URL+"/v1/items/0190F5C2-7A8B-7C3D-8E9F-0A1B2C3D4E5F", nil, nil); r.status != 200 || string(r.body) != "0190f5c2-7a8b-7c3d-8e9f-0a1b2c3d4e5f" {
		t.Errorf("PathUUID = %d %s", r.status, r.body)
	}
	do(t, "GET", s.URL+"/v1/page?limit=0", nil, nil).expectError(t, 400, "VALIDATION_ERROR")
	do(t, "GET", s.URL+"/v1/page?limit=101", nil, nil).expectError(t, 400, "VALIDATION_ERROR")
	do(t, "GET", s.URL+"/v1/page?cursor=%25%25", nil, nil).expectError(t, 400, "VALIDATION_ERROR")
	// A well-formed base64 cursor this API did not issue is a 400 on the cursor field.
	if b := do(t, "GET", s.URL+"/v1/page?cursor=azE", nil, nil).expectError(t, 400, "VALIDATION_ERROR"); !strings.Contains(fmt.Sprint(b.Details), "cursor") {
		t.Errorf("details %v, want the cursor field", b.Details)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	id := "0190f5c2-7a8b-7c3d-8e9f-0a1b2c3d4e5f"
	cur := page.Encode(page.Key{Time: at, ID: id})
	if r := do(t, "GET", s.URL+"/v1/page?cursor="+cur, nil, nil); r.status != 200 ||
		!strings.Contains(string(r.body), `"items":["x"]`) ||
		!strings.Contains(string(r.body), page.Encode(page.Key{Time: at.Add(time.Second), ID: id})) {
		t.Errorf("page = %d %s", r.status, r.body)
	}
}

func TestPanicIsRecovered(t *testing.T) {
	s := newServer(t, web.Options{})
	r := do(t, "GET", s.URL+"/v1/panic", nil, nil)
	b := r.expectError(t, 500, "INTERNAL_ERROR")
	if b.Message != apperr.InternalMessage || bytes.Contains(r.body, []byte("secret-detail")) {
		t.Errorf("panic body %s", r.body)
	}
	if r.header.Get("X-Request-Id") == "" {
		t.Error("no request id on a recovered panic")
	}
	if r := do(t, "GET", s.URL+"/v1/ok", nil, nil); r.status != 200 {
		t.Fatalf("server stopped serving after a panic: %d", r.status)
	}
	if !strings.Contains(s.logs.String(), "panic recovered") {
		t.Errorf("panic not logged: %s", s.logs.String())
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	s := newServer(t, web.Options{})
	// "2M" is 2 MB = 2,000,000 bytes.
	big := `{"name":"` + strings.Repeat("x", 2_000_000) + `"}`
	do(t, "POST", s.URL+"/v1/echo", strings.NewReader(big), jsonCT).expectError(t, 413, "PAYLOAD_TOO_LARGE")
	// Without a Content-Length (chunked), the limit applies while reading: both for a value
	// that ends just past the limit and for one far past it.
	for _, b := range []string{big, `{"name":"` + strings.Repeat("x", 3_000_000) + `"}`} {
		req, _ := http.NewRequest("POST", s.URL+"/v1/echo", io.MultiReader(strings.NewReader(b)))
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		resp{status: res.StatusCode, header: res.Header, body: body}.expectError(t, 413, "PAYLOAD_TOO_LARGE")
	}
	// Just under the limit is fine.
	ok := `{"name":"` + strings.Repeat("x", 2_000_000-100) + `"}`
	if r := do(t, "POST", s.URL+"/v1/echo", strings.NewReader(ok), jsonCT); r.status != 200 {
		t.Fatalf("body under the limit: %d %s", r.status, r.body[:min(200, len(r.body))])
	}
}

func TestBind(t *testing.T) {
	s := newServer(t, web.Options{})
	cases := []struct {
		name, ct, body string
		status         int
		code, field    string
	}{
		{"valid", "application/json", `{"name":"a","count":2,"tags":["x"],"inner":{"on":true}}`, 200, "", ""},
		{"charset", "application/json; charset=utf-8", `{"name":"a"}`, 200, "", ""},
		{"vendor json", "application/merge-patch+json", `{"name":"a"}`, 200, "", ""},
		{"empty body", "application/json", ``, 200, "", ""},
		{"malformed", "application/json", `{"name":`, 400, "VALIDATION_ERROR", ""},
		{"not an object", "application/json", `nonsense`, 400, "VALIDATION_ERROR", ""},
		{"wrong type string", "application/json", `{"name":5}`, 400, "VALIDATION_ERROR", "name"},
		{"wrong type number", "application/json", `{"count":"many"}`, 400, "VALIDATION_ERROR", "count"},
		{"wrong type array", "application/json", `{"tags":"x"}`, 400, "VALIDATION_ERROR", "tags"},
		{"wrong nested type", "application/json", `{"inner":{"on":"yes"}}`, 400, "VALIDATION_ERROR", "inner.on"},
		{"array body", "application/json", `[1,2]`, 400, "VALIDATION_ERROR", "body"},
		{"trailing object", "application/json", `{"name":"a"}{"name":"b"}`, 400, "VALIDATION_ERROR", ""},
		{"trailing garbage", "application/json", `{"name":"a"} x`, 400, "VALIDATION_ERROR", ""},
		{"form content type", "application/x-www-form-urlencoded", `name=a`, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"text content type", "text/plain", `{"name":"a"}`, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"broken content type", "application/", `{"name":"a"}`, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", s.URL+"/v1/echo", strings.NewReader(tc.body), map[string]string{"Content-Type": tc.ct})
			if tc.code == "" {
				if r.status != tc.status {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				return
			}
			b := r.expectError(t, tc.status, tc.code)
			if tc.field != "" {
				if _, ok := b.Details[tc.field]; !ok {
					t.Fatalf("details %v do not name %q", b.Details, tc.field)
				}
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	s := newServer(t, web.Options{})
	if r := do(t, "GET", s.URL+"/v1/ok", nil, map[string]string{"X-Request-Id": "abc-123.x:y_z"}); r.header.Get("X-Request-Id") != "abc-123.x:y_z" {
		t.Errorf("sane id not echoed: %q", r.header.Get("X-Request-Id"))
	}
	for _, bad := range []string{"", "has space", strings.Repeat("a", 129), "<script>"} {
		r := do(t, "GET", s.URL+"/v1/ok", nil, map[string]string{"X-Request-Id": bad})
		got := r.header.Get("X-Request-Id")
		if got == "" || got == bad || len(got) != 36 {
			t.Errorf("request id for %q = %q, want a generated UUID", bad, got)
		}
	}
	// Error responses carry it too.
	if r := do(t, "GET", s.URL+"/v1/nope", nil, map[string]string{"X-Request-Id": "req-404"}); r.header.Get("X-Request-Id") != "req-404" {
		t.Errorf("404 request id %q", r.header.Get("X-Request-Id"))
	}
}

func TestSecurityHeaders(t *testing.T) {
	for _, prod := range []bool{false, true} {
		s := newServer(t, web.Options{Production: prod})
		for _, path := range []string{"/v1/ok", "/v1/nope"} {
			h := do(t, "GET", s.URL+path, nil, nil).header
			want := map[string]string{
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
				"Referrer-Policy":         "no-referrer",
			}
			for k, v := range want {
				if h.Get(k) != v {
					t.Errorf("prod=%v %s: %s = %q, want %q", prod, path, k, h.Get(k), v)
				}
			}
			if hsts := h.Get("Strict-Transport-Security"); (hsts != "") != prod {
				t.Errorf("prod=%v: HSTS = %q", prod, hsts)
			}
		}
	}
}

func TestCORS(t *testing.T) {
	s := newServer(t, web.Options{FrontendURLs: []string{"https://app.example.com"}})
	preflight := func(s *testServer, origin string) http.Header {
		return do(t, "OPTIONS", s.URL+"/v1/ok", nil, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type",
		}).header
	}
	h := preflight(s, "https://app.example.com")
	if h.Get("Access-Control-Allow-Origin") != "https://app.example.com" || h.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("allowed origin preflight: %v", h)
	}
	if !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Errorf("Authorization not allowed: %q", h.Get("Access-Control-Allow-Headers"))
	}
	for _, foreign := range []string{"https://evil.example.com", "https://app.example.com.evil.io", "null"} {
		if got := preflight(s, foreign).Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("foreign origin %s got Access-Control-Allow-Origin %q", foreign, got)
		}
	}
	// A simple request from the allowed origin can read the request id and rate-limit headers.
	r := do(t, "GET", s.URL+"/v1/ok", nil, map[string]string{"Origin": "https://app.example.com"})
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Errorf("simple request headers: %v", r.header)
	}
	// Widget and webhook routes decide their own CORS.
	if got := do(t, "OPTIONS", s.URL+"/v1/widget/x", nil, map[string]string{"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}).header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("platform CORS answered for a widget route: %q", got)
	}

	// Without FRONTEND_URL nothing cross-origin is allowed (the allow-list is empty, not "*").
	none := newServer(t, web.Options{})
	if got := preflight(none, "https://evil.example.com").Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("empty FRONTEND_URL allowed origin %q", got)
	}
}

func TestRateLimit(t *testing.T) {
	lim := cache.NewMemoryLimiter()
	logs := &syncbuf.Buffer{}
	e := web.New(web.Options{Logger: observe.NewLogger(logs, observe.LogOptions{}), Limiter: lim})
	e.GET("/health", web.Health("v", time.Now()))
	e.POST("/v1/login", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) },
		web.RateLimit(lim, "login", 3, 15*time.Minute, web.ByIP))
	e.GET("/v1/nokey", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) },
		web.RateLimit(lim, "nokey", 1, time.Minute, func(echo.Context) string { return "" }))
	s := httptest.NewServer(e)
	defer s.Close()

	ip := map[string]string{"X-Forwarded-For": "203.0.113.7"}
	for i := 1; i <= 3; i++ {
		r := do(t, "POST", s.URL+"/v1/login", nil, ip)
		if r.status != 204 {
			t.Fatalf("hit %d: %d %s", i, r.status, r.body)
		}
		if r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") != strconv.Itoa(3-i) {
			t.Fatalf("hit %d headers: limit %q remaining %q", i, r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
		}
		if reset, _ := strconv.Atoi(r.header.Get("RateLimit-Reset")); reset < 1 || reset > 900 {
			t.Fatalf("RateLimit-Reset %q", r.header.Get("RateLimit-Reset"))
		}
	}
	r := do(t, "POST", s.URL+"/v1/login", nil, ip)
	r.expectError(t, 429, "RATE_LIMITED")
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 900 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	if r.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("RateLimit-Remaining %q on 429", r.header.Get("RateLimit-Remaining"))
	}
	// Another client IP has its own budget; /health is never limited.
	if r := do(t, "POST", s.URL+"/v1/login", nil, map[string]string{"X-Forwarded-For": "203.0.113.8"}); r.status != 204 {
		t.Fatalf("other IP: %d", r.status)
	}
	for i := 0; i < 5; i++ {
		if r := do(t, "GET", s.URL+"/health", nil, nil); r.status != 200 || r.header.Get("RateLimit-Limit") != "" {
			t.Fatalf("/health limited: %d %v", r.status, r.header)
		}
	}
	// A key function with no subject skips the limit.
	for i := 0; i < 3; i++ {
		if r := do(t, "GET", s.URL+"/v1/nokey", nil, nil); r.status != 204 {
			t.Fatalf("keyless limit applied: %d", r.status)
		}
	}
	// The global per-IP limit (300/min) sets headers on every route.
	if h := do(t, "GET", s.URL+"/v1/nokey", nil, ip).header; h.Get("RateLimit-Limit") == "" {
		t.Errorf("global limit headers missing: %v", h)
	}
}

func TestWebhooksAreNotRateLimited(t *testing.T) {
	lim := cache.NewMemoryLimiter()
	e := web.New(web.Options{Logger: observe.NewLogger(&syncbuf.Buffer{}, observe.LogOptions{}), Limiter: lim})
	e.POST("/v1/webhooks/:slug/telegram", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	e.GET("/v1/other", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	s := httptest.NewServer(e)
	defer s.Close()
	ip := map[string]string{"X-Forwarded-For": "203.0.113.9"}
	for i := 0; i < 310; i++ {
		if r := do(t, "POST", s.URL+"/v1/webhooks/acme/telegram", nil, ip); r.status != 200 {
			t.Fatalf("webhook %d: %d", i, r.status)
		}
	}
	// The same address is still limited on other routes (the webhook hits did not count).
	for i := 0; i < 300; i++ {
		if r := do(t, "GET", s.URL+"/v1/other", nil, ip); r.status != 200 {
			t.Fatalf("other %d: %d", i, r.status)
		}
	}
	do(t, "GET", s.URL+"/v1/other", nil, ip).expectError(t, 429, "RATE_LIMITED")
}

func TestAccessLog(t *testing.T) {
	s := newServer(t, web.Options{})
	do(t, "GET", s.URL+"/health", nil, nil)
	do(t, "GET", s.URL+"/v1/ok", nil, map[string]string{"X-Request-Id": "req-ok"})
	do(t, "GET", s.URL+"/v1/nope", nil, nil)
	do(t, "GET", s.URL+"/v1/fail", nil, nil)
	var paths []string
	for _, l := range logLines(t, s.logs) {
		if l["msg"] != "request" {
			continue
		}
		paths = append(paths, l["path"].(string))
		switch l["path"] {
		case "/v1/ok":
			if l["status"] != float64(200) || l["requestId"] != "req-ok" || l["method"] != "GET" || l["level"] != "INFO" {
				t.Errorf("access line %v", l)
			}
		case "/v1/nope":
			if l["status"] != float64(404) {
				t.Errorf("404 logged as %v", l["status"])
			}
		case "/v1/fail":
			if l["status"] != float64(500) || l["level"] != "ERROR" {
				t.Errorf("500 logged as %v %v", l["status"], l["level"])
			}
		}
	}
	if strings.Join(paths, ",") != "/v1/ok,/v1/nope,/v1/fail" {
		t.Errorf("access-logged paths %v, want /health skipped and each other request once", paths)
	}
}

func TestLogRedaction(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		log := observe.NewLogger(&buf, observe.LogOptions{Format: format, Service: "axon-api", Env: "test"})
		log.Info("login",
			"password", "pw-VALUE-1",
			"token", "tok-VALUE-2",
			"authorization", "Bearer hdr-VALUE-3",
			"cookie", "refresh_token=ck-VALUE-4",
			"secret", "sec-VALUE-5",
			"apiKey", "key-VALUE-6",
			"refreshToken", "rt-VALUE-7",
			slog.Group("req", slog.String("Authorization", "Bearer grp-VALUE-8")),
			"msg2", "calling upstream with Bearer abc-VALUE-9 now",
			"url", "https://x.test/cb?token=q-VALUE-10&page=2",
			"err", errors.New("dial failed: password=e-VALUE-11"),
			"user", "alice",
		)
		out := buf.String()
		for i := 1; i <= 11; i++ {
			if strings.Contains(out, "VALUE-"+strconv.Itoa(i)+" ") || strings.Contains(out, "VALUE-"+strconv.Itoa(i)+`"`) ||
				strings.Contains(out, "VALUE-"+strconv.Itoa(i)+"&") || strings.HasSuffix(strings.TrimSpace(out), "VALUE-"+strconv.Itoa(i)) {
				t.Errorf("%s: value %d reached the log: %s", format, i, out)
			}
		}
		if strings.Contains(out, "VALUE") {
			t.Errorf("%s: a secret value reached the log: %s", format, out)
		}
		for _, want := range []string{"alice", "page=2", "calling upstream with Bearer [REDACTED] now", "axon-api"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: log lacks %q: %s", format, want, out)
			}
		}
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	// A real Postgres ping; the health check needs no migrated schema.
	db, err := pg.Open(context.Background(), pg.Options{URL: pgtest.WithDatabase(pgtest.BaseURL(), "postgres"), MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := echo.New()
	started := time.Now().Add(-90 * time.Second)
	e.GET("/ok", web.Health("1.2.3", started,
		web.Check{Name: "db", Fn: func(ctx context.Context) error { return db.PingContext(ctx) }},
		web.Check{Name: "redis"}))
	e.GET("/degraded", web.Health("1.2.3", started,
		web.Check{Name: "db", Fn: func(ctx context.Context) error { return db.PingContext(ctx) }},
		web.Check{Name: "redis", Fn: func(context.Context) error { return errors.New("connection refused") }}))
	e.GET("/slow", web.Health("1.2.3", started,
		web.Check{Name: "db", Fn: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}))
	s := httptest.NewServer(e)
	defer s.Close()

	type body struct {
		Status  string            `json:"status"`
		Checks  map[string]string `json:"checks"`
		Version string            `json:"version"`
		Uptime  int64             `json:"uptime"`
	}
	get := func(path string) (int, body, http.Header) {
		r := do(t, "GET", s.URL+path, nil, nil)
		var b body
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatalf("%s: %s", path, r.body)
		}
		return r.status, b, r.header
	}
	st, b, h := get("/ok")
	if st != 200 || b.Status != "ok" || b.Checks["db"] != "ok" || b.Checks["redis"] != "disabled" || b.Version != "1.2.3" || b.Uptime < 90 {
		t.Errorf("ok health: %d %+v", st, b)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("health is cacheable: %q", h.Get("Cache-Control"))
	}
	st, b, _ = get("/degraded")
	if st != 503 || b.Status != "degraded" || b.Checks["redis"] != "error" || b.Checks["db"] != "ok" {
		t.Errorf("degraded health: %d %+v", st, b)
	}
	start := time.Now()
	st, b, _ = get("/slow")
	if st != 503 || b.Checks["db"] != "error" || time.Since(start) > 5*time.Second {
		t.Errorf("a hanging check: %d %+v after %s", st, b, time.Since(start))
	}
}
