-- +goose Up
-- The newest Stripe subscription state applied to each workspace. Stripe does not deliver
-- events in order and redelivers them for days, so a plan change is applied only when its
-- event is not older than the one recorded here (a late subscription.updated cannot undo a
-- newer subscription.deleted).
CREATE TABLE billing_subscriptions (
    workspace_id    uuid PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    subscription_id text,
    status          text NOT NULL,
    plan            text NOT NULL CHECK (plan IN ('STARTER','BUILDER','PRO','ENTERPRISE')),
    event_id        text NOT NULL,
    event_created   timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE billing_subscriptions;
