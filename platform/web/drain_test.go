package web_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/web"
)

// TestDrainHealthAndConnections: before Start, /health runs its checks and connections stay
// open; after, /health is 503 "draining", other routes still answer, and every response
// closes its connection.
func TestDrainHealthAndConnections(t *testing.T) {
	t.Parallel()
	e := web.New(web.Options{Logger: slog.New(slog.DiscardHandler)})
	d := &web.Drain{}
	e.Pre(d.Middleware())
	e.GET("/health", web.Health("v", time.Now()))
	e.GET("/v1/thing", func(c echo.Context) error { return c.String(http.StatusOK, "thing") })
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	get := func(path string) (int, string, string) {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		conn := res.Header.Get("Connection")
		if res.Close {
			conn = "close"
		}
		return res.StatusCode, string(b), conn
	}
	var body map[string]any
	st, raw, conn := get("/health")
	_ = json.Unmarshal([]byte(raw), &body)
	if st != 200 || body["status"] != "ok" || conn == "close" || d.Draining() {
		t.Fatalf("before Start: /health %d %s, connection %q", st, raw, conn)
	}

	d.Start()
	st, raw, conn = get("/health")
	body = nil
	_ = json.Unmarshal([]byte(raw), &body)
	if st != http.StatusServiceUnavailable || body["status"] != "draining" || conn != "close" || !d.Draining() {
		t.Fatalf("draining: /health %d %s, connection %q", st, raw, conn)
	}
	if st, raw, conn = get("/v1/thing"); st != 200 || raw != "thing" || conn != "close" {
		t.Fatalf("draining: /v1/thing %d %q, connection %q", st, raw, conn)
	}
}
