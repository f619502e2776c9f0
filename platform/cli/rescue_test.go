package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/lib/pq"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/cli"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

type rescuedArgs struct{}

func (rescuedArgs) Kind() string { return "clitest.rescued" }

type rescuedWorker struct {
	river.WorkerDefaults[rescuedArgs]
}

func (*rescuedWorker) Timeout(*river.Job[rescuedArgs]) time.Duration       { return 10 * time.Second }
func (*rescuedWorker) Work(context.Context, *river.Job[rescuedArgs]) error { return nil }

// rescuerModule declares clitest.rescued for the short rescue (kernel.Rescuer).
type rescuerModule struct{}

func (rescuerModule) Name() string       { return "rescuer" }
func (rescuerModule) Routes(*echo.Group) {}
func (rescuerModule) Workers(w *river.Workers) error {
	return river.AddWorkerSafely(w, &rescuedWorker{})
}

func (rescuerModule) Rescues() []queue.Rescue {
	return []queue.Rescue{queue.RescueOf[rescuedArgs](&rescuedWorker{})}
}

// TestWorkRescuesDeclaredKinds: `axon work` passes the modules' declared rescues to its
// River client, which runs queue.rescue when elected: a job of a declared kind left running
// by a dead worker longer than its threshold is taken back and worked.
func TestWorkRescuesDeclaredKinds(t *testing.T) {
	db := pgtest.DB(t)
	var id int64
	if err := db.Get(&id, `INSERT INTO river_job (args, kind, max_attempts, queue, state, attempt, attempted_at, attempted_by)
	    VALUES ('{}', $1, 5, $2, 'running', 1, now() - interval '1 minute', $3) RETURNING id`,
		rescuedArgs{}.Kind(), queue.QueueDefault, pq.Array([]string{"dead-worker"})); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"APP_ENV": "test", "DATABASE_URL": pgtest.URL(t),
		"JWT_SECRET": "cli-test-SECRET-0123456789-0123456789", "LOG_LEVEL": "info", "LOG_FORMAT": "json",
	}
	o, _, stderr := options(env, "work")
	o.Modules = func(context.Context, *kernel.Deps) ([]kernel.Module, error) {
		return []kernel.Module{rescuerModule{}}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cli.Execute(ctx, o) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("work: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("work did not stop within 20 s")
		}
	}()

	deadline := time.Now().Add(60 * time.Second)
	for {
		var state, errs string
		if err := db.QueryRow(`SELECT state, coalesce(errors::text, '') FROM river_job WHERE id = $1`, id).Scan(&state, &errs); err != nil {
			t.Fatal(err)
		}
		if state == "completed" {
			if !strings.Contains(errs, "rescued by queue.rescue") {
				t.Fatalf("completed without a rescue entry: %s", errs)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s after 60 s; work log:\n%s", state, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
