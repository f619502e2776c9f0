package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/realtime"
)

// The ledger. qApplyChange moves the balance, writes the ledger row and publishes
// credits_updated in one statement: the UPDATE only matches when the balance stays ≥ 0 and
// the idempotency key is unused; the INSERT records the new balance; the event follows the
// ledger row (realtime.EventCTE). ON CONFLICT DO NOTHING covers the key being committed by
// a concurrent transaction after the NOT EXISTS check (then logged is NULL, no event is
// published and the caller undoes the move with qUndoChange).
var qApplyChange = `
WITH upd AS (
    UPDATE workspaces SET credit_balance = credit_balance + $3, updated_at = now()
    WHERE id = $2 AND credit_balance + $3 >= 0
      AND ($6::text IS NULL OR NOT EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = $6::text))
    RETURNING credit_balance, plan
), led AS (
    INSERT INTO credit_ledger (id, workspace_id, delta, reason, ref_id, idempotency_key, balance)
    SELECT $1, $2, $3, $4, $5, $6::text, credit_balance FROM upd
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING workspace_id, delta, reason, balance
), ` + realtime.EventCTE("ev", "led", "led.workspace_id", "NULL", "'"+realtime.TypeCreditsUpdated+"'",
	`jsonb_build_object('balance', led.balance, 'delta', led.delta, 'reason', led.reason)`) + `
SELECT (SELECT credit_balance FROM upd) AS updated, (SELECT balance FROM led) AS logged,
       (SELECT plan FROM upd) AS plan`

const (
	qUndoChange = `
UPDATE workspaces SET credit_balance = credit_balance - $2 WHERE id = $1 RETURNING credit_balance`

	qBalanceAndKey = `
SELECT credit_balance AS balance,
       ($2::text IS NOT NULL AND EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = $2::text)) AS key_used
FROM workspaces WHERE id = $1`

	qBalance = `SELECT credit_balance FROM workspaces WHERE id = $1`

	qInsertNotice = `
INSERT INTO billing_notices (workspace_id, kind, day)
VALUES ($1, $2, (now() AT TIME ZONE 'UTC')::date)
ON CONFLICT DO NOTHING`
)

// Reads for the dashboard.
const (
	qWorkspace = `
SELECT id, name, plan, credit_balance, stripe_customer_id, stripe_subscription_id
FROM workspaces WHERE id = $1`

	qWorkspaceName = `SELECT name FROM workspaces WHERE id = $1`

	qConsumedSince = `
SELECT COALESCE(SUM(-delta) FILTER (WHERE reason = 'MESSAGE_CONSUMED'), 0) AS messages,
       COALESCE(SUM(-delta) FILTER (WHERE reason = 'VOICE_CONSUMED'), 0)   AS voice,
       COALESCE(SUM(-delta) FILTER (WHERE reason = 'TAGGING_CONSUMED'), 0) AS tagging
FROM credit_ledger
WHERE workspace_id = $1 AND created_at >= $2
  AND reason IN ('MESSAGE_CONSUMED', 'VOICE_CONSUMED', 'TAGGING_CONSUMED')`

	// qLedgerPage lists newest first; $2/$3 is the (created_at, id) of the previous page's
	// last row, or NULL for the first page (page.Key.Args).
	qLedgerPage = `
SELECT id, delta, reason, ref_id, balance, created_at
FROM credit_ledger
WHERE workspace_id = $1
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $4`
)

