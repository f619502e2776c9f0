package billing

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// Usage is the read contract of the credit ledger for reporting (the analytics module): it
// answers sums, never ledger rows. Its zero value is ready to use.
type Usage struct{ st store }

// Usage returns the ledger's reporting contract.
func (m *Module) Usage() Usage { return Usage{} }

// ConsumedBetween returns the credits each workspace consumed in [from, to): consumption
// (MESSAGE_CONSUMED, VOICE_CONSUMED, TAGGING_CONSUMED) net of REFUNDs; grants, top-ups and
// adjustments do not count. workspaceID "" asks for every workspace; a workspace that
// consumed nothing is absent from the map. q is the pool or the caller's transaction.
func (u Usage) ConsumedBetween(ctx context.Context, q sqlx.QueryerContext, workspaceID string, from, to time.Time) (map[string]int, error) {
	return u.st.consumedBetween(ctx, q, workspaceID, from, to)
}
