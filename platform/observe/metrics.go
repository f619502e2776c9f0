package observe

import (
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
)

// Metrics are the Prometheus metrics of one process: HTTP requests and latencies (by route
// pattern, never by raw path, to bound cardinality), River jobs (outcome, run time, queue
// wait), the Postgres pool, and the Go runtime.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	jobs     *prometheus.CounterVec
	jobRun   *prometheus.HistogramVec
	jobWait  *prometheus.HistogramVec
}

// NewMetrics registers every collector; db may be nil.
func NewMetrics(db *sql.DB, service string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "axon_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "axon_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "axon_jobs_total", Help: "Job attempts by kind and outcome (completed, failed, cancelled, snoozed).",
		}, []string{"kind", "outcome"}),
		jobRun: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "axon_job_run_seconds", Help: "Time a job attempt spent in its worker.",
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 10),
		}, []string{"kind"}),
		jobWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "axon_job_queue_wait_seconds", Help: "Time a job waited between available and picked up.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"queue"}),
	}
	reg.MustRegister(m.requests, m.latency, m.jobs, m.jobRun, m.jobWait,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(db, "axon"))
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "axon_build_info", Help: "Always 1; labels name the service.", ConstLabels: prometheus.Labels{"service": service},
	})
	info.Set(1)
	reg.MustRegister(info)
	return m
}

// Middleware records every request except /health and /metrics.
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := c.Request().URL.Path
			if p == "/health" || p == "/metrics" {
				return next(c)
			}
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			method := c.Request().Method
			m.requests.WithLabelValues(route, method, strconv.Itoa(c.Response().Status)).Inc()
			m.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

// ObserveJobs consumes River client events until the channel closes.
func (m *Metrics) ObserveJobs(events <-chan *river.Event) {
	for ev := range events {
		if ev == nil || ev.Job == nil {
			continue
		}
		outcome := map[river.EventKind]string{
			river.EventKindJobCompleted: "completed", river.EventKindJobFailed: "failed",
			river.EventKindJobCancelled: "cancelled", river.EventKindJobSnoozed: "snoozed",
		}[ev.Kind]
		if outcome == "" {
			continue
		}
		m.jobs.WithLabelValues(ev.Job.Kind, outcome).Inc()
		if ev.JobStats != nil {
			m.jobRun.WithLabelValues(ev.Job.Kind).Observe(ev.JobStats.RunDuration.Seconds())
			m.jobWait.WithLabelValues(ev.Job.Queue).Observe(ev.JobStats.QueueWaitDuration.Seconds())
		}
	}
}

// JobEvents are the event kinds ObserveJobs needs.
var JobEvents = []river.EventKind{
	river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled, river.EventKindJobSnoozed,
}

// Register adds collectors owned elsewhere (the realtime hub's).
func (m *Metrics) Register(cs ...prometheus.Collector) {
	if m != nil {
		m.reg.MustRegister(cs...)
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
