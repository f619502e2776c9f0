package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/cli"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/pgtest"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
)

// pingModule is a minimal module with one route and a health detail; in serve it also
// mounts the realtime hub's event stream.
type pingModule struct{ d *kernel.Deps }

func (pingModule) Name() string { return "ping" }
func (m pingModule) Routes(v1 *echo.Group) {
	v1.GET("/ping", func(c echo.Context) error { return c.String(200, "pong") })
	if m.d != nil && m.d.Hub != nil {
		v1.GET("/events", m.d.Hub.Handler(nil), authn.Middleware(m.d.Issuer, true))
	}
}

func (pingModule) Workers(w *river.Workers) error  { return river.AddWorkerSafely(w, &noopWorker{}) }
func (pingModule) Check(ctx context.Context) error { return nil }

type noopArgs struct{}

func (noopArgs) Kind() string { return "clitest.noop" }

type noopWorker struct{ river.WorkerDefaults[noopArgs] }

func (*noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

func options(env map[string]string, args ...string) (cli.Options, *syncbuf.Buffer, *syncbuf.Buffer) {
	out, errb := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	return cli.Options{
		Args:    args,
		Getenv:  func(k string) string { return env[k] },
		Stdout:  out,
		Stderr:  errb,
		Version: "v-test",
		Modules: func(_ context.Context, d *kernel.Deps) ([]kernel.Module, error) {
			return []kernel.Module{pingModule{d: d}}, nil
		},
	}, out, errb
}

func TestHelpListsRoles(t *testing.T) {
	o, out, _ := options(nil, "--help")
	if err := cli.Execute(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "work", "migrate", "rollback-resolve", "dev"} {
		if !strings.Contains(out.String(), "\n  "+cmd) {
			t.Errorf("help does not list %s:\n%s", cmd, out.String())
		}
	}
	o, out, _ = options(nil, "--version")
	if err := cli.Execute(context.Background(), o); err != nil || !strings.Contains(out.String(), "v-test") {
		t.Errorf("--version: %v %q", err, out.String())
	}
}

func TestArgumentErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "sideways"}, `unknown direction "sideways"`},
		{[]string{"migrate", "up", "down"}, "accepts at most 1 arg"},
		{[]string{"rollback-resolve"}, "accepts 1 arg"},
		{[]string{"rollback-resolve", "seven"}, "VERSION must be a positive migration number"},
		{[]string{"rollback-resolve", "-3"}, "unknown shorthand flag"},
		{[]string{"rollback-resolve", "0"}, "VERSION must be a positive migration number"},
		{[]string{"serve", "extra"}, "unknown command"},
		{[]string{"fly"}, "unknown command"},
	}
	for _, tc := range cases {
		o, _, _ := options(nil, tc.args...)
		err := cli.Execute(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestConfigErrorNamesVariable(t *testing.T) {
	o, _, _ := options(map[string]string{"APP_ENV": "test", "PORT": "eighty"}, "migrate", "status")
	err := cli.Execute(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "PORT") {
		t.Fatalf("error %v, want one naming PORT", err)
	}
	o, _, _ = options(map[string]string{"APP_ENV": "production"}, "serve")
	err = cli.Execute(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("production without dependencies: %v", err)
	}
}

// TestServeAndWorkShutDownCleanly runs both long-lived roles in process and cancels them, as
// SIGTERM does.
func TestServeAndWorkShutDownCleanly(t *testing.T) {
	port := testkit.FreePort(t)
	env := map[string]string{
		"APP_ENV": "test", "DATABASE_URL": pgtest.URL(t), "PORT": strconv.Itoa(port),
		"JWT_SECRET": "cli-test-SECRET-0123456789-0123456789", "LOG_LEVEL": "info", "LOG_FORMAT": "json",
	}
	ctx, cancel := context.WithCancel(context.Background())
	o, _, stderr := options(env, "serve", "--with-worker")
	done := make(chan error, 1)
	go func() { done <- cli.Execute(ctx, o) }()

	wctx, wcancel := context.WithCancel(context.Background())
	wo, _, werr := options(env, "work")
	wdone := make(chan error, 1)
	go func() { wdone <- cli.Execute(wctx, wo) }()

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	var health struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(base + "/health")
		if err == nil {
			err = json.NewDecoder(res.Body).Decode(&health)
			res.Body.Close()
			if err == nil && res.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not healthy: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if health.Status != "ok" || health.Checks["db"] != "ok" || health.Checks["redis"] != "disabled" || health.Checks["ping"] != "ok" {
		t.Errorf("health %+v", health)
	}
	res, err := http.Get(base + "/v1/ping")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "pong" {
		t.Errorf("module route: %d %s", res.StatusCode, body)
	}
	// The queue dashboard is behind basic auth (admin/admin in development/test).
	res, err = http.Get(base + "/admin/queues")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("/admin/queues without credentials: %d", res.StatusCode)
	}

	// An open event stream (the realtime hub runs in serve) does not hold the shutdown:
	// the hub closes it when the HTTP shutdown begins.
	iss, err := authn.NewIssuer(env["JWT_SECRET"], time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(authn.Principal{UserID: "00000000-0000-0000-0000-000000000001", WorkspaceID: "00000000-0000-0000-0000-000000000002", Role: authn.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := http.Get(base + "/v1/events?access_token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != 200 || stream.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /v1/events: %d %s", stream.StatusCode, stream.Header.Get("Content-Type"))
	}
	streamEnded := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, stream.Body); close(streamEnded) }()

	cancel()
	select {
	case <-streamEnded:
	case <-time.After(15 * time.Second):
		t.Fatal("the event stream stayed open after the shutdown began")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v on shutdown", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop within 15 s of cancellation")
	}
	for _, want := range []string{`"msg":"configuration"`, `"msg":"api listening"`, `"msg":"shutting down"`, `"jwtSecret":"[REDACTED]"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("serve log lacks %s", want)
		}
	}
	if strings.Contains(stderr.String(), "SECRET") {
		t.Errorf("the JWT secret reached the log:\n%s", stderr.String())
	}

	// Give work a moment to have started, then stop it.
	time.Sleep(200 * time.Millisecond)
	wcancel()
	select {
	case err := <-wdone:
		if err != nil {
			t.Fatalf("work returned %v on shutdown\n%s", err, werr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("work did not stop within 15 s of cancellation")
	}
	if !strings.Contains(werr.String(), "workers started") || !strings.Contains(werr.String(), `"service":"axon-worker"`) {
		t.Errorf("work log:\n%s", werr.String())
	}
}
