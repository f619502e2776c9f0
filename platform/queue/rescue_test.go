package queue_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/testkit/pgtest"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
)

// rescueHelperEnv makes the test binary a bare worker that starts a slowArgs job and never
// finishes it (TestKilledWorkerJobIsRescued kills it); rescueHelperQueueEnv is its queue.
const (
	rescueHelperEnv      = "QUEUE_RESCUE_HELPER_DB"
	rescueHelperQueueEnv = "QUEUE_RESCUE_HELPER_QUEUE"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(rescueHelperEnv); url != "" {
		os.Exit(rescueHelper(url, os.Getenv(rescueHelperQueueEnv)))
	}
	os.Exit(m.Run())
}

// slowArgs is a rescued kind in these tests; slowTimeout is its worker's attempt timeout.
type slowArgs struct {
	Marker string `json:"marker"`
}

func (slowArgs) Kind() string { return "queuetest.slow" }

const slowTimeout = time.Second

// slowWorker hangs forever when hang is set (the helper: it is killed mid-attempt), else
// records each attempt and succeeds.
type slowWorker struct {
	river.WorkerDefaults[slowArgs]
	hang bool
	out  io.Writer
	mu   sync.Mutex
	runs map[string]int
	done chan string
}

func (w *slowWorker) Timeout(*river.Job[slowArgs]) time.Duration { return slowTimeout }

func (w *slowWorker) Work(_ context.Context, j *river.Job[slowArgs]) error {
	if w.hang {
		fmt.Fprintln(w.out, "started", j.Args.Marker)
		select {} // ignores its context too: only the kill ends this attempt
	}
	w.mu.Lock()
	w.runs[j.Args.Marker]++
	w.mu.Unlock()
	w.done <- j.Args.Marker
	return nil
}

func (w *slowWorker) count(marker string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.runs[marker]
}

func rescueHelper(url, q string) int {
	db, err := sql.Open("postgres", url)
	if err != nil {
		fmt.Println("helper:", err)
		return 1
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &slowWorker{hang: true, out: os.Stdout})
	w, err := queue.NewWorker(context.Background(), queue.WorkerOptions{
		DB: db, DatabaseURL: url, Workers: workers, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Queues: map[string]river.QueueConfig{q: {MaxWorkers: 1}},
	})
	if err == nil {
		err = w.Start(context.Background())
	}
	if err != nil {
		fmt.Println("helper:", err)
		return 1
	}
	fmt.Println("ready")
	select {}
}