// Stripe customer and subscription state.
const (
	qSetCustomer = `
UPDATE workspaces SET stripe_customer_id = $2, updated_at = now()
WHERE id = $1 AND stripe_customer_id IS NULL`

	qWorkspaceByCustomer = `SELECT id FROM workspaces WHERE stripe_customer_id = $1`

	qWorkspaceExists = `SELECT id FROM workspaces WHERE id = $1`

	// qAdoptCustomer stores the customer id Stripe reports for a workspace that has none
	// yet (a customer created by Checkout itself).
	qAdoptCustomer = `
UPDATE workspaces SET stripe_customer_id = $2, updated_at = now()
WHERE id = $1 AND stripe_customer_id IS NULL
  AND NOT EXISTS (SELECT 1 FROM workspaces WHERE stripe_customer_id = $2)`

	// qRecordSubscription stores the newest subscription state per workspace and returns a
	// row only when this event is not older than the one already applied.
	qRecordSubscription = `
INSERT INTO billing_subscriptions (workspace_id, subscription_id, status, plan, event_id, event_created)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (workspace_id) DO UPDATE
SET subscription_id = EXCLUDED.subscription_id, status = EXCLUDED.status, plan = EXCLUDED.plan,
    event_id = EXCLUDED.event_id, event_created = EXCLUDED.event_created, updated_at = now()
WHERE billing_subscriptions.event_created <= EXCLUDED.event_created
RETURNING workspace_id`

	qSetPlan = `
UPDATE workspaces SET plan = $2, stripe_subscription_id = $3, updated_at = now()
WHERE id = $1`

	qCurrentSubscription = `SELECT COALESCE(stripe_subscription_id, '') FROM workspaces WHERE id = $1`
)

// Stripe events.
const (
	qInsertEvent = `
INSERT INTO stripe_events (id, type, payload) VALUES ($1, $2, $3)
ON CONFLICT (id) DO NOTHING`

	qEventForUpdate = `
SELECT id, type, payload, processed_at FROM stripe_events WHERE id = $1 FOR UPDATE`

	qMarkProcessed = `UPDATE stripe_events SET processed_at = now() WHERE id = $1`
)

// The monthly grant walks the workspaces in id order, one batch per transaction.
// qGrantBatch skips workspaces created on or after $3, the month's first instant: their
// signup grant is that month's grant (so a catch-up run mid-month grants them nothing more).
const qGrantBatch = `
SELECT id, plan FROM workspaces
WHERE id > $1 AND plan <> 'ENTERPRISE' AND created_at < $3
ORDER BY id
LIMIT $2`

// Rows.

type applyResult struct {
	Updated *int    `db:"updated"`
	Logged  *int    `db:"logged"`
	Plan    *string `db:"plan"`
}

type stateRow struct {
	Balance int  `db:"balance"`
	KeyUsed bool `db:"key_used"`
}

type workspaceRow struct {
	ID             string  `db:"id"`
	Name           string  `db:"name"`
	Plan           string  `db:"plan"`
	CreditBalance  int     `db:"credit_balance"`
	CustomerID     *string `db:"stripe_customer_id"`
	SubscriptionID *string `db:"stripe_subscription_id"`
}

type consumedRow struct {
	Messages int `db:"messages"`
	Voice    int `db:"voice"`
	Tagging  int `db:"tagging"`
}

// LedgerEntry is one credit_ledger row.
type LedgerEntry struct {
	ID        string    `db:"id"`
	Delta     int       `db:"delta"`
	Reason    string    `db:"reason"`
	RefID     *string   `db:"ref_id"`
	Balance   int       `db:"balance"`
	CreatedAt time.Time `db:"created_at"`
}

type eventRow struct {
	ID          string     `db:"id"`
	Type        string     `db:"type"`
	Payload     []byte     `db:"payload"`
	ProcessedAt *time.Time `db:"processed_at"`
}

type grantTarget struct {
	ID   string `db:"id"`
	Plan string `db:"plan"`
}

// store runs billing's SQL. Every method takes the pool or the caller's transaction; the
// service decides which. Missing rows come back as apperr NOT_FOUND where a caller would
// report them, or as found=false where a caller decides.
type store struct{}

// applyChange moves the balance and writes the ledger row (qApplyChange).
func (store) applyChange(ctx context.Context, q sqlx.QueryerContext, id string, ch change) (applyResult, error) {
	var r applyResult
	err := sqlx.GetContext(ctx, q, &r, qApplyChange,
		id, ch.workspaceID, ch.delta, string(ch.reason), nullStr(ch.refID), nullStr(ch.key))
	return r, err
}

// undoChange takes delta back off the balance and returns the balance.
func (store) undoChange(ctx context.Context, q sqlx.QueryerContext, workspaceID string, delta int) (int, error) {
	var bal int
	err := sqlx.GetContext(ctx, q, &bal, qUndoChange, workspaceID, delta)
	return bal, err
}

