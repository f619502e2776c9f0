-- +goose Up
-- Chosen by EXPLAIN ANALYZE on 1 M messages (docs/decisions.md, "Analytics indexes"):
-- the summary reads a workspace's messages of a range with an index-only scan, and the
-- export cursor walks a workspace's range in its (created_at, id) order without a sort.
CREATE INDEX messages_workspace_created_cover_idx ON messages (workspace_id, created_at, id)
    INCLUDE (conversation_id, role, latency_ms);
-- The daily rollup reads one day of every workspace.
CREATE INDEX messages_created_idx ON messages (created_at);

-- +goose Down
DROP INDEX messages_created_idx;
DROP INDEX messages_workspace_created_cover_idx;
