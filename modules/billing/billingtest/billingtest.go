// Package billingtest sets up billing's state for the tests of other packages, so that they
// never write billing's tables (workspaces' plan and credit columns, credit_ledger)
// themselves. The workspace must exist (auth creates it); every change keeps billing's
// invariant: the balance equals the sum of the ledger.
package billingtest

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/platform/pg"
)

// SetBalance sets the workspace's credit balance to credits (≥ 0) with one ADJUSTMENT
// ledger row for the difference.
func SetBalance(ctx context.Context, q sqlx.ExtContext, workspaceID string, credits int) error {
	if credits < 0 {
		return fmt.Errorf("billingtest: balance %d is negative", credits)
	}
	if err := exists(ctx, q, workspaceID); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, qSetBalance, pg.NewID(), workspaceID, credits); err != nil {
		return fmt.Errorf("billingtest: set balance: %w", err)
	}
	return nil
}

// SetPlan sets the workspace's plan (STARTER, BUILDER, PRO or ENTERPRISE) without a Stripe
// subscription.
func SetPlan(ctx context.Context, q sqlx.ExtContext, workspaceID, plan string) error {
	if _, ok := plans.Get(plan); !ok {
		return fmt.Errorf("billingtest: unknown plan %q", plan)
	}
	if err := exists(ctx, q, workspaceID); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, qSetPlan, workspaceID, plan); err != nil {
		return fmt.Errorf("billingtest: set plan: %w", err)
	}
	return nil
}

func exists(ctx context.Context, q sqlx.QueryerContext, workspaceID string) error {
	var n int
	if err := sqlx.GetContext(ctx, q, &n, qExists, workspaceID); err != nil {
		return fmt.Errorf("billingtest: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("billingtest: workspace %s does not exist", workspaceID)
	}
	return nil
}
