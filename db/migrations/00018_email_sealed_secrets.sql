-- +goose Up
-- Template fields that carry a credential (a link with an invitation, verification or reset
-- token) are kept sealed with secretbox (AES-256-GCM) until the e-mail is sent, then wiped.
ALTER TABLE emails
    ADD COLUMN secret             bytea,
    ADD COLUMN secret_key_version integer,
    ADD CONSTRAINT emails_secret_version_chk CHECK ((secret IS NULL) = (secret_key_version IS NULL));

-- Invitation e-mails used to keep the accept link (with its raw token) in data. Links of
-- e-mails already sent or failed are dropped; a still-QUEUED one keeps its link until sent.
UPDATE emails SET data = data - 'AcceptURL'
WHERE template = 'invitation' AND status <> 'QUEUED' AND data ? 'AcceptURL';

-- +goose Down
ALTER TABLE emails
    DROP CONSTRAINT emails_secret_version_chk,
    DROP COLUMN secret_key_version,
    DROP COLUMN secret;
