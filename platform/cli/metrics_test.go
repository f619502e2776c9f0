package cli_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/cli"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// TestMetricsQueueDepthBehindBasicAuth runs serve (no worker, so nothing takes the jobs),
// inserts jobs into a queue of its own and scrapes /metrics: 401 without or with wrong
// credentials, the queue's depth and oldest age with them.
func TestMetricsQueueDepthBehindBasicAuth(t *testing.T) {
	t.Parallel()
	port := testkit.FreePort(t)
	dbURL := pgtest.URL(t)
	env := map[string]string{
		"APP_ENV": "test", "DATABASE_URL": dbURL, "PORT": strconv.Itoa(port),
		"JWT_SECRET": "cli-test-SECRET-0123456789-0123456789",
		"ADMIN_USER": "ops", "ADMIN_PASSWORD": "metrics-secret",
	}
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := fmt.Sprintf("metricstest_%d", time.Now().UnixNano())
	if _, err := db.Exec(`INSERT INTO river_job (state, args, kind, max_attempts, queue, scheduled_at)
		SELECT 'available', '{}', 'clitest.depth', 3, $1, now() - interval '120 seconds' FROM generate_series(1, 5)`, q); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec(`DELETE FROM river_job WHERE queue = $1`, q) })

	ctx, cancel := context.WithCancel(context.Background())
	o, _, stderr := options(env, "serve")
	done := make(chan error, 1)
	go func() { done <- cli.Execute(ctx, o) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(base + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not healthy: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	get := func(user, pass string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, c := range []struct{ user, pass string }{{"", ""}, {"ops", "wrong"}, {"admin", "admin"}} {
		if status, body := get(c.user, c.pass); status != http.StatusUnauthorized || strings.Contains(body, "axon_queue") {
			t.Errorf("/metrics as %q/%q: %d", c.user, c.pass, status)
		}
	}
	status, body := get("ops", "metrics-secret")
	if status != http.StatusOK {
		t.Fatalf("/metrics with credentials: %d %s", status, body)
	}
	for _, want := range []string{
		`axon_queue_depth{queue="` + q + `",state="available"} 5`,
		`axon_queue_depth{queue="` + q + `",state="running"} 0`,
		`axon_queue_depth{queue="inbound",state="available"} `,
		`axon_queue_oldest_available_age_seconds{queue="outbound"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var age float64
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, `axon_queue_oldest_available_age_seconds{queue="`+q+`"} `); ok {
			age, _ = strconv.ParseFloat(v, 64)
		}
	}
	if age < 120 {
		t.Errorf("oldest available age of %s = %v, want at least 120 s", q, age)
	}
}
