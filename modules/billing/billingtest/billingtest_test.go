package billingtest_test

import (
	"context"
	"testing"

	"github.com/axonhq/axon/modules/billing/billingtest"
	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/modules/internal/apptest"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

func TestSetBalanceAndPlanKeepTheLedgerInvariant(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apitest.Options{}, func(*kernel.Deps) ([]kernel.Module, error) { return nil, nil })
	ctx := context.Background()
	ws := env.NewWorkspace(plans.Starter, 100)

	state := func() (plan string, balance, sum, rows int) {
		t.Helper()
		var r struct {
			Plan    string `db:"plan"`
			Balance int    `db:"credit_balance"`
			Sum     int    `db:"sum"`
			Rows    int    `db:"rows"`
		}
		if err := env.DB.GetContext(ctx, &r, `
SELECT w.plan, w.credit_balance,
       (SELECT COALESCE(SUM(delta), 0) FROM credit_ledger WHERE workspace_id = w.id) AS sum,
       (SELECT count(*) FROM credit_ledger WHERE workspace_id = w.id) AS rows
FROM workspaces w WHERE w.id = $1`, ws.ID); err != nil {
			t.Fatal(err)
		}
		return r.Plan, r.Balance, r.Sum, r.Rows
	}

	for _, tc := range []struct {
		name              string
		plan              string
		credits           int
		wantBal, wantRows int
	}{
		{"lower", plans.Pro, 40, 40, 2},
		{"raise", plans.Builder, 1000, 1000, 3},
		{"same balance adds no row", plans.Enterprise, 1000, 1000, 3},
		{"zero", plans.Starter, 0, 0, 4},
	} {
		if err := billingtest.SetPlan(ctx, env.DB, ws.ID, tc.plan); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := billingtest.SetBalance(ctx, env.DB, ws.ID, tc.credits); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		plan, bal, sum, rows := state()
		if plan != tc.plan || bal != tc.wantBal || sum != bal || rows != tc.wantRows {
			t.Fatalf("%s: plan %s balance %d ledger sum %d rows %d; want %s %d (= sum) %d rows",
				tc.name, plan, bal, sum, rows, tc.plan, tc.wantBal, tc.wantRows)
		}
	}

	missing := "0192f0a4-7b1e-7c3d-8e9f-0a1b2c3d4e5f"
	if err := billingtest.SetBalance(ctx, env.DB, missing, 5); err == nil {
		t.Error("SetBalance of a missing workspace succeeded")
	}
	if err := billingtest.SetPlan(ctx, env.DB, ws.ID, "GOLD"); err == nil {
		t.Error("SetPlan accepted an unknown plan")
	}
	if err := billingtest.SetBalance(ctx, env.DB, ws.ID, -1); err == nil {
		t.Error("SetBalance accepted a negative balance")
	}
}
