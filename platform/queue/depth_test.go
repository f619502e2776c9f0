package queue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// scrapeMetrics serves the registry once, as Prometheus would, and returns the text.
func scrapeMetrics(t *testing.T, m *observe.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// metricValue returns the value of the sample whose name and labels are exactly series.
func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no sample %s in:\n%s", series, text)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDepthMetricsFromRiverJob inserts jobs in several states into queues of its own (no
// worker serves them, so no other test's worker takes them) and reads the metrics back.
func TestDepthMetricsFromRiverJob(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	q := fmt.Sprintf("depthtest_%d", time.Now().UnixNano())
	idle := q + "_idle"
	ins := func(state, scheduled string, n int) {
		t.Helper()
		db.MustExec(`INSERT INTO river_job (state, args, kind, max_attempts, queue, scheduled_at, attempted_at)
			SELECT $1::river_job_state, '{}', 'queuetest.depth', 3, $2, now() + $3::interval,
			       CASE WHEN $1 IN ('running', 'retryable') THEN now() END
			FROM generate_series(1, $4)`, state, q, scheduled, n)
	}
	ins("available", "-90 seconds", 1)
	ins("available", "-5 seconds", 2)
	ins("scheduled", "1 hour", 4)
	ins("retryable", "10 minutes", 1)
	ins("running", "-1 second", 2)
	db.MustExec(`INSERT INTO river_job (state, args, kind, max_attempts, queue, finalized_at, attempted_at, attempt)
		SELECT 'completed', '{}', 'queuetest.depth', 3, $1, now(), now(), 1 FROM generate_series(1, 50)`, q)
	t.Cleanup(func() { db.MustExec(`DELETE FROM river_job WHERE queue = $1`, q) })

	m := observe.NewMetrics(nil, "axon-test")
	m.Register(queue.NewDepthCollector(db.DB.DB, nil))
	text := scrapeMetrics(t, m)
	for state, want := range map[string]float64{"available": 3, "scheduled": 4, "retryable": 1, "running": 2} {
		if got := metricValue(t, text, `axon_queue_depth{queue="`+q+`",state="`+state+`"}`); got != want {
			t.Errorf("depth %s = %v, want %v", state, got, want)
		}
	}
	if strings.Contains(text, `state="completed"`) {
		t.Error("finished jobs are reported")
	}
	// The oldest available job became due 90 s before the insert; the scrape follows it.
	if age := metricValue(t, text, `axon_queue_oldest_available_age_seconds{queue="`+q+`"}`); age < 90 || age > 90+60 {
		t.Errorf("oldest available age %v s, want about 90", age)
	}
	// Every configured queue is reported even when idle; a queue without jobs is not known.
	for name := range queue.Queues() {
		metricValue(t, text, `axon_queue_oldest_available_age_seconds{queue="`+name+`"}`)
		metricValue(t, text, `axon_queue_depth{queue="`+name+`",state="available"}`)
	}
	if strings.Contains(text, idle) {
		t.Error("a queue without jobs appeared")
	}
}

// TestDepthCollectorCaches proves a scrape storm costs one query per TTL, and that a failed
// read reports the previous figures and counts the error.
func TestDepthCollectorCaches(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	var fail atomic.Bool
	now := time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	c := queue.NewDepthCollectorWith(func(context.Context) ([]queue.QueueStat, error) {
		calls.Add(1)
		if fail.Load() {
			return nil, errors.New("connection refused")
		}
		return []queue.QueueStat{{Queue: "inbound", State: "available", Jobs: 7 + calls.Load(), OldestAge: 42 * time.Second}}, nil
	}, func() time.Time { return now }, 5*time.Second, nil)
	m := observe.NewMetrics(nil, "axon-test")
	m.Register(c)

	for range 20 {
		scrapeMetrics(t, m)
	}
	text := scrapeMetrics(t, m)
	if calls.Load() != 1 {
		t.Fatalf("21 scrapes within the TTL ran %d queries, want 1", calls.Load())
	}
	if v := metricValue(t, text, `axon_queue_depth{queue="inbound",state="available"}`); v != 8 {
		t.Fatalf("depth %v, want 8", v)
	}
	if v := metricValue(t, text, `axon_queue_oldest_available_age_seconds{queue="inbound"}`); v != 42 {
		t.Fatalf("age %v, want 42", v)
	}
	if v := metricValue(t, text, `axon_queue_depth{queue="email",state="available"}`); v != 0 {
		t.Fatalf("idle queue depth %v, want 0", v)
	}

	now = now.Add(5 * time.Second)
	text = scrapeMetrics(t, m)
	if calls.Load() != 2 || metricValue(t, text, `axon_queue_depth{queue="inbound",state="available"}`) != 9 {
		t.Fatalf("after the TTL: %d queries, text:\n%s", calls.Load(), text)
	}

	fail.Store(true)
	now = now.Add(5 * time.Second)
	text = scrapeMetrics(t, m)
	if v := metricValue(t, text, `axon_queue_depth{queue="inbound",state="available"}`); v != 9 {
		t.Fatalf("after a failed read depth %v, want the previous 9", v)
	}
	if v := metricValue(t, text, `axon_queue_stats_errors_total`); v != 1 {
		t.Fatalf("errors %v, want 1", v)
	}
}
