package ops

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// Each statement touches at most $2 rows older than $1, picked through an index; the service
// repeats it until it touches fewer.
const (
	qPruneRealtimeEvents = `
DELETE FROM realtime_events WHERE id IN (
    SELECT id FROM realtime_events WHERE created_at < $1 ORDER BY created_at LIMIT $2)`

	qPruneRefreshTokens = `
DELETE FROM refresh_tokens WHERE id IN (
    SELECT id FROM refresh_tokens WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)`

	qPruneEmailBodies = `
UPDATE emails SET data = '{}'::jsonb, secret = NULL, secret_key_version = NULL
WHERE id IN (
    SELECT id FROM emails
    WHERE status = 'SENT' AND data <> '{}'::jsonb AND sent_at < $1
    ORDER BY sent_at LIMIT $2)`

	// Answered inbound channel messages: the platforms stop redelivering within days, so
	// past the retention the row no longer deduplicates anything (a reply to a customer
	// silent that long is sent without a thread).
	qPruneChannelInbound = `
DELETE FROM channel_inbound WHERE id IN (
    SELECT id FROM channel_inbound WHERE received_at < $1 AND processed_at IS NOT NULL ORDER BY received_at LIMIT $2)`

	qPruneVoiceCalls = `
DELETE FROM voice_calls WHERE (channel_id, call_sid) IN (
    SELECT channel_id, call_sid FROM voice_calls WHERE started_at < $1 ORDER BY started_at LIMIT $2)`

	qPruneStripeEvents = `
DELETE FROM stripe_events WHERE id IN (
    SELECT id FROM stripe_events WHERE received_at < $1 ORDER BY received_at LIMIT $2)`
)

// store runs the prune statements.
type store struct{}

// pruneBatch runs one bounded statement and returns how many rows it touched.
func (store) pruneBatch(ctx context.Context, db sqlx.ExtContext, query string, before time.Time, limit int) (int64, error) {
	res, err := db.ExecContext(ctx, query, before, limit)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
