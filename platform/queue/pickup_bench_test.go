package queue_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"

	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

type pickupArgs struct {
	Seq int `json:"seq"`
}

func (pickupArgs) Kind() string { return "queuebench.pickup" }

type pickupWorker struct {
	river.WorkerDefaults[pickupArgs]
	mu      sync.Mutex
	started map[int]time.Time
	done    chan struct{}
	want    int
}

func (w *pickupWorker) Work(_ context.Context, j *river.Job[pickupArgs]) error {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, dup := w.started[j.Args.Seq]; !dup {
		w.started[j.Args.Seq] = now
		if len(w.started) == w.want {
			close(w.done)
		}
	}
	return nil
}

// BenchmarkPickupLatency measures the time from an insert's commit (by an insert-only client,
// as in `axon serve`) to the start of Work, over 200 jobs inserted every 20 ms, for the
// LISTEN driver `axon work` uses (riverdatabasesql.NewWithPgxListener) and for the poll-only
// lib/pq driver (riverdatabasesql.New) with the same fetch settings. Run it with
//
//	go test -run '^$' -bench PickupLatency -benchtime 1x ./platform/queue/
func BenchmarkPickupLatency(b *testing.B) {
	const jobs, gap = 200, 20 * time.Millisecond
	db := pgtest.DB(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	type inserter interface {
		InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	}
	serveInserter := func(workers *river.Workers) (inserter, error) { return queue.NewInsertOnly(db.DB.DB, workers, log) }
	run := func(b *testing.B, newInserter func(*river.Workers) (inserter, error),
		newClient func(workers *river.Workers, q string) (func(context.Context) error, func(context.Context) error),
	) {
		for b.Loop() {
			q := "qb_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
			w := &pickupWorker{started: map[int]time.Time{}, done: make(chan struct{}), want: jobs}
			workers := river.NewWorkers()
			river.AddWorker(workers, w)
			startFn, stopFn := newClient(workers, q)
			if err := startFn(context.Background()); err != nil {
				b.Fatal(err)
			}
			ins, err := newInserter(workers)
			if err != nil {
				b.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // let the client settle (listener connected, leader elected)
			committed := make([]time.Time, jobs)
			for i := range jobs {
				err := db.InTx(context.Background(), func(tx *sqlx.Tx) error {
					_, err := ins.InsertTx(context.Background(), tx.Tx, pickupArgs{Seq: i}, &river.InsertOpts{Queue: q})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				committed[i] = time.Now()
				time.Sleep(gap)
			}
			select {
			case <-w.done:
			case <-time.After(30 * time.Second):
				b.Fatalf("only %d of %d jobs worked", len(w.started), jobs)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = stopFn(ctx)
			cancel()

			lat := make([]time.Duration, jobs)
			for i := range jobs {
				lat[i] = w.started[i].Sub(committed[i])
			}
			slices.Sort(lat)
			p := func(q float64) float64 { return float64(lat[int(q*float64(jobs-1))].Microseconds()) / 1000 }
			b.ReportMetric(p(0.50), "p50-ms")
			b.ReportMetric(p(0.95), "p95-ms")
			b.ReportMetric(p(0.99), "p99-ms")
			b.Logf("%s: %d jobs, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms", b.Name(), jobs, p(0.5), p(0.95), p(0.99), p(1))
		}
	}

	listener := func(workers *river.Workers, q string) (func(context.Context) error, func(context.Context) error) {
		w, err := queue.NewWorker(context.Background(), queue.WorkerOptions{
			DB: db.DB.DB, DatabaseURL: pgtest.URL(b), Workers: workers, Logger: log,
			Queues: map[string]river.QueueConfig{q: {MaxWorkers: 10}},
		})
		if err != nil {
			b.Fatal(err)
		}
		return w.Start, w.Stop
	}
	b.Run("listen", func(b *testing.B) { run(b, serveInserter, listener) })
	// The same, with an inserter on River's default FetchCooldown (100 ms), which also
	// throttles insert notifications per queue: what NewInsertOnly had before.
	b.Run("listen-default-insert-cooldown", func(b *testing.B) {
		run(b, func(workers *river.Workers) (inserter, error) {
			return river.NewClient(riverdatabasesql.New(db.DB.DB), &river.Config{Workers: workers, Logger: log})
		}, listener)
	})
	b.Run("poll", func(b *testing.B) {
		run(b, serveInserter, func(workers *river.Workers, q string) (func(context.Context) error, func(context.Context) error) {
			// The same fetch settings as queue.NewWorker, without the listener.
			c, err := river.NewClient(riverdatabasesql.New(db.DB.DB), &river.Config{
				Workers: workers, Queues: map[string]river.QueueConfig{q: {MaxWorkers: 10}}, Logger: log,
				FetchCooldown: 10 * time.Millisecond, FetchPollInterval: time.Second,
			})
			if err != nil {
				b.Fatal(err)
			}
			return c.Start, c.Stop
		})
	})
}
