// Package apitest runs modules through the real HTTP stack (echo with every middleware, the
// error handler and /health) against the test process's Postgres and, when REDIS_URL is set,
// real Redis. Tests drive it with plain HTTP requests.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/axonhq/axon/configs"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/cli"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/pgtest"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
)

// Env is one test server.
type Env struct {
	T        testing.TB
	DB       *pg.DB
	Deps     *kernel.Deps
	Registry *kernel.Registry
	Server   *httptest.Server
	Lazy     *queue.Lazy
	logs     *syncbuf.Buffer
	workers  *river.Workers
}

// Config returns the test configuration (APP_ENV=test defaults) with overrides applied.
func Config(t testing.TB, overrides map[string]string) *configs.Config {
	t.Helper()
	cfg, err := configs.Load(func(k string) string {
		if v, ok := overrides[k]; ok {
			return v
		}
		if k == "APP_ENV" {
			return "test"
		}
		return os.Getenv(k)
	})
	if err != nil {
		t.Fatalf("apitest: config: %v", err)
	}
	return cfg
}

// Options tunes New.
type Options struct {
	Config  map[string]string // environment overrides
	Limiter cache.Limiter     // default: in-process (each Env its own), so tests don't share limits
}

// New builds the modules with build and serves them. The River client is insert-only;
// call StartWorker to work jobs.
func New(t testing.TB, o Options, build func(d *kernel.Deps) ([]kernel.Module, error)) *Env {
	t.Helper()
	db := pgtest.DB(t)
	cfg := Config(t, o.Config)
	logs := &syncbuf.Buffer{}
	log := observe.NewLogger(logs, observe.LogOptions{Level: slog.LevelDebug, Format: "json", Service: "axon-test", Env: "test"})
	iss, err := authn.NewIssuer(cfg.JWTSecret, cfg.JWTExpiresIn)
	if err != nil {
		t.Fatal(err)
	}
	lim := o.Limiter
	if lim == nil {
		lim = cache.NewMemoryLimiter()
	}
	lazy := &queue.Lazy{}
	d := &kernel.Deps{
		Config: cfg, Log: log, DB: db, Cache: cache.NewMemory(1000), Limiter: lim, Issuer: iss,
		Queue: lazy, Publisher: realtime.PG{}, Role: "api",
		Hub:    realtime.NewHub(realtime.HubOptions{DB: db, URL: pgtest.URL(t), Log: log}),
		Authed: authn.Authenticated(iss, lim), AuthedQuery: authn.AuthenticatedQuery(iss, lim),
	}
	mods, err := build(d)
	if err != nil {
		t.Fatalf("apitest: modules: %v", err)
	}
	reg, err := kernel.NewRegistry(mods...)
	if err != nil {
		t.Fatal(err)
	}
	workers, err := reg.Workers()
	if err != nil {
		t.Fatal(err)
	}
	client, err := queue.NewInsertOnly(db.DB.DB, workers, log)
	if err != nil {
		t.Fatal(err)
	}
	lazy.Set(client)
	e := cli.BuildHTTP(d, reg, nil, time.Now())
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	// Cleanups run last-in first-out: the hub ends the SSE streams before srv.Close waits
	// for every request.
	if err := d.Hub.Start(context.Background()); err != nil {
		t.Fatalf("apitest: realtime hub: %v", err)
	}
	t.Cleanup(d.Hub.Close)
	return &Env{T: t, DB: db, Deps: d, Registry: reg, Server: srv, Lazy: lazy, logs: logs, workers: workers}
}

// StartWorker starts a working River client for the registered workers (stopped at cleanup).
func (e *Env) StartWorker() *queue.Worker {
	e.T.Helper()
	w, err := queue.NewWorker(context.Background(), queue.WorkerOptions{
		DB: e.DB.DB.DB, DatabaseURL: pgtest.URL(e.T), Workers: e.workers,
		PeriodicJobs: e.Registry.PeriodicJobs(), Logger: e.Deps.Log,
	})
	if err != nil {
		e.T.Fatal(err)
	}
	e.Lazy.Set(w.Client)
	if err := w.Start(context.Background()); err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	})
	return w
}

// Response is a recorded HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Map decodes the body as an object.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Req describes one request.
type Req struct {
	Method  string
	Path    string
	Body    any // marshalled as JSON unless string/[]byte
	Token   string
	Header  map[string]string
	Cookies []*http.Cookie
}

// NewRequest builds r against base: a JSON body unless r.Body is a string or []byte (sent as
// is), the bearer token, headers and cookies.
func (r Req) NewRequest(base string) (*http.Request, error) {
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequest(r.Method, base+r.Path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	for _, c := range r.Cookies {
		req.AddCookie(c)
	}
	return req, nil
}

// Do sends r.
func (e *Env) Do(r Req) *Response {
	e.T.Helper()
	req, err := r.NewRequest(e.Server.URL)
	if err != nil {
		e.T.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// Get is Do with GET.
func (e *Env) Get(path, token string) *Response {
	e.T.Helper()
	return e.Do(Req{Method: http.MethodGet, Path: path, Token: token})
}

// Post is Do with POST and a JSON body.
func (e *Env) Post(path, token string, body any) *Response {
	e.T.Helper()
	return e.Do(Req{Method: http.MethodPost, Path: path, Token: token, Body: body})
}

// Workspace is a fixture workspace member with an access token. modules/internal/apptest
// creates them (through auth's and billing's test helpers: platform/ writes no module's
// tables).
type Workspace struct {
	ID     string
	UserID string
	Email  string
	Role   authn.Role
	Token  string
}

// TokenFor issues an access token.
func (e *Env) TokenFor(workspaceID, userID string, role authn.Role) string {
	tok, err := e.Deps.Issuer.Issue(authn.Principal{UserID: userID, WorkspaceID: workspaceID, Role: role})
	if err != nil {
		e.T.Fatal(err)
	}
	return tok
}

// ExpectError asserts the contract's error shape with status and code.
func (r *Response) ExpectError(t testing.TB, status int, code string) map[string]any {
	t.Helper()
	return testkit.ExpectError(t, r.Status, r.Header, r.Body, status, code)
}

// Eventually polls cond until it is true or the timeout passes (for asynchronous jobs; it
// asserts an outcome, never a duration).
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("condition not met within %s: %s", timeout, msg)
}

// LogText returns everything the server logged so far (JSON lines, through the production
// redaction).
func (e *Env) LogText() string { return e.logs.String() }
