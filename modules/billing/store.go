package billing

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// The ledger. qApplyChange moves the balance and writes the ledger row in one statement:
// the UPDATE only matches when the balance stays ≥ 0 and the idempotency key is unused; the
// INSERT records the new balance. ON CONFLICT DO NOTHING covers the key being committed by
// a concurrent transaction after the NOT EXISTS check (then logged is NULL and the caller
// undoes the move with qUndoChange).
const (
	qApplyChange = `
WITH upd AS (
    UPDATE workspaces SET credit_balance = credit_balance + $3, updated_at = now()
    WHERE id = $2 AND credit_balance + $3 >= 0
      AND ($6::text IS NULL OR NOT EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = $6::text))
    RETURNING credit_balance, plan
), led AS (
    INSERT INTO credit_ledger (id, workspace_id, delta, reason, ref_id, idempotency_key, balance)
    SELECT $1, $2, $3, $4, $5, $6::text, credit_balance FROM upd
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING balance
)
SELECT (SELECT credit_balance FROM upd) AS updated, (SELECT balance FROM led) AS logged,
       (SELECT plan FROM upd) AS plan`

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

	qOwners = `
SELECT u.email, w.name AS workspace_name
FROM workspace_members m
JOIN users u ON u.id = m.user_id
JOIN workspaces w ON w.id = m.workspace_id
WHERE m.workspace_id = $1 AND m.role = 'OWNER'
ORDER BY m.joined_at`
)

// Reads for the dashboard.
const (
	qWorkspace = `
SELECT id, name, plan, credit_balance, stripe_customer_id, stripe_subscription_id
FROM workspaces WHERE id = $1`

	qConsumedSince = `
SELECT COALESCE(SUM(-delta) FILTER (WHERE reason = 'MESSAGE_CONSUMED'), 0) AS messages,
       COALESCE(SUM(-delta) FILTER (WHERE reason = 'VOICE_CONSUMED'), 0)   AS voice,
       COALESCE(SUM(-delta) FILTER (WHERE reason = 'TAGGING_CONSUMED'), 0) AS tagging
FROM credit_ledger
WHERE workspace_id = $1 AND created_at >= $2
  AND reason IN ('MESSAGE_CONSUMED', 'VOICE_CONSUMED', 'TAGGING_CONSUMED')`

	// qLedgerPage lists newest first; $2/$3 is the (created_at, id) of the previous page's
	// last row, or NULL for the first page.
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

	qUserEmail = `SELECT email FROM users WHERE id = $1`

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

type ownerRow struct {
	Email         string `db:"email"`
	WorkspaceName string `db:"workspace_name"`
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

func ownersOf(ctx context.Context, q sqlx.QueryerContext, workspaceID string) ([]ownerRow, error) {
	var out []ownerRow
	err := sqlx.SelectContext(ctx, q, &out, qOwners, workspaceID)
	return out, err
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }
