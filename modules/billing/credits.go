package billing

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/billing/credit"
	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/modules/email/mail"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/pg"
)

// The credits contract lives in package credit (which other modules import instead of
// this one); these aliases keep billing's own code unchanged.

// Credits is the contract other modules use to read and move a workspace's credits
// (credit.Credits).
type Credits = credit.Credits

// Reason says why credits moved (credit_ledger.reason).
type Reason = credit.Reason

// The ledger reasons (credit.Reason*).
const (
	ReasonPlanGrant       = credit.ReasonPlanGrant
	ReasonTopupPurchase   = credit.ReasonTopupPurchase
	ReasonMessageConsumed = credit.ReasonMessageConsumed
	ReasonVoiceConsumed   = credit.ReasonVoiceConsumed
	ReasonTaggingConsumed = credit.ReasonTaggingConsumed
	ReasonRefund          = credit.ReasonRefund
	ReasonAdjustment      = credit.ReasonAdjustment
)

// Credit costs of consumption (credit.Cost*).
const (
	CostReply       = credit.CostReply
	CostTagging     = credit.CostTagging
	CostVoiceMinute = credit.CostVoiceMinute
)

// Deduction takes credits for consumption (credit.Deduction).
type Deduction = credit.Deduction

// Grant adds credits (credit.Grant).
type Grant = credit.Grant

// Refund gives back credits of an earlier deduction (credit.Refund).
type Refund = credit.Refund

// ErrInsufficientCredits is returned by Deduct when the balance is below the amount: the
// same value as credit.ErrInsufficientCredits, so errors.Is matches either.
var ErrInsufficientCredits = credit.ErrInsufficientCredits

// Notice kinds in billing_notices.
const noticeLowCredits = "low_credits"

// ledger implements Credits on Postgres.
type ledger struct {
	db     *pg.DB
	store  store
	mailer mail.Mailer
	owners Addresses
}

var _ Credits = (*ledger)(nil)

// change is one signed movement of credits.
type change struct {
	workspaceID string
	delta       int
	reason      Reason
	refID       string
	key         string
}

// Balance implements Credits.
func (l *ledger) Balance(ctx context.Context, workspaceID string) (int, error) {
	if !isUUID(workspaceID) {
		return 0, apperr.NotFoundf("Workspace")
	}
	return l.store.balance(ctx, l.db, workspaceID)
}

// Deduct implements Credits.
func (l *ledger) Deduct(ctx context.Context, tx *sqlx.Tx, d Deduction) (int, error) {
	switch d.Reason {
	case ReasonMessageConsumed, ReasonVoiceConsumed, ReasonTaggingConsumed, ReasonAdjustment:
	default:
		return 0, fmt.Errorf("billing: %q is not a deduction reason", d.Reason)
	}
	if d.Amount <= 0 {
		return 0, fmt.Errorf("billing: deduction amount %d must be positive", d.Amount)
	}
	return l.apply(ctx, tx, change{d.WorkspaceID, -d.Amount, d.Reason, d.RefID, d.IdempotencyKey})
}

// Grant implements Credits.
func (l *ledger) Grant(ctx context.Context, tx *sqlx.Tx, g Grant) (int, error) {
	switch g.Reason {
	case ReasonPlanGrant, ReasonTopupPurchase, ReasonAdjustment:
	default:
		return 0, fmt.Errorf("billing: %q is not a grant reason", g.Reason)
	}
	if g.Amount <= 0 {
		return 0, fmt.Errorf("billing: grant amount %d must be positive", g.Amount)
	}
	return l.apply(ctx, tx, change{g.WorkspaceID, g.Amount, g.Reason, g.RefID, g.IdempotencyKey})
}

// Refund implements Credits.
func (l *ledger) Refund(ctx context.Context, tx *sqlx.Tx, r Refund) (int, error) {
	if r.Amount <= 0 {
		return 0, fmt.Errorf("billing: refund amount %d must be positive", r.Amount)
	}
	return l.apply(ctx, tx, change{r.WorkspaceID, r.Amount, ReasonRefund, r.RefID, r.IdempotencyKey})
}