// balanceAndKey reads the balance and whether key (optional) is used; NOT_FOUND for an
// unknown workspace.
func (store) balanceAndKey(ctx context.Context, q sqlx.QueryerContext, workspaceID, key string) (stateRow, error) {
	var s stateRow
	err := sqlx.GetContext(ctx, q, &s, qBalanceAndKey, workspaceID, nullStr(key))
	if pg.IsNoRows(err) {
		return s, apperr.NotFoundf("Workspace")
	}
	return s, err
}

// balance reads the credit balance; NOT_FOUND for an unknown workspace.
func (store) balance(ctx context.Context, q sqlx.QueryerContext, workspaceID string) (int, error) {
	var b int
	err := sqlx.GetContext(ctx, q, &b, qBalance, workspaceID)
	if pg.IsNoRows(err) {
		return 0, apperr.NotFoundf("Workspace")
	}
	return b, err
}

// insertNotice records today's notice of kind and reports whether it is new (false: already
// sent today).
func (store) insertNotice(ctx context.Context, e sqlx.ExecerContext, workspaceID, kind string) (bool, error) {
	res, err := e.ExecContext(ctx, qInsertNotice, workspaceID, kind)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// workspace reads the workspace's billing state; NOT_FOUND for an unknown workspace.
func (store) workspace(ctx context.Context, q sqlx.QueryerContext, id string) (workspaceRow, error) {
	var w workspaceRow
	err := sqlx.GetContext(ctx, q, &w, qWorkspace, id)
	if pg.IsNoRows(err) {
		return w, apperr.NotFoundf("Workspace")
	}
	return w, err
}

// workspaceName reads the workspace's display name (for e-mails); NOT_FOUND for an unknown
// workspace.
func (store) workspaceName(ctx context.Context, q sqlx.QueryerContext, id string) (string, error) {
	var name string
	err := sqlx.GetContext(ctx, q, &name, qWorkspaceName, id)
	if pg.IsNoRows(err) {
		return "", apperr.NotFoundf("Workspace")
	}
	return name, err
}

// consumedSince sums the credits consumed per kind since start.
func (store) consumedSince(ctx context.Context, q sqlx.QueryerContext, workspaceID string, start time.Time) (consumedRow, error) {
	var c consumedRow
	err := sqlx.GetContext(ctx, q, &c, qConsumedSince, workspaceID, start)
	return c, err
}

// ledgerPage returns up to req.Fetch() ledger rows after req.After, newest first.
func (store) ledgerPage(ctx context.Context, q sqlx.QueryerContext, workspaceID string, req page.Request) ([]LedgerEntry, error) {
	at, id := req.After.Args()
	var rows []LedgerEntry
	err := sqlx.SelectContext(ctx, q, &rows, qLedgerPage, workspaceID, at, id, req.Fetch())
	return rows, err
}

// setCustomer stores the workspace's Stripe customer unless it has one; false when it had.
func (store) setCustomer(ctx context.Context, e sqlx.ExecerContext, workspaceID, customer string) (bool, error) {
	res, err := e.ExecContext(ctx, qSetCustomer, workspaceID, customer)
	if err != nil {
		return false, pg.MapError(err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// adoptCustomer stores customer for a workspace that has none, unless another workspace
// holds it.
func (store) adoptCustomer(ctx context.Context, e sqlx.ExecerContext, workspaceID, customer string) error {
	_, err := e.ExecContext(ctx, qAdoptCustomer, workspaceID, customer)
	return err
}

// workspaceExists reports whether a workspace has the id (a canonical UUID).
func (store) workspaceExists(ctx context.Context, q sqlx.QueryerContext, id string) (bool, error) {
	var ws string
	err := sqlx.GetContext(ctx, q, &ws, qWorkspaceExists, id)
	if pg.IsNoRows(err) {
		return false, nil
	}
	return err == nil, err
}

// workspaceByCustomer finds the workspace of a Stripe customer; found is false when none.
func (store) workspaceByCustomer(ctx context.Context, q sqlx.QueryerContext, customer string) (id string, found bool, err error) {
	err = sqlx.GetContext(ctx, q, &id, qWorkspaceByCustomer, customer)
	if pg.IsNoRows(err) {
		return "", false, nil
	}
	return id, err == nil, err
}

// subscriptionState is one applied subscription event.
type subscriptionState struct {
	workspaceID, subscriptionID, status, plan, eventID string
	eventCreated                                       time.Time
}

// recordSubscription stores s unless a newer event was applied; false when s is stale.
func (store) recordSubscription(ctx context.Context, q sqlx.QueryerContext, s subscriptionState) (bool, error) {
	var got string
	err := sqlx.GetContext(ctx, q, &got, qRecordSubscription,
		s.workspaceID, nullStr(s.subscriptionID), s.status, s.plan, s.eventID, s.eventCreated)
	if pg.IsNoRows(err) {
		return false, nil
	}
	return err == nil, err
}

// setPlan sets the workspace's plan and subscription id ("" clears it).
func (store) setPlan(ctx context.Context, e sqlx.ExecerContext, workspaceID, plan, subscriptionID string) error {
	_, err := e.ExecContext(ctx, qSetPlan, workspaceID, plan, nullStr(subscriptionID))
	return err
}

// currentSubscription is the workspace's subscription id, "" when none.
func (store) currentSubscription(ctx context.Context, q sqlx.QueryerContext, workspaceID string) (string, error) {
	var sub string
	err := sqlx.GetContext(ctx, q, &sub, qCurrentSubscription, workspaceID)
	return sub, err
}

// insertEvent stores a Stripe event; false when its id is stored already.
func (store) insertEvent(ctx context.Context, e sqlx.ExecerContext, id, typ string, payload []byte) (bool, error) {
	res, err := e.ExecContext(ctx, qInsertEvent, id, typ, payload)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// lockEvent reads a stored event FOR UPDATE (q must be a transaction); found is false when
// the id is not stored.
func (store) lockEvent(ctx context.Context, q sqlx.QueryerContext, id string) (row eventRow, found bool, err error) {
	err = sqlx.GetContext(ctx, q, &row, qEventForUpdate, id)
	if pg.IsNoRows(err) {
		return row, false, nil
	}
	return row, err == nil, err
}

// markProcessed sets the event's processed_at.
func (store) markProcessed(ctx context.Context, e sqlx.ExecerContext, id string) error {
	_, err := e.ExecContext(ctx, qMarkProcessed, id)
	return err
}

// grantBatch lists up to limit workspaces after the id after that the monthly grant covers
// (created before monthStart, not ENTERPRISE), in id order.
func (store) grantBatch(ctx context.Context, q sqlx.QueryerContext, after string, limit int, monthStart time.Time) ([]grantTarget, error) {
	var out []grantTarget
	if err := sqlx.SelectContext(ctx, q, &out, qGrantBatch, after, limit, monthStart); err != nil {
		return nil, fmt.Errorf("billing: grant batch: %w", err)
	}
	return out, nil
}

// qConsumedBetween is the credits consumed per workspace in [$2, $3): the consumption rows
// (messages, voice, tagging) minus the refunds of earlier consumption. ADJUSTMENT, grants and
// top-ups are not consumption. An empty $1 means every workspace. The ledger's
// (workspace_id, created_at) index serves one workspace; every workspace for one day scans
// that day's rows.
const qConsumedBetween = `
SELECT workspace_id,
       (COALESCE(SUM(-delta) FILTER (WHERE reason IN ('MESSAGE_CONSUMED', 'VOICE_CONSUMED', 'TAGGING_CONSUMED')), 0)
        - COALESCE(SUM(delta) FILTER (WHERE reason = 'REFUND'), 0))::int AS credits
FROM credit_ledger
WHERE ($1 = '' OR workspace_id = NULLIF($1, '')::uuid)
  AND created_at >= $2 AND created_at < $3
  AND reason IN ('MESSAGE_CONSUMED', 'VOICE_CONSUMED', 'TAGGING_CONSUMED', 'REFUND')
GROUP BY workspace_id`

// consumedBetween runs qConsumedBetween; workspaces that consumed nothing are absent.
func (store) consumedBetween(ctx context.Context, q sqlx.QueryerContext, workspaceID string, from, to time.Time) (map[string]int, error) {
	var rows []struct {
		WorkspaceID string `db:"workspace_id"`
		Credits     int    `db:"credits"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, qConsumedBetween, workspaceID, from, to); err != nil {
		return nil, fmt.Errorf("billing: consumed credits: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.WorkspaceID] = r.Credits
	}
	return out, nil
}
