-- +goose Up
-- The pipeline answers one message of a conversation at a time: a worker claims the
-- conversation with a short lease (owner + expiry) instead of holding a database connection
-- for the length of an AI call; a crashed worker's lease simply expires.
ALTER TABLE conversations
    ADD COLUMN lease_owner uuid,
    ADD COLUMN lease_until timestamptz;

-- A handoff's routing (ticket or e-mail) is done once: routed_at and routed_via are written
-- with the ticket id or in the e-mails' transaction, so a re-run of channels.handoff is a no-op.
ALTER TABLE handoffs
    ADD COLUMN routed_at timestamptz,
    ADD COLUMN routed_via text;

CREATE INDEX conversations_agent_activity_idx ON conversations (workspace_id, agent_id, last_message_at DESC, id DESC);

-- +goose Down
DROP INDEX conversations_agent_activity_idx;
ALTER TABLE handoffs DROP COLUMN routed_via, DROP COLUMN routed_at;
ALTER TABLE conversations DROP COLUMN lease_until, DROP COLUMN lease_owner;
