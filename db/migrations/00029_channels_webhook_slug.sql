-- +goose Up
-- A channel's webhook URL carries its own random slug (never derived from the workspace).
-- Nullable so that rows written before this migration stay valid; PUT /v1/channels/:type
-- gives one to any row without.
ALTER TABLE channels ADD COLUMN webhook_slug text;
CREATE UNIQUE INDEX channels_webhook_slug_key ON channels (webhook_slug);

-- +goose Down
DROP INDEX channels_webhook_slug_key;
ALTER TABLE channels DROP COLUMN webhook_slug;
