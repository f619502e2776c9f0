package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/testkit/pgtest"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
)

// recordArgs is the test job: it records its marker, or fails when Fail is set.
type recordArgs struct {
	Marker string `json:"marker"`
	Fail   bool   `json:"fail"`
}

func (recordArgs) Kind() string { return "queuetest.record" }

type recordWorker struct {
	river.WorkerDefaults[recordArgs]
	mu     sync.Mutex
	worked map[string]time.Time
	seen   chan string
}

func newRecordWorker() *recordWorker {
	return &recordWorker{worked: map[string]time.Time{}, seen: make(chan string, 1024)}
}

func (w *recordWorker) Work(_ context.Context, j *river.Job[recordArgs]) error {
	now := time.Now()
	if j.Args.Fail {
		return errors.New("recorder asked to fail: " + j.Args.Marker)
	}
	w.mu.Lock()
	w.worked[j.Args.Marker] = now
	w.mu.Unlock()
	w.seen <- j.Args.Marker
	return nil
}

func (w *recordWorker) wasWorked(marker string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.worked[marker]
	return ok
}

type fixture struct {
	db       *pg.DB
	queue    string
	inserter *queue.Client
	worker   *recordWorker
	logs     *syncbuf.Buffer
}

// start runs a working client (the LISTEN driver, as `axon work` does) on a queue of its own
// and returns an insert-only client (as `axon serve` has).
func start(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.DB(t)
	f := &fixture{db: db, queue: "qt_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12], worker: newRecordWorker(), logs: &syncbuf.Buffer{}}
	log := observe.NewLogger(f.logs, observe.LogOptions{Level: slog.LevelInfo, Format: "json"})
	workers := river.NewWorkers()
	river.AddWorker(workers, f.worker)
	w, err := queue.NewWorker(context.Background(), queue.WorkerOptions{
		DB: db.DB.DB, DatabaseURL: pgtest.URL(t), Workers: workers, Logger: log,
		Queues: map[string]river.QueueConfig{f.queue: {MaxWorkers: 4}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	f.inserter, err = queue.NewInsertOnly(db.DB.DB, workers, log)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// insert enqueues one job in its own transaction; rollback makes the transaction fail after
// the insert.
func (f *fixture) insert(t *testing.T, args recordArgs, rollback bool) (int64, error) {
	t.Helper()
	var id int64
	err := f.db.InTx(context.Background(), func(tx *sqlx.Tx) error {
		res, err := f.inserter.InsertTx(context.Background(), tx.Tx, args, &river.InsertOpts{Queue: f.queue, MaxAttempts: 1})
		if err != nil {
			return err
		}
		id = res.Job.ID
		if rollback {
			return errors.New("business rule failed after the insert")
		}
		return nil
	})
	return id, err
}

func (f *fixture) await(t *testing.T, marker string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-f.worker.seen:
			if m == marker {
				return
			}
		case <-timeout:
			t.Fatalf("job %s not worked within 10 s", marker)
		}
	}
}

func TestJobInsertedInCommittedTxIsWorked(t *testing.T) {
	f := start(t)
	gone := "rolled-back-" + uuid.NewString()
	if _, err := f.insert(t, recordArgs{Marker: gone}, true); err == nil {
		t.Fatal("the rolled-back insert reported success")
	}
	kept := "committed-" + uuid.NewString()
	if _, err := f.insert(t, recordArgs{Marker: kept}, false); err != nil {
		t.Fatal(err)
	}
	f.await(t, kept)

	// The rolled-back job does not exist at all, so it can never be worked.
	var n int
	if err := f.db.Get(&n, `SELECT count(*) FROM river_job WHERE args->>'marker' = $1`, gone); err != nil {
		t.Fatal(err)
	}
	if n != 0 || f.worker.wasWorked(gone) {
		t.Fatalf("rolled-back job stored (%d rows) or worked (%v)", n, f.worker.wasWorked(gone))
	}
	var state string
	if err := f.db.Get(&state, `SELECT state FROM river_job WHERE args->>'marker' = $1`, kept); err != nil {
		t.Fatal(err)
	}
	if state != "completed" && state != "running" {
		t.Fatalf("committed job state %q", state)
	}
}

func TestErrorHandlerLogsFailedAttempt(t *testing.T) {
	f := start(t)
	marker := "fails-" + uuid.NewString()
	id, err := f.insert(t, recordArgs{Marker: marker, Fail: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(f.logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "job attempt failed" {
				continue
			}
			if m["jobId"] == float64(id) && m["kind"] == "queuetest.record" && m["level"] == "ERROR" &&
				strings.Contains(m["err"].(string), marker) && m["attempt"] == float64(1) && m["maxAttempts"] == float64(1) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 'job attempt failed' line with jobId %d and kind; logs:\n%s", id, f.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInsertOnlyRejectsUnknownKind(t *testing.T) {
	db := pgtest.DB(t)
	ins, err := queue.NewInsertOnly(db.DB.DB, river.NewWorkers(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	err = db.InTx(context.Background(), func(tx *sqlx.Tx) error {
		_, err := ins.InsertTx(context.Background(), tx.Tx, recordArgs{Marker: "x"}, nil)
		return err
	})
	if err == nil {
		t.Fatal("a job kind without a worker was inserted")
	}
}

func TestLazyBeforeSet(t *testing.T) {
	var l queue.Lazy
	if _, err := l.InsertTx(context.Background(), nil, recordArgs{}, nil); !errors.Is(err, queue.ErrNoClient) {
		t.Fatalf("InsertTx before Set = %v", err)
	}
	if _, err := l.InsertManyTx(context.Background(), nil, nil); !errors.Is(err, queue.ErrNoClient) {
		t.Fatalf("InsertManyTx before Set = %v", err)
	}
}

func TestBackoff(t *testing.T) {
	now := time.Now()
	if d := queue.FixedBackoff(10 * time.Second).Sub(now); d < 9*time.Second || d > 11*time.Second {
		t.Errorf("FixedBackoff(10s) = +%s", d)
	}
	for attempt, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: time.Minute} {
		d := time.Until(queue.ExponentialBackoff(attempt, time.Second, time.Minute))
		if d < want*85/100 || d > want*115/100 {
			t.Errorf("ExponentialBackoff(%d) = +%s, want %s ±10%%", attempt, d, want)
		}
	}
}
