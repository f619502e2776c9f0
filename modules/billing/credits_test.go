package billing

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/realtime"
)

func TestSignupGrantIsIdempotent(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{noStripe: true})
	ws := te.NewWorkspace(plans.Starter, 0)
	for range 2 {
		if err := te.inTx(t, func(tx *sqlx.Tx) error { return te.mod.SignupGrant(context.Background(), tx, ws.ID) }); err != nil {
			t.Fatal(err)
		}
	}
	if b := te.balance(t, ws.ID); b != plans.StarterCredits {
		t.Fatalf("balance = %d, want %d", b, plans.StarterCredits)
	}
	if n := te.count(t, `SELECT count(*) FROM credit_ledger WHERE workspace_id = $1 AND reason = 'PLAN_GRANT' AND idempotency_key = $2`,
		ws.ID, "signup:"+ws.ID); n != 1 {
		t.Fatalf("signup ledger rows = %d, want 1", n)
	}
	if n := te.count(t, `SELECT count(*) FROM realtime_events WHERE workspace_id = $1 AND type = $2 AND (payload->>'balance')::int = 500`,
		ws.ID, realtime.TypeCreditsUpdated); n != 1 {
		t.Fatalf("credits_updated events = %d, want 1", n)
	}
}

func TestSignupGrantRollsBackWithItsTransaction(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{noStripe: true})
	ws := te.NewWorkspace(plans.Starter, 0)
	boom := errors.New("registration failed later")
	err := te.inTx(t, func(tx *sqlx.Tx) error {
		if err := te.mod.SignupGrant(context.Background(), tx, ws.ID); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if b := te.balance(t, ws.ID); b != 0 {
		t.Fatalf("balance = %d after rollback, want 0", b)
	}
}

func TestDeductGrantRefund(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{noStripe: true})
	ctx := context.Background()
	c := te.mod.Credits()
	ws := te.NewWorkspace(plans.Builder, 100)

	b, err := c.Deduct(ctx, nil, Deduction{WorkspaceID: ws.ID, Amount: CostReply, Reason: ReasonMessageConsumed, RefID: "msg-1", IdempotencyKey: "reply:msg-1:" + ws.ID})
	if err != nil || b != 99 {
		t.Fatalf("deduct = %d, %v; want 99", b, err)
	}
	// A retried job repeats the key: no second charge, the current balance comes back.
	b, err = c.Deduct(ctx, nil, Deduction{WorkspaceID: ws.ID, Amount: CostReply, Reason: ReasonMessageConsumed, RefID: "msg-1", IdempotencyKey: "reply:msg-1:" + ws.ID})
	if err != nil || b != 99 {
		t.Fatalf("repeated deduct = %d, %v; want 99", b, err)
	}
	b, err = c.Refund(ctx, nil, Refund{WorkspaceID: ws.ID, Amount: 1, RefID: "msg-1", IdempotencyKey: "refund:msg-1:" + ws.ID})
	if err != nil || b != 100 {
		t.Fatalf("refund = %d, %v; want 100", b, err)
	}
	b, err = c.Grant(ctx, nil, Grant{WorkspaceID: ws.ID, Amount: 50, Reason: ReasonAdjustment})
	if err != nil || b != 150 {
		t.Fatalf("grant = %d, %v; want 150", b, err)
	}
	_, err = c.Deduct(ctx, nil, Deduction{WorkspaceID: ws.ID, Amount: 151, Reason: ReasonVoiceConsumed})
	if !errors.Is(err, ErrInsufficientCredits) || apperr.As(err).Status() != 402 {
		t.Fatalf("overdraw err = %v, want INSUFFICIENT_CREDITS 402", err)
	}
	if got, _ := c.Balance(ctx, ws.ID); got != 150 {
		t.Fatalf("Balance = %d, want 150", got)
	}
	if te.balance(t, ws.ID) != 150 {
		t.Fatal("balance moved by a refused deduction")
	}

	// Contract misuse fails loudly; an unknown workspace is NOT_FOUND.
	if _, err := c.Deduct(ctx, nil, Deduction{WorkspaceID: ws.ID, Amount: 1, Reason: ReasonPlanGrant}); err == nil {
		t.Fatal("PLAN_GRANT accepted as a deduction reason")
	}
	if _, err := c.Grant(ctx, nil, Grant{WorkspaceID: ws.ID, Amount: 0, Reason: ReasonAdjustment}); err == nil {
		t.Fatal("zero grant accepted")
	}
	if _, err := c.Balance(ctx, "0190b3f2-0000-7000-8000-000000000000"); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("unknown workspace: %v", err)
	}
	if _, err := c.Deduct(ctx, nil, Deduction{WorkspaceID: "not-a-uuid", Amount: 1, Reason: ReasonMessageConsumed}); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("bad workspace id: %v", err)
	}
}