// apply runs the change in tx, or in a transaction of its own when tx is nil.
func (l *ledger) apply(ctx context.Context, tx *sqlx.Tx, ch change) (int, error) {
	if !isUUID(ch.workspaceID) {
		return 0, apperr.NotFoundf("Workspace")
	}
	if tx != nil {
		bal, _, err := l.applyTx(ctx, tx, ch)
		return bal, err
	}
	var bal int
	err := l.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		bal, _, err = l.applyTx(ctx, tx, ch)
		return err
	})
	return bal, err
}

// applyTx moves the balance, writes the ledger row and publishes credits_updated in one
// statement (qApplyChange; the conditional UPDATE cannot overdraw: concurrent deductions
// queue on the workspace row and re-check credit_balance + delta >= 0 on the newest
// version). It never leaves tx aborted: a lost race on the idempotency key is undone by a
// compensating UPDATE instead of an error. applied is false when the idempotency key had
// been used already.
func (l *ledger) applyTx(ctx context.Context, tx *sqlx.Tx, ch change) (balance int, applied bool, err error) {
	r, err := l.store.applyChange(ctx, tx, pg.NewID(), ch)
	if err != nil {
		return 0, false, fmt.Errorf("billing: apply %s: %w", ch.reason, err)
	}
	switch {
	case r.Updated != nil && r.Logged != nil:
		bal := *r.Updated
		if ch.delta < 0 && r.Plan != nil {
			if err := l.maybeNotifyLow(ctx, tx, ch.workspaceID, *r.Plan, bal); err != nil {
				return 0, false, err
			}
		}
		return bal, true, nil
	case r.Updated != nil:
		// A concurrent transaction committed the same idempotency key between our check
		// and our insert: undo our balance move, the change already happened once.
		bal, err := l.store.undoChange(ctx, tx, ch.workspaceID, ch.delta)
		if err != nil {
			return 0, false, fmt.Errorf("billing: undo duplicate %s: %w", ch.key, err)
		}
		return bal, false, nil
	}
	s, err := l.store.balanceAndKey(ctx, tx, ch.workspaceID, ch.key)
	if err != nil {
		return 0, false, err
	}
	if s.KeyUsed {
		return s.Balance, false, nil // a repeated idempotency key: no-op
	}
	return 0, false, ErrInsufficientCredits.WithDetails(map[string]any{"balance": s.Balance, "required": -ch.delta})
}

// maybeNotifyLow enqueues the low-credit e-mail to the owners when 0 < balance ≤ 10 % of the
// plan's monthly grant, at most once per workspace and UTC day (the billing_notices primary
// key decides, also between concurrent deductions).
func (l *ledger) maybeNotifyLow(ctx context.Context, tx *sqlx.Tx, workspaceID, plan string, balance int) error {
	grant := plans.MustGet(plan).MonthlyCredits
	if balance <= 0 || grant <= 0 || balance*10 > grant {
		return nil
	}
	fresh, err := l.store.insertNotice(ctx, tx, workspaceID, noticeLowCredits)
	if err != nil {
		return fmt.Errorf("billing: low-credit notice: %w", err)
	}
	if !fresh {
		return nil
	}
	to, name, err := ownersOf(ctx, tx, l.store, l.owners, workspaceID)
	if err != nil {
		return err
	}
	for _, addr := range to {
		if _, err := l.mailer.Enqueue(ctx, tx, mail.Message{
			WorkspaceID: workspaceID, To: addr, Template: mail.TemplateLowCredits,
			Data: map[string]any{"WorkspaceName": name, "Balance": strconv.Itoa(balance), "Plan": plan},
		}); err != nil {
			return fmt.Errorf("billing: low-credit e-mail: %w", err)
		}
	}
	return nil
}

// monthStart is the first instant of t's UTC month.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ownersOf returns the addresses of the workspace's owners and its name, for a notice
// written in tx.
func ownersOf(ctx context.Context, tx *sqlx.Tx, st store, owners Addresses, workspaceID string) (to []string, workspaceName string, err error) {
	to, err = owners.OwnerAddresses(ctx, tx, workspaceID)
	if err != nil || len(to) == 0 {
		return nil, "", err
	}
	workspaceName, err = st.workspaceName(ctx, tx, workspaceID)
	return to, workspaceName, err
}

// isUUID reports whether s is a canonical UUID (36 characters): anything else cannot be a
// workspace id.
func isUUID(s string) bool { return len(s) == 36 && uuid.Validate(s) == nil }
