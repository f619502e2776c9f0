package main

// Helpers of the security suite (security_*_test.go, `make test-security`): the whole
// application, built by main.go's own modules function and served through
// cli.BuildHTTP as `axon serve` serves it, and a plain HTTP client with a timeout (a route
// that wrongly streams must fail the test, not hang it).

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/auth"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/cli"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// secPassword is every suite account's password.
const secPassword = "correct horse battery staple"

// secApp is the whole application on a test server with /metrics mounted (ADMIN_USER and
// ADMIN_PASSWORD set), as production serves it.
type secApp struct {
	t    testing.TB
	env  *apitest.Env
	url  string
	srv  *httptest.Server
	http *http.Client
}

// newSecApp builds every module with main.go's modules function. config overrides the test
// environment; lim nil means a limiter that never limits (the matrix sends hundreds of
// requests from one user and address).
func newSecApp(t testing.TB, config map[string]string, lim cache.Limiter) *secApp {
	t.Helper()
	cfg := map[string]string{
		"ADMIN_USER": "ops", "ADMIN_PASSWORD": "ops-password-for-the-security-suite", "LOCAL_STORAGE_DIR": t.TempDir(),
		"S3_BUCKET": "", "BACKUP_CRON": "", "OPENAI_API_KEY": "", "RESEND_API_KEY": "", "STRIPE_SECRET_KEY": "",
		"SENTRY_DSN": "",
	}
	for k, v := range config {
		cfg[k] = v
	}
	if lim == nil {
		lim = unlimited{}
	}
	env := apitest.New(t, apitest.Options{Config: cfg, Limiter: lim},
		func(d *kernel.Deps) ([]kernel.Module, error) { return modules(context.Background(), d) })
	d := *env.Deps
	d.Metrics = observe.NewMetrics(nil, "axon-test")
	srv := httptest.NewServer(cli.BuildHTTP(&d, env.Registry, nil, time.Now()))
	t.Cleanup(srv.Close)
	return &secApp{t: t, env: env, url: srv.URL, srv: srv, http: &http.Client{Timeout: 20 * time.Second}}
}

// unlimited is a cache.Limiter that admits everything.
type unlimited struct{}

func (unlimited) Allow(context.Context, string, int, time.Duration) cache.Decision {
	return cache.Decision{Allowed: true, Limit: 1 << 30, Remaining: 1 << 30}
}

func (unlimited) Peek(ctx context.Context, key string, limit int, window time.Duration) cache.Decision {
	return unlimited{}.Allow(ctx, key, limit, window)
}

// secReq is one request.
type secReq = apitest.Req

// secRes is one response.
type secRes struct {
	Status int
	Header http.Header
	Body   []byte
}

func (a *secApp) do(r secReq) *secRes {
	a.t.Helper()
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	req, err := r.NewRequest(a.url)
	if err != nil {
		a.t.Fatal(err)
	}
	// A transport failure is status 0 with the error as the body, for the caller's assertion
	// (a.t may be the parent of the subtest that called).
	res, err := a.http.Do(req)
	if err != nil {
		return &secRes{Header: http.Header{}, Body: []byte("transport error: " + err.Error())}
	}
	defer res.Body.Close()
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		// An open event stream never ends: its status and headers are the answer.
		return &secRes{Status: res.StatusCode, Header: res.Header, Body: []byte("(event stream)")}
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return &secRes{Header: res.Header, Body: []byte("reading the body: " + err.Error())}
	}
	return &secRes{Status: res.StatusCode, Header: res.Header, Body: b}
}

// must sends r and fails unless the status is want; it decodes the body into out (if set).
func (a *secApp) must(want int, r secReq, out any) *secRes {
	a.t.Helper()
	res := a.do(r)
	if res.Status != want {
		a.t.Fatalf("%s %s = %d, want %d: %s", r.Method, r.Path, res.Status, want, res.Body)
	}
	if out != nil {
		if err := json.Unmarshal(res.Body, out); err != nil {
			a.t.Fatalf("%s %s: decode %s: %v", r.Method, r.Path, res.Body, err)
		}
	}
	return res
}

// secAccount is a registered user with their session.
type secAccount struct {
	UserID, WorkspaceID, Email string
	Access                     string
	Refresh                    *http.Cookie
}

// register signs a user up through POST /v1/auth/register (from ip, when set).
func (a *secApp) register(name, email, ip string) secAccount {
	a.t.Helper()
	var out struct {
		User        struct{ ID string }
		Workspace   struct{ ID string }
		AccessToken string
	}
	h := map[string]string{}
	if ip != "" {
		h["X-Forwarded-For"] = ip
	}
	res := a.must(http.StatusCreated, secReq{
		Method: http.MethodPost, Path: "/v1/auth/register", Header: h,
		Body: map[string]string{"name": name, "email": email, "password": secPassword},
	}, &out)
	return secAccount{
		UserID: out.User.ID, WorkspaceID: out.Workspace.ID, Email: email, Access: out.AccessToken,
		Refresh: testkit.Cookie(a.t, res.Header, auth.RefreshCookie),
	}
}

// expectError asserts the contract's error shape (SPEC §3) with one of the statuses.
func expectErrorShape(t testing.TB, what string, res *secRes) {
	t.Helper()
	var e struct {
		Error      string `json:"error"`
		Message    string `json:"message"`
		StatusCode int    `json:"statusCode"`
	}
	if res.Status == http.StatusNoContent || len(res.Body) == 0 {
		return // HEAD and 204 carry no body
	}
	if err := json.Unmarshal(res.Body, &e); err != nil || e.Error == "" || e.Message == "" || e.StatusCode != res.Status {
		t.Errorf("%s: %d with a body that is not the error shape {error,message,statusCode}: %s", what, res.Status, res.Body)
	}
}
