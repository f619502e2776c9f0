package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/cli"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

type wmOKArgs struct{}

func (wmOKArgs) Kind() string { return "clitest.wm_ok" }

type wmOKWorker struct{ river.WorkerDefaults[wmOKArgs] }

func (*wmOKWorker) Work(context.Context, *river.Job[wmOKArgs]) error { return nil }

type wmFailArgs struct{}

func (wmFailArgs) Kind() string { return "clitest.wm_fail" }

type wmFailWorker struct {
	river.WorkerDefaults[wmFailArgs]
}

func (*wmFailWorker) Work(context.Context, *river.Job[wmFailArgs]) error {
	return errors.New("wm: planned failure")
}

type wmHoldArgs struct{}

func (wmHoldArgs) Kind() string { return "clitest.wm_hold" }

// wmHoldWorker signals started, then runs until release is closed (its context's
// cancellation is ignored on purpose: the soft stop waits for it).
type wmHoldWorker struct {
	river.WorkerDefaults[wmHoldArgs]
	started chan struct{}
	release chan struct{}
}

func (w *wmHoldWorker) Work(context.Context, *river.Job[wmHoldArgs]) error {
	close(w.started)
	<-w.release
	return nil
}

type wmModule struct{ hold *wmHoldWorker }

func (wmModule) Name() string       { return "wm" }
func (wmModule) Routes(*echo.Group) {}
func (m wmModule) Workers(w *river.Workers) error {
	return errors.Join(river.AddWorkerSafely(w, &wmOKWorker{}), river.AddWorkerSafely(w, &wmFailWorker{}),
		river.AddWorkerSafely[wmHoldArgs](w, m.hold))
}

// TestWorkServesHealthAndMetrics runs `axon work` with WORKER_METRICS_PORT: /health answers
// 200 with the Postgres check; /metrics is 401 without or with wrong credentials and, with
// ADMIN_USER/ADMIN_PASSWORD, shows the outcome and run time of the jobs this worker ran
// (one completed, one failed without retries) and no API or queue-depth series. On SIGTERM
// (context cancelled) /health turns 503 draining while a running job finishes, and the port
// is closed once work has returned.
func TestWorkServesHealthAndMetrics(t *testing.T) {
	port := testkit.FreePort(t)
	db := pgtest.DB(t)
	env := map[string]string{
		"APP_ENV": "test", "DATABASE_URL": pgtest.URL(t), "PORT": strconv.Itoa(testkit.FreePort(t)),
		"WORKER_METRICS_PORT": strconv.Itoa(port), "SHUTDOWN_TIMEOUT": "60s",
		"JWT_SECRET": "cli-test-SECRET-0123456789-0123456789", "LOG_LEVEL": "info", "LOG_FORMAT": "json",
		"ADMIN_USER": "ops", "ADMIN_PASSWORD": "worker-metrics-secret",
	}
	hold := &wmHoldWorker{started: make(chan struct{}), release: make(chan struct{})}
	o, _, stderr := options(env, "work")
	o.Modules = func(context.Context, *kernel.Deps) ([]kernel.Module, error) {
		return []kernel.Module{wmModule{hold: hold}}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cli.Execute(ctx, o) }()
	released := false
	defer func() {
		if !released {
			close(hold.release)
		}
	}()

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	get := func(path, user, pass string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), nil
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			select {
			case err := <-done:
				t.Fatalf("work exited early: %v\n%s", err, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	var health struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	waitFor("/health 200", func() bool {
		status, body, err := get("/health", "", "")
		return err == nil && status == http.StatusOK && json.Unmarshal([]byte(body), &health) == nil
	})
	if health.Status != "ok" || health.Checks["db"] != "ok" {
		t.Errorf("/health: %+v", health)
	}

	for _, kind := range []string{wmOKArgs{}.Kind(), wmFailArgs{}.Kind()} {
		if _, err := db.Exec(`INSERT INTO river_job (state, args, kind, max_attempts, queue) VALUES ('available', '{}', $1, 1, $2)`,
			kind, queue.QueueDefault); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ user, pass string }{{"", ""}, {"ops", "wrong"}, {"admin", "admin"}} {
		status, body, err := get("/metrics", c.user, c.pass)
		if err != nil || status != http.StatusUnauthorized || strings.Contains(body, "axon_jobs_total") {
			t.Errorf("/metrics as %q/%q: %d %v", c.user, c.pass, status, err)
		}
	}
	var body string
	wants := []string{
		`axon_jobs_total{kind="clitest.wm_ok",outcome="completed"} 1`,
		`axon_jobs_total{kind="clitest.wm_fail",outcome="failed"} 1`,
		`axon_job_run_seconds_count{kind="clitest.wm_ok"} 1`,
		`axon_job_run_seconds_count{kind="clitest.wm_fail"} 1`,
		`axon_job_queue_wait_seconds_count{queue="default"} `,
		`axon_build_info{service="axon-worker"} 1`,
	}
	waitFor("the two jobs in /metrics", func() bool {
		status, b, err := get("/metrics", "ops", "worker-metrics-secret")
		if err != nil || status != http.StatusOK {
			return false
		}
		body = b
		for _, w := range wants {
			if !strings.Contains(body, w) {
				return false
			}
		}
		return true
	})
	for _, absent := range []string{"axon_queue_depth", "axon_http_requests_total"} {
		if strings.Contains(body, absent) {
			t.Errorf("the worker's /metrics has %s", absent)
		}
	}

	// Shutdown with a job running: /health is 503 draining while the job holds the soft
	// stop, and the server still answers until the job is done.
	if _, err := db.Exec(`INSERT INTO river_job (state, args, kind, max_attempts, queue) VALUES ('available', '{}', $1, 1, $2)`,
		wmHoldArgs{}.Kind(), queue.QueueDefault); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hold.started:
	case <-time.After(30 * time.Second):
		t.Fatalf("the held job never started\n%s", stderr.String())
	}
	cancel()
	waitFor("/health 503 draining", func() bool {
		status, b, err := get("/health", "", "")
		return err == nil && status == http.StatusServiceUnavailable && strings.Contains(b, `"status":"draining"`)
	})
	if status, _, err := get("/metrics", "ops", "worker-metrics-secret"); err != nil || status != http.StatusOK {
		t.Errorf("/metrics during the soft stop: %d %v", status, err)
	}
	close(hold.release)
	released = true
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("work: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("work did not stop\n%s", stderr.String())
	}
	if _, _, err := get("/health", "", ""); err == nil {
		t.Error("the worker's metrics port still answers after work returned")
	}
}

// TestWorkMetricsPortInUse: a worker whose WORKER_METRICS_PORT is taken refuses to start
// and names the variable.
func TestWorkMetricsPortInUse(t *testing.T) {
	srv := &http.Server{ReadHeaderTimeout: time.Second}
	port := testkit.FreePort(t)
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", ":"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	env := map[string]string{
		"APP_ENV": "test", "DATABASE_URL": pgtest.URL(t), "WORKER_METRICS_PORT": strconv.Itoa(port),
		"JWT_SECRET": "cli-test-SECRET-0123456789-0123456789",
	}
	o, _, _ := options(env, "work")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = cli.Execute(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "WORKER_METRICS_PORT "+strconv.Itoa(port)) {
		t.Fatalf("work with its metrics port taken: %v", err)
	}
}
