package queue

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DepthStates are the job states whose counts per queue the depth metric reports: the
// states of jobs not yet finished. Finished jobs (completed, cancelled, discarded) are
// left out: they are most of the table, and counting them would cost a scan.
var DepthStates = []string{"available", "running", "retryable", "scheduled"}

// QueueStat is one queue's count of jobs in one state; OldestAge is, for the available
// state, how long the oldest available job has been due (now - scheduled_at), else 0.
type QueueStat struct {
	Queue     string
	State     string
	Jobs      int64
	OldestAge time.Duration
}

// qQueueStats counts unfinished jobs per queue and state. The state filter is the leading
// column of River's river_job_prioritized_fetching_index (state, queue, priority,
// scheduled_at, id), so this is an index-only scan over unfinished jobs alone, however many
// finished jobs the table holds (docs/operations.md, "Queue health", has the plan).
const qQueueStats = `
SELECT queue, state::text, count(*),
       COALESCE(EXTRACT(EPOCH FROM now() - min(scheduled_at) FILTER (WHERE state = 'available')), 0)::float8
FROM river_job
WHERE state IN ('available', 'running', 'retryable', 'scheduled')
GROUP BY queue, state`

// Stats returns the unfinished jobs per queue and state. Queues and states without jobs are
// absent.
func Stats(ctx context.Context, db *sql.DB) ([]QueueStat, error) {
	rows, err := db.QueryContext(ctx, qQueueStats)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []QueueStat
	for rows.Next() {
		var s QueueStat
		var age float64
		if err := rows.Scan(&s.Queue, &s.State, &s.Jobs, &age); err != nil {
			return nil, err
		}
		s.OldestAge = time.Duration(max(age, 0) * float64(time.Second))
		out = append(out, s)
	}
	return out, rows.Err()
}

// DepthTTL is how long one Stats result serves scrapes: a storm of scrapes (several
// Prometheus replicas, a dashboard refreshing) costs Postgres one query per DepthTTL.
const DepthTTL = 5 * time.Second

// depthTimeout bounds the query during a scrape; a scrape never waits longer.
const depthTimeout = 2 * time.Second

// DepthCollector is a Prometheus collector of queue health, read from river_job:
//
//	axon_queue_depth{queue, state}                      jobs per queue in each DepthStates state
//	axon_queue_oldest_available_age_seconds{queue}      age of the oldest available job (0 when none)
//	axon_queue_stats_errors_total                       failed reads of the figures
//
// Every queue of Queues() is always reported (zeros when idle), so an alert rule sees a
// series rather than nothing. Results are cached for DepthTTL; concurrent scrapes share
// one query.
type DepthCollector struct {
	query func(context.Context) ([]QueueStat, error)
	now   func() time.Time
	ttl   time.Duration
	log   *slog.Logger

	depth  *prometheus.Desc
	oldest *prometheus.Desc
	errors prometheus.Counter

	mu      sync.Mutex
	fetched time.Time
	stats   []QueueStat
}

// NewDepthCollector returns a collector reading db; log may be nil.
func NewDepthCollector(db *sql.DB, log *slog.Logger) *DepthCollector {
	return newDepthCollector(func(ctx context.Context) ([]QueueStat, error) { return Stats(ctx, db) }, time.Now, DepthTTL, log)
}

func newDepthCollector(query func(context.Context) ([]QueueStat, error), now func() time.Time, ttl time.Duration, log *slog.Logger) *DepthCollector {
	return &DepthCollector{
		query: query, now: now, ttl: ttl, log: log,
		depth: prometheus.NewDesc("axon_queue_depth",
			"Jobs per River queue and state (available, running, retryable, scheduled); cached for a few seconds.",
			[]string{"queue", "state"}, nil),
		oldest: prometheus.NewDesc("axon_queue_oldest_available_age_seconds",
			"Seconds the oldest available job of the queue has been due (0 when none is waiting).",
			[]string{"queue"}, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "axon_queue_stats_errors_total", Help: "Failed reads of the queue depth figures.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *DepthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.oldest
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector. When the read fails, the last figures are
// reported again (stale by at most the failure's duration) and the error counter grows.
func (c *DepthCollector) Collect(ch chan<- prometheus.Metric) {
	stats, ok := c.current()
	c.errors.Collect(ch)
	if !ok {
		return
	}
	type key struct{ queue, state string }
	jobs := map[key]int64{}
	ages := map[string]float64{}
	queues := map[string]bool{}
	for q := range Queues() {
		queues[q] = true
	}
	for _, s := range stats {
		queues[s.Queue] = true
		jobs[key{s.Queue, s.State}] = s.Jobs
		if s.State == "available" {
			ages[s.Queue] = s.OldestAge.Seconds()
		}
	}
	for q := range queues {
		for _, st := range DepthStates {
			ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(jobs[key{q, st}]), q, st)
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, ages[q], q)
	}
}

// current returns the cached figures, reading them again once they are older than the TTL.
// ok is false only when no read has ever succeeded.
func (c *DepthCollector) current() ([]QueueStat, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.fetched.IsZero() && now.Sub(c.fetched) < c.ttl {
		return c.stats, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), depthTimeout)
	defer cancel()
	stats, err := c.query(ctx)
	if err != nil {
		c.errors.Inc()
		if c.log != nil {
			c.log.Warn("queue depth metrics: read failed", "error", err)
		}
		return c.stats, !c.fetched.IsZero()
	}
	c.stats, c.fetched = stats, now
	return stats, true
}

var _ prometheus.Collector = (*DepthCollector)(nil)
