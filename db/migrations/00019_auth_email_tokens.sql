-- +goose Up
-- Single-use tokens sent by e-mail: VERIFY_EMAIL (address proof) and RESET_PASSWORD
-- (account recovery). Only the sha256 of a token is stored.
CREATE TABLE email_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('VERIFY_EMAIL','RESET_PASSWORD')),
    token_hash  text NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose);

-- Pending invitations are listed per workspace and revoked per inviter.
CREATE INDEX invitations_invited_by_idx ON invitations (invited_by) WHERE accepted_at IS NULL;

-- +goose Down
DROP INDEX invitations_invited_by_idx;
DROP TABLE email_tokens;
