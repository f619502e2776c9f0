package billing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

func TestGrantSchedule(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct{ now, want string }{
		{"2026-03-15T12:00:00Z", "2026-04-01T00:05:00Z"},
		{"2026-04-01T00:04:59Z", "2026-04-01T00:05:00Z"},
		{"2026-04-01T00:05:00Z", "2026-05-01T00:05:00Z"},
		{"2026-12-31T23:59:00Z", "2027-01-01T00:05:00Z"},
		{"2026-01-01T01:00:00+02:00", "2026-01-01T00:05:00Z"}, // 2025-12-31 23:00 UTC
	}
	for _, c := range cases {
		if got := grantSchedule.Next(utc(c.now)); !got.Equal(utc(c.want)) {
			t.Errorf("Next(%s) = %s, want %s", c.now, got.Format(time.RFC3339), c.want)
		}
	}
}

// Not parallel: the monthly grant walks every workspace of the test database, so it runs
// before the parallel tests start and cannot change their balances.
func TestMonthlyGrantOncePerMonth(t *testing.T) {
	te := newEnv(t, envOptions{noStripe: true})
	ctx := context.Background()
	starter := te.NewWorkspace(plans.Starter, 0)
	builder := te.NewWorkspace(plans.Builder, 5)
	pro := te.NewWorkspace(plans.Pro, 0)
	ent := te.NewWorkspace(plans.Enterprise, 7)

	// A month of its own per run (-count=N reuses the database; grants and unique jobs are
	// per month).
	year := 2100 + rand.IntN(7000)
	month, next := fmt.Sprintf("%d-07", year), fmt.Sprintf("%d-08", year)
	n, err := te.mod.svc.GrantMonthly(ctx, month)
	if err != nil || n < 3 {
		t.Fatalf("first run granted %d, %v", n, err)
	}
	n, err = te.mod.svc.GrantMonthly(ctx, month)
	if err != nil || n != 0 {
		t.Fatalf("second run in the same month granted %d, %v; want 0", n, err)
	}
	want := map[string]int{starter.ID: 500, builder.ID: 10_005, pro.ID: 50_000, ent.ID: 7}
	for id, b := range want {
		if got := te.balance(t, id); got != b {
			t.Errorf("workspace %s balance %d, want %d", id, got, b)
		}
	}
	if _, err := te.mod.svc.GrantMonthly(ctx, "July"); err == nil {
		t.Fatal("a bad month was accepted")
	}

	// The next month, through River: the periodic job's args and worker.
	te.StartWorker()
	tx, err := te.DB.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := te.Lazy.InsertTx(ctx, tx.Tx, MonthlyGrantArgs{Month: next}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	apitest.Eventually(t, 15*time.Second, func() bool { return te.balance(t, starter.ID) == 1000 }, "August grant")
	if got := te.balance(t, ent.ID); got != 7 {
		t.Fatalf("ENTERPRISE balance %d, want 7", got)
	}
	if n := te.count(t, `SELECT count(*) FROM credit_ledger WHERE workspace_id = $1 AND idempotency_key LIKE 'grant:%'`, starter.ID); n != 2 {
		t.Fatalf("grant rows %d, want 2", n)
	}
	if len(te.mod.PeriodicJobs()) != 1 {
		t.Fatal("billing.monthly_grant is not scheduled")
	}
}
