-- +goose Up
CREATE TABLE credit_ledger (
    id              uuid PRIMARY KEY,
    workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    delta           integer NOT NULL,
    reason          text NOT NULL CHECK (reason IN ('PLAN_GRANT','TOPUP_PURCHASE','MESSAGE_CONSUMED','VOICE_CONSUMED','TAGGING_CONSUMED','REFUND','ADJUSTMENT')),
    ref_id          text,
    idempotency_key text UNIQUE,
    balance         integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credit_ledger_workspace_idx ON credit_ledger (workspace_id, created_at DESC, id DESC);

CREATE TABLE stripe_events (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);

-- At most one low-credit e-mail per workspace and day.
CREATE TABLE billing_notices (
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind         text NOT NULL,
    day          date NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, kind, day)
);

-- +goose Down
DROP TABLE billing_notices;
DROP TABLE stripe_events;
DROP TABLE credit_ledger;