func uniqueQueue() string { return "qr_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12] }

// TestKilledWorkerJobIsRescued: a worker process is SIGKILLed while it runs a job of a
// rescued kind, leaving the row running. Another worker (elected leader once the dead one's
// lease lapses) runs queue.rescue, which makes the job available again; it is worked once
// more and completes, and later sweeps leave the completed job alone.
func TestKilledWorkerJobIsRescued(t *testing.T) {
	db := pgtest.DB(t)
	url := pgtest.URL(t)
	q := uniqueQueue()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), rescueHelperEnv+"="+url, rescueHelperQueueEnv+"="+q)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok || l != want {
				t.Fatalf("helper said %q (open %v), want %q", l, ok, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("helper did not say %q", want)
		}
	}
	expect("ready")

	survivorJobs := &slowWorker{runs: map[string]int{}, done: make(chan string, 16)}
	workers := river.NewWorkers()
	river.AddWorker(workers, survivorJobs)
	ins, err := queue.NewInsertOnly(db.DB.DB, workers, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	marker := "killed-" + uuid.NewString()
	var id int64
	if err := db.InTx(context.Background(), func(tx *sqlx.Tx) error {
		res, err := ins.InsertTx(context.Background(), tx.Tx, slowArgs{Marker: marker}, &river.InsertOpts{Queue: q, MaxAttempts: 3})
		if err == nil {
			id = res.Job.ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	expect("started " + marker)
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()

	var state string
	if err := db.Get(&state, `SELECT state FROM river_job WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if state != "running" {
		t.Fatalf("after the kill the job is %q, want running (left by the dead worker)", state)
	}

	logs := &syncbuf.Buffer{}
	w, err := queue.NewWorker(context.Background(), queue.WorkerOptions{
		DB: db.DB.DB, DatabaseURL: url, Workers: workers,
		Logger:      observe.NewLogger(logs, observe.LogOptions{Level: slog.LevelInfo, Format: "json"}),
		Queues:      map[string]river.QueueConfig{q: {MaxWorkers: 1}},
		Rescues:     []queue.Rescue{{Kind: slowArgs{}.Kind(), Timeout: slowTimeout, After: 2 * slowTimeout}},
		RescueEvery: time.Second,
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
		_ = w.Stop(ctx)
	})

	// When the dead process held River's leadership, its lease lapses first (about 15-20 s);
	// the survivor runs queue.rescue as soon as it is elected.
	select {
	case m := <-survivorJobs.done:
		if m != marker {
			t.Fatalf("worked %q, want %q", m, marker)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("the killed worker's job was not worked again within 90 s; logs:\n%s", logs.String())
	}
	completed := time.Now()
	t.Logf("killed worker's job worked again %s after the kill", completed.Sub(killed).Round(100*time.Millisecond))

	// Two more sweeps after completion must leave the job alone: wait for them by their
	// rows (queue.rescue jobs inserted after the completion and completed).
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM river_job WHERE kind = $1 AND state = 'completed' AND created_at > $2`,
			queue.RescueKind, completed); err != nil {
			t.Fatal(err)
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two queue.rescue runs after the completion within 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := survivorJobs.count(marker); n != 1 {
		t.Fatalf("the rescued job was worked %d times by the survivor, want exactly 1", n)
	}

	job, err := w.JobGet(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if job.State != rivertype.JobStateCompleted || job.Attempt != 2 {
		t.Fatalf("job state %s attempt %d, want completed at attempt 2", job.State, job.Attempt)
	}
	if len(job.Errors) != 1 || job.Errors[0].Attempt != 1 || !strings.Contains(job.Errors[0].Error, "rescued by queue.rescue") {
		t.Fatalf("job errors %+v, want one rescue entry for attempt 1", job.Errors)
	}
	if !strings.Contains(logs.String(), "stuck job rescued") {
		t.Fatalf("no rescue log line; logs:\n%s", logs.String())
	}
}

// stuckRow inserts a job of args' kind on an unworked queue and sets it as a worker that
// took it startedAgo would have left it.
func stuckRow(t *testing.T, db *sqlx.DB, ins *queue.Client, args river.JobArgs, q string, attempt, maxAttempts int, startedAgo time.Duration, metadata string) int64 {
	t.Helper()
	tx, err := db.BeginTxx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ins.InsertTx(context.Background(), tx.Tx, args, &river.InsertOpts{Queue: q, MaxAttempts: maxAttempts})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE river_job SET state = 'running', attempt = $2,
	    attempted_at = now() - $3 * interval '1 millisecond', attempted_by = '{dead-worker}',
	    metadata = metadata || $4::jsonb WHERE id = $1`, res.Job.ID, attempt, startedAgo.Milliseconds(), metadata); err != nil {
		t.Fatal(err)
	}
	return res.Job.ID
}

// TestRescueStuck covers one sweep on rows left running (as a dead worker leaves them): an
// old job of a rescued kind is available again at once, in a shape River reads back; one
// with no attempt left is discarded; one whose cancel was requested is cancelled; a young
// one, one of another kind, and a non-running one are untouched; a second sweep does nothing.
func TestRescueStuck(t *testing.T) {
	db := pgtest.DB(t)
	q := uniqueQueue()
	workers := river.NewWorkers()
	river.AddWorker(workers, &slowWorker{})
	river.AddWorker(workers, newRecordWorker())
	ins, err := queue.NewInsertOnly(db.DB.DB, workers, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	rescues := []queue.Rescue{{Kind: slowArgs{}.Kind(), Timeout: time.Minute, After: 90 * time.Second}}
	old := 2 * time.Minute

	retried := stuckRow(t, db.DB, ins, slowArgs{Marker: "old"}, q, 1, 3, old, `{}`)
	exhausted := stuckRow(t, db.DB, ins, slowArgs{Marker: "last"}, q, 3, 3, old, `{}`)
	cancelled := stuckRow(t, db.DB, ins, slowArgs{Marker: "cancel"}, q, 1, 3, old, `{"cancel_attempted_at":"2026-01-01T00:00:00Z"}`)
	young := stuckRow(t, db.DB, ins, slowArgs{Marker: "young"}, q, 1, 3, 60*time.Second, `{}`)
	otherKind := stuckRow(t, db.DB, ins, recordArgs{Marker: "other"}, q, 1, 3, time.Hour, `{}`)
	retryable := stuckRow(t, db.DB, ins, slowArgs{Marker: "retryable"}, q, 1, 3, old, `{}`)
	if _, err := db.Exec(`UPDATE river_job SET state = 'retryable', scheduled_at = now() + interval '1 hour' WHERE id = $1`, retryable); err != nil {
		t.Fatal(err)
	}

	got, err := queue.RescueStuck(context.Background(), db.DB, rescues)
	if err != nil {
		t.Fatal(err)
	}
	states := map[int64]string{}
	for _, r := range got {
		if r.Queue == q {
			states[r.ID] = r.State
		}
	}
	want := map[int64]string{retried: "available", exhausted: "discarded", cancelled: "cancelled"}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Fatalf("rescued %v, want %v", states, want)
	}

	client, err := queue.NewInsertOnly(db.DB.DB, workers, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	get := func(id int64) *rivertype.JobRow {
		t.Helper()
		j, err := client.JobGet(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	var dbNow time.Time
	if err := db.Get(&dbNow, `SELECT now()`); err != nil {
		t.Fatal(err)
	}
	j := get(retried)
	if j.State != rivertype.JobStateAvailable || j.FinalizedAt != nil || j.ScheduledAt.After(dbNow) || dbNow.Sub(j.ScheduledAt) > time.Minute {
		t.Fatalf("retried job: state %s finalized %v scheduled %v (db now %v)", j.State, j.FinalizedAt, j.ScheduledAt, dbNow)
	}
	if len(j.Errors) != 1 || j.Errors[0].Attempt != 1 || j.Errors[0].At.IsZero() || !strings.Contains(j.Errors[0].Error, "rescued") {
		t.Fatalf("retried job errors %+v", j.Errors)
	}
	var meta map[string]any
	if err := json.Unmarshal(j.Metadata, &meta); err != nil || meta["river:rescue_count"] != float64(1) {
		t.Fatalf("retried job metadata %s", j.Metadata)
	}
	for id, st := range map[int64]rivertype.JobState{exhausted: rivertype.JobStateDiscarded, cancelled: rivertype.JobStateCancelled} {
		if j := get(id); j.State != st || j.FinalizedAt == nil || len(j.Errors) != 1 {
			t.Fatalf("job %d: state %s finalized %v errors %d, want %s, finalized, one error", id, j.State, j.FinalizedAt, len(j.Errors), st)
		}
	}
	for id, st := range map[int64]rivertype.JobState{young: rivertype.JobStateRunning, otherKind: rivertype.JobStateRunning, retryable: rivertype.JobStateRetryable} {
		if j := get(id); j.State != st || len(j.Errors) != 0 {
			t.Fatalf("job %d touched: state %s errors %d, want %s and none", id, j.State, len(j.Errors), st)
		}
	}

	again, err := queue.RescueStuck(context.Background(), db.DB, rescues)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again {
		if r.Queue == q {
			t.Fatalf("second sweep rescued %+v", r)
		}
	}
}

type noTimeoutWorker struct{ defaultTimeoutWorker }

func (noTimeoutWorker) Timeout(*river.Job[slowArgs]) time.Duration { return -1 }

type defaultTimeoutWorker struct {
	river.WorkerDefaults[slowArgs]
}

func (defaultTimeoutWorker) Work(context.Context, *river.Job[slowArgs]) error { return nil }

// TestRescueDeclarations: RescueOf takes the worker's own timeout (River's client default
// when the worker keeps it) and adds the margin; NewWorker refuses a rescue that could take
// a live attempt back (threshold not above the timeout, or no timeout) and duplicates.
func TestRescueDeclarations(t *testing.T) {
	if r := queue.RescueOf[slowArgs](&slowWorker{}); r.Kind != "queuetest.slow" || r.Timeout != slowTimeout || r.After != slowTimeout+queue.RescueMargin {
		t.Fatalf("RescueOf(slowWorker) = %+v", r)
	}
	if r := queue.RescueOf[slowArgs](defaultTimeoutWorker{}); r.Timeout != queue.JobTimeout || r.After != queue.JobTimeout+queue.RescueMargin {
		t.Fatalf("RescueOf(default timeout) = %+v", r)
	}
	db := pgtest.DB(t)
	for name, rs := range map[string][]queue.Rescue{
		"threshold equals timeout": {{Kind: "queuetest.slow", Timeout: time.Minute, After: time.Minute}},
		"threshold below timeout":  {{Kind: "queuetest.slow", Timeout: time.Minute, After: time.Second}},
		"no timeout":               {queue.RescueOf[slowArgs](noTimeoutWorker{})},
		"no kind":                  {{Timeout: time.Second, After: time.Minute}},
		"duplicate":                {queue.RescueOf[slowArgs](&slowWorker{}), queue.RescueOf[slowArgs](&slowWorker{})},
		"the rescue's own kind":    {{Kind: queue.RescueKind, Timeout: time.Second, After: time.Minute}},
	} {
		_, err := queue.NewWorker(context.Background(), queue.WorkerOptions{
			DB: db.DB.DB, DatabaseURL: pgtest.URL(t), Workers: river.NewWorkers(), Rescues: rs,
		})
		if err == nil {
			t.Errorf("%s: NewWorker accepted %+v", name, rs)
		}
	}
}

// TestRescuePinnedToRiverSchema: rescueSQL writes River's table as River v0.51.2 does. A
// River upgrade fails here until the statement is checked against the new release's
// JobGetStuck/JobRescueMany and JobRescuer, and RiverVersion is bumped.
func TestRescuePinnedToRiverSchema(t *testing.T) {
	// Test binaries carry no dependency versions in their build info: read go.mod.
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var version string
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/riverqueue/river" {
			version = f[1]
		}
	}
	if version != queue.RiverVersion {
		t.Fatalf("River is %s; queue.rescue's SQL was checked against %s: compare it with the new JobRescuer and bump riverVersion", version, queue.RiverVersion)
	}
	db := pgtest.DB(t)
	var cols []string
	if err := db.Select(&cols, `SELECT column_name || ' ' || udt_name FROM information_schema.columns
	    WHERE table_name = 'river_job' AND table_schema = current_schema() ORDER BY column_name`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{
		"attempt int2", "attempted_at timestamptz", "errors _jsonb", "finalized_at timestamptz",
		"kind text", "max_attempts int2", "metadata jsonb", "queue text", "scheduled_at timestamptz", "state river_job_state",
	} {
		if !slices.Contains(cols, c) {
			t.Errorf("river_job has no column %q (has %v)", c, cols)
		}
	}
	var states []string
	if err := db.Select(&states, `SELECT unnest(enum_range(NULL::river_job_state))::text`); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"running", "available", "discarded", "cancelled"} {
		if !slices.Contains(states, s) {
			t.Errorf("river_job_state has no %q (has %v)", s, states)
		}
	}
}

// TestRescueDead: the running jobs of a client whose heartbeat stopped are taken back
// whatever their kind (even one without a short rescue), and only those: not a live
// client's, not a client's that never wrote a heartbeat (an older version), not a job that
// started after the deadline; long-dead clients' rows are forgotten.
func TestRescueDead(t *testing.T) {
	db := pgtest.DB(t)
	q := uniqueQueue()
	workers := river.NewWorkers()
	river.AddWorker(workers, newRecordWorker())
	ins, err := queue.NewInsertOnly(db.DB.DB, workers, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	dead, live, ancient := "dead-"+uuid.NewString(), "live-"+uuid.NewString(), "ancient-"+uuid.NewString()
	t.Cleanup(func() {
		_, _ = db.Exec(`DELETE FROM queue_workers WHERE client_id = ANY($1)`, pq.Array([]string{dead, live, ancient}))
	})
	for id, ago := range map[string]string{dead: "2 minutes", live: "1 second", ancient: "2 hours"} {
		if _, err := db.Exec(`INSERT INTO queue_workers (client_id, started_at, heartbeat_at) VALUES ($1, now() - interval '3 hours', now() - $2::interval)`, id, ago); err != nil {
			t.Fatal(err)
		}
	}
	job := func(marker, by string, startedAgo time.Duration) int64 {
		id := stuckRow(t, db.DB, ins, recordArgs{Marker: marker}, q, 1, 3, startedAgo, `{}`)
		if _, err := db.Exec(`UPDATE river_job SET attempted_by = ARRAY['earlier-client', $2] WHERE id = $1`, id, by); err != nil {
			t.Fatal(err)
		}
		return id
	}
	ofDead := job("dead", dead, 2*time.Minute)
	ofLive := job("live", live, 2*time.Minute)
	ofUnknown := job("unknown", "never-beat-"+uuid.NewString(), 2*time.Minute)
	young := job("young", dead, 10*time.Second)

	got, err := queue.RescueDead(context.Background(), db.DB, 40*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rescued []int64
	for _, r := range got {
		if r.Queue == q {
			rescued = append(rescued, r.ID)
		}
	}
	if len(rescued) != 1 || rescued[0] != ofDead {
		t.Fatalf("rescued %v, want only the dead client's job %d", rescued, ofDead)
	}
	for id, want := range map[int64]string{ofDead: "available", ofLive: "running", ofUnknown: "running", young: "running"} {
		var st string
		if err := db.Get(&st, `SELECT state FROM river_job WHERE id = $1`, id); err != nil || st != want {
			t.Errorf("job %d: %q %v, want %s", id, st, err, want)
		}
	}
	var left []string
	if err := db.Select(&left, `SELECT client_id FROM queue_workers WHERE client_id = ANY($1) ORDER BY client_id`, pq.Array([]string{dead, live, ancient})); err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || slices.Contains(left, ancient) {
		t.Fatalf("queue_workers left %v, want the dead and live clients (the 2-hour-old one forgotten)", left)
	}
}

// TestWorkerHeartbeat: a started worker writes its heartbeat under its client id and
// removes it when it stops.
func TestWorkerHeartbeat(t *testing.T) {
	db := pgtest.DB(t)
	workers := river.NewWorkers()
	river.AddWorker(workers, newRecordWorker())
	w, err := queue.NewWorker(context.Background(), queue.WorkerOptions{
		DB: db.DB.DB, DatabaseURL: pgtest.URL(t), Workers: workers, Logger: slog.Default(),
		Queues: map[string]river.QueueConfig{uniqueQueue(): {MaxWorkers: 1}}, HeartbeatEvery: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	beat := func() (time.Time, bool) {
		var at time.Time
		err := db.Get(&at, `SELECT heartbeat_at FROM queue_workers WHERE client_id = $1`, w.ID())
		return at, err == nil
	}
	first, ok := beat()
	for i := 0; !ok && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
		first, ok = beat()
	}
	if !ok {
		t.Fatal("no heartbeat row after start")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if at, _ := beat(); at.After(first) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the heartbeat was not refreshed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := beat(); ok {
		t.Fatal("the heartbeat row outlived the worker")
	}
}
