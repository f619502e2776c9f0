package billing

import (
	"context"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// A worker that starts after the 1st's 00:05 tick grants the current month at once (RunOnStart),
// to workspaces that existed before the month began; a workspace created this month has its
// signup grant and gets nothing more. Not parallel: the grant walks every workspace, and the
// periodic job is inserted by River's leader, which must be this test's worker.
func TestMonthlyGrantRunsWhenWorkerStarts(t *testing.T) {
	te := newEnv(t, envOptions{noStripe: true})
	ctx := context.Background()
	month := time.Now().UTC().Format("2006-01")
	old := te.NewWorkspace(plans.Builder, 0)
	fresh := te.NewWorkspace(plans.Builder, 0)
	if _, err := te.DB.ExecContext(ctx, `UPDATE workspaces SET created_at = date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 day' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	// An earlier test's run of this month's job would make the start-up insert a duplicate.
	if _, err := te.DB.ExecContext(ctx, `DELETE FROM river_job WHERE kind = 'billing.monthly_grant'`); err != nil {
		t.Fatal(err)
	}

	te.StartWorker()
	apitest.Eventually(t, 30*time.Second, func() bool {
		return te.count(t, `SELECT count(*) FROM river_job WHERE kind = 'billing.monthly_grant' AND state = 'completed' AND args->>'month' = $1`, month) == 1
	}, "the start-up monthly grant job completed")
	if got := te.balance(t, old.ID); got != 10_000 {
		t.Errorf("workspace from last month: balance %d, want the BUILDER grant 10000", got)
	}
	if got := te.balance(t, fresh.ID); got != 0 {
		t.Errorf("workspace created this month: balance %d, want 0 (its signup grant is the month's)", got)
	}
	// Run again (a second worker start, a retry): nothing more.
	if n, err := te.mod.svc.GrantMonthly(ctx, month); err != nil || n != 0 {
		t.Fatalf("second run granted %d, %v", n, err)
	}
}
