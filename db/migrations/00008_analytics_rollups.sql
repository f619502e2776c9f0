-- +goose Up
CREATE TABLE analytics_rollups (
    workspace_id        uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    agent_id            uuid,
    date                date NOT NULL,
    total_messages      integer NOT NULL DEFAULT 0,
    total_conversations integer NOT NULL DEFAULT 0,
    handoffs            integer NOT NULL DEFAULT 0,
    resolved            integer NOT NULL DEFAULT 0,
    avg_latency_ms      integer NOT NULL DEFAULT 0,
    p95_latency_ms      integer NOT NULL DEFAULT 0,
    voice_seconds       integer NOT NULL DEFAULT 0,
    credits_consumed    integer NOT NULL DEFAULT 0,
    UNIQUE NULLS NOT DISTINCT (workspace_id, agent_id, date)
);

-- +goose Down
DROP TABLE analytics_rollups;
