package web_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	_ "github.com/lib/pq"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
	"github.com/axonhq/axon/platform/web"
)

// A database that cannot be reached is a 503 SERVICE_UNAVAILABLE (the client retries),
// logged as a warning and not reported as a failure; any other unexpected error stays 500.
func TestDatabaseUnavailableIs503(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	d, err := sql.Open("postgres", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/x?sslmode=disable", port))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	down := d.PingContext(ctx)
	if down == nil {
		t.Fatal("ping of a closed port succeeded")
	}

	logs := &syncbuf.Buffer{}
	e := echo.New()
	e.HTTPErrorHandler = web.ErrorHandler(slog.New(slog.NewJSONHandler(logs, nil)))
	e.GET("/plain", func(echo.Context) error { return fmt.Errorf("load user: %w", down) })
	e.GET("/wrapped", func(echo.Context) error { return apperr.Wrap(apperr.Internal, "x", down) })
	e.GET("/bug", func(echo.Context) error { return errors.New("nil map") })
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{{"/plain", 503, "SERVICE_UNAVAILABLE"}, {"/wrapped", 503, "SERVICE_UNAVAILABLE"}, {"/bug", 500, "INTERNAL_ERROR"}} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), `"error":"`+c.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", c.path, rec.Code, rec.Body, c.status, c.code)
		}
		if c.status == 503 && strings.Contains(rec.Body.String(), "127.0.0.1") {
			t.Errorf("%s: the cause reached the client: %s", c.path, rec.Body)
		}
	}
	if n := strings.Count(logs.String(), "database unavailable"); n != 2 {
		t.Errorf("%d 'database unavailable' warnings, want 2:\n%s", n, logs)
	}
	if n := strings.Count(logs.String(), `"msg":"request failed"`); n != 1 {
		t.Errorf("%d 'request failed' lines, want 1 (the bug):\n%s", n, logs)
	}
}
