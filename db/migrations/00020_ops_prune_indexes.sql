-- +goose NO TRANSACTION
-- Indexes for the hourly ops.prune job, so that each of its batches finds old rows without
-- scanning the table. CONCURRENTLY keeps the tables writable while the indexes build (the
-- statements cannot run in a transaction). realtime_events already has its created_at index.

-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS refresh_tokens_expires_idx ON refresh_tokens (expires_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS stripe_events_received_idx ON stripe_events (received_at);
-- Only e-mails whose template data is still kept: the index empties as the job blanks them.
CREATE INDEX CONCURRENTLY IF NOT EXISTS emails_sent_with_data_idx ON emails (sent_at)
    WHERE status = 'SENT' AND data <> '{}'::jsonb;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS emails_sent_with_data_idx;
DROP INDEX CONCURRENTLY IF EXISTS stripe_events_received_idx;
DROP INDEX CONCURRENTLY IF EXISTS refresh_tokens_expires_idx;
