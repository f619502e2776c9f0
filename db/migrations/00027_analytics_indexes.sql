-- +goose Up
-- Notifications list a workspace's new conversations newest first (keyset on created_at, id).
CREATE INDEX conversations_workspace_created_idx ON conversations (workspace_id, created_at DESC, id DESC);

-- +goose Down
DROP INDEX conversations_workspace_created_idx;
