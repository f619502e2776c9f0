-- +goose Up
-- Realtime events are kept for ten minutes so that Last-Event-ID can replay what a client
-- missed on any replica; NOTIFY carries only the id.
CREATE TABLE realtime_events (
    id              bigserial PRIMARY KEY,
    workspace_id    uuid NOT NULL,
    conversation_id uuid,
    type            text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX realtime_events_workspace_idx ON realtime_events (workspace_id, id);
CREATE INDEX realtime_events_created_idx ON realtime_events (created_at);

-- +goose Down
DROP TABLE realtime_events;
