package observe

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestMetricsCountRequestsByRoute(t *testing.T) {
	m := NewMetrics(nil, "axon-test")
	e := echo.New()
	e.Use(m.Middleware())
	e.GET("/v1/agents/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.GET("/health", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	for _, p := range []string{"/v1/agents/a", "/v1/agents/b", "/health", "/nope"} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	out := scrape(t, m)
	for _, want := range []string{
		`axon_http_requests_total{method="GET",route="/v1/agents/:id",status="204"} 2`,
		`axon_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`axon_build_info{service="axon-test"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(out, `route="/health"`) {
		t.Error("/health was counted")
	}
}

func TestMetricsObserveJobs(t *testing.T) {
	m := NewMetrics(nil, "axon-test")
	ch := make(chan *river.Event, 3)
	ch <- &river.Event{
		Kind: river.EventKindJobCompleted, Job: &rivertype.JobRow{Kind: "email.send", Queue: "email"},
		JobStats: &river.JobStatistics{RunDuration: 20 * time.Millisecond, QueueWaitDuration: 3 * time.Millisecond},
	}
	ch <- &river.Event{Kind: river.EventKindJobFailed, Job: &rivertype.JobRow{Kind: "email.send", Queue: "email"}}
	ch <- &river.Event{Kind: river.EventKindQueuePaused}
	close(ch)
	m.ObserveJobs(ch)
	out := scrape(t, m)
	for _, want := range []string{
		`axon_jobs_total{kind="email.send",outcome="completed"} 1`,
		`axon_jobs_total{kind="email.send",outcome="failed"} 1`,
		`axon_job_run_seconds_count{kind="email.send"} 1`,
		`axon_job_queue_wait_seconds_count{queue="email"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