// A refused deduction inside the caller's transaction leaves that transaction usable and
// writes nothing.
func TestDeductInCallerTransaction(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{noStripe: true})
	ctx := context.Background()
	c := te.mod.Credits()
	ws := te.NewWorkspace(plans.Starter, 3)
	err := te.inTx(t, func(tx *sqlx.Tx) error {
		if _, err := c.Deduct(ctx, tx, Deduction{WorkspaceID: ws.ID, Amount: 2, Reason: ReasonTaggingConsumed, IdempotencyKey: "tag:conv-1:" + ws.ID}); err != nil {
			return err
		}
		_, err := c.Deduct(ctx, tx, Deduction{WorkspaceID: ws.ID, Amount: 2, Reason: ReasonTaggingConsumed, IdempotencyKey: "tag:conv-2:" + ws.ID})
		if !errors.Is(err, ErrInsufficientCredits) {
			return fmt.Errorf("second deduction: %v, want insufficient", err)
		}
		// The same key again inside the same transaction is a no-op.
		b, err := c.Deduct(ctx, tx, Deduction{WorkspaceID: ws.ID, Amount: 2, Reason: ReasonTaggingConsumed, IdempotencyKey: "tag:conv-1:" + ws.ID})
		if err != nil || b != 1 {
			return fmt.Errorf("repeat in tx = %d, %v", b, err)
		}
		var one int
		return tx.GetContext(ctx, &one, `SELECT 1`) // the transaction is not aborted
	})
	if err != nil {
		t.Fatal(err)
	}
	if b := te.balance(t, ws.ID); b != 1 {
		t.Fatalf("balance = %d, want 1", b)
	}
	if n := te.count(t, `SELECT count(*) FROM credit_ledger WHERE workspace_id = $1 AND reason = 'TAGGING_CONSUMED'`, ws.ID); n != 1 {
		t.Fatalf("tagging rows = %d, want 1", n)
	}
}

// Concurrent deductions never overdraw: exactly the balance's worth succeed.
func TestConcurrentDeductionsNeverOverdraw(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{noStripe: true})
	ws := te.NewWorkspace(plans.Starter, 120)
	res := runDeductions(te.mod.Credits(), ws.ID, 20, 10)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.ok != 120 || res.refused != 80 {
		t.Fatalf("succeeded %d, refused %d; want 120 and 80", res.ok, res.refused)
	}
	if b := te.balance(t, ws.ID); b != 0 {
		t.Fatalf("final balance = %d, want 0", b)
	}
}

// Many concurrent calls with one idempotency key apply exactly once.
func TestConcurrentSameKeyAppliesOnce(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{noStripe: true})
	ws := te.NewWorkspace(plans.Starter, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := te.mod.Credits().Grant(context.Background(), nil, Grant{WorkspaceID: ws.ID, Amount: 2000, Reason: ReasonTopupPurchase, IdempotencyKey: "stripe:cs_same:" + ws.ID})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if b := te.balance(t, ws.ID); b != 2000 {
		t.Fatalf("balance = %d, want 2000", b)
	}
}

func TestLowCreditEmailOncePerDay(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{noStripe: true})
	ctx := context.Background()
	ws := te.NewWorkspace(plans.Starter, 60) // STARTER grants 500: low at ≤ 50
	second := te.AddMember(ws, authn.RoleOwner)
	te.AddMember(ws, authn.RoleAdmin)
	lowMails := func() int {
		return te.count(t, `SELECT count(*) FROM emails WHERE workspace_id = $1 AND template = 'low_credits'`, ws.ID)
	}
	deduct := func(n int) {
		t.Helper()
		if _, err := te.mod.Credits().Deduct(ctx, nil, Deduction{WorkspaceID: ws.ID, Amount: n, Reason: ReasonMessageConsumed}); err != nil {
			t.Fatal(err)
		}
	}
	deduct(5) // 55
	if n := lowMails(); n != 0 {
		t.Fatalf("low-credit mails at 55 = %d, want 0", n)
	}
	deduct(5) // 50: one mail per owner
	if n := lowMails(); n != 2 {
		t.Fatalf("low-credit mails at 50 = %d, want 2 (both owners, not the admin)", n)
	}
	if n := te.count(t, `SELECT count(*) FROM emails WHERE workspace_id = $1 AND "to" = $2`, ws.ID, second.Email); n != 1 {
		t.Fatalf("second owner mails = %d", n)
	}
	deduct(5) // 45: same day, no more mail
	if n := lowMails(); n != 2 {
		t.Fatalf("low-credit mails after a second low deduction = %d, want 2", n)
	}
}

type deductResult struct {
	ok, refused int64
	err         error
}

// runDeductions runs goroutines × each deductions of 1 credit.
func runDeductions(c Credits, ws string, goroutines, each int) deductResult {
	var ok, refused atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				_, err := c.Deduct(context.Background(), nil, Deduction{WorkspaceID: ws, Amount: 1, Reason: ReasonMessageConsumed})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrInsufficientCredits):
					refused.Add(1)
				default:
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return deductResult{ok: ok.Load(), refused: refused.Load(), err: firstErr}
}

// The compensation path: transaction B passes the key check while A holds the same key
// uncommitted (B works on another workspace, so no row lock orders them); B's ledger insert
// waits for A, finds the key taken on commit, and B must undo its balance move.
func TestIdempotencyRaceIsUndone(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{noStripe: true})
	ctx := context.Background()
	c := te.mod.Credits()
	wsA, wsB := te.NewWorkspace(plans.Starter, 0), te.NewWorkspace(plans.Starter, 0)
	key := "race:" + wsA.ID

	txA, err := te.DB.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Grant(ctx, txA, Grant{WorkspaceID: wsA.ID, Amount: 10, Reason: ReasonAdjustment, IdempotencyKey: key}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var balB int
	go func() {
		var err error
		balB, err = c.Grant(ctx, nil, Grant{WorkspaceID: wsB.ID, Amount: 10, Reason: ReasonAdjustment, IdempotencyKey: key})
		done <- err
	}()
	// Wait until B is blocked on A's key, then commit A.
	apitestEventually(t, func() bool {
		return te.count(t, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO credit_ledger%'`) > 0
	})
	if err := txA.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if balB != 0 || te.balance(t, wsB.ID) != 0 {
		t.Fatalf("B's balance = %d (returned %d), want 0: the duplicate key must not credit", te.balance(t, wsB.ID), balB)
	}
	if te.balance(t, wsA.ID) != 10 {
		t.Fatal("A's grant lost")
	}
}
