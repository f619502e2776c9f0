-- +goose Up
CREATE TABLE emails (
    id           uuid PRIMARY KEY,
    workspace_id uuid REFERENCES workspaces(id) ON DELETE CASCADE,
    "to"         text NOT NULL,
    subject      text NOT NULL,
    template     text NOT NULL,
    data         jsonb NOT NULL DEFAULT '{}'::jsonb,
    status       text NOT NULL DEFAULT 'QUEUED' CHECK (status IN ('QUEUED','SENT','FAILED')),
    provider_id  text,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz
);
CREATE INDEX emails_workspace_idx ON emails (workspace_id, created_at DESC);

-- +goose Down
DROP TABLE emails;
