package channels

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jmoiron/sqlx"
)

// Channel configuration (channels), agent links (agent_channels) and key rotation over
// channels and integrations.
const (
	qListChannels = `
SELECT c.id, c.type, c.is_active, c.credentials_enc, c.key_version, c.webhook_secret_enc, c.webhook_slug, ac.agent_id
FROM channels c LEFT JOIN agent_channels ac ON ac.channel_id = c.id
WHERE c.workspace_id = $1
ORDER BY c.type`

	qChannelForUpdate = `
SELECT c.id, c.type, c.is_active, c.credentials_enc, c.key_version, c.webhook_secret_enc, c.webhook_slug, ac.agent_id
FROM channels c LEFT JOIN agent_channels ac ON ac.channel_id = c.id
WHERE c.workspace_id = $1 AND c.type = $2
FOR UPDATE OF c`

	qUpsertChannel = `
INSERT INTO channels (id, workspace_id, type, is_active, credentials_enc, key_version, webhook_secret_enc, webhook_slug)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (workspace_id, type) DO UPDATE
SET is_active = EXCLUDED.is_active, credentials_enc = EXCLUDED.credentials_enc,
    key_version = EXCLUDED.key_version, webhook_secret_enc = EXCLUDED.webhook_secret_enc,
    webhook_slug = EXCLUDED.webhook_slug, updated_at = now()
RETURNING id`

	// qLinkChannel gives the channel to the agent, taking it from any other agent (one
	// agent answers a channel: agent_channels.channel_id is unique).
	qLinkChannel = `
INSERT INTO agent_channels (agent_id, channel_id, is_active) VALUES ($1, $2, $3)
ON CONFLICT (channel_id) DO UPDATE SET agent_id = EXCLUDED.agent_id, is_active = EXCLUDED.is_active`

	qUnlinkChannel = `
DELETE FROM agent_channels ac USING channels c
WHERE c.id = ac.channel_id AND c.workspace_id = $1 AND c.type = $2 AND ac.agent_id = $3`

	// Rotation: rows sealed under another key than $1, in id order after $2, locked so a
	// concurrent PUT and the rotation never both write a row.
	qChannelsToRotate = `
SELECT id, credentials_enc, key_version, webhook_secret_enc FROM channels
WHERE key_version IS NOT NULL AND key_version <> $1 AND id > $2
ORDER BY id LIMIT $3
FOR UPDATE SKIP LOCKED`

	qRotateChannel = `
UPDATE channels SET credentials_enc = $3, webhook_secret_enc = $4, key_version = $5, updated_at = now()
WHERE id = $1 AND key_version = $2`

	qIntegrationsToRotate = `
SELECT id, credentials_enc, key_version, NULL::bytea AS webhook_secret_enc FROM integrations
WHERE key_version <> $1 AND id > $2
ORDER BY id LIMIT $3
FOR UPDATE SKIP LOCKED`

	qRotateIntegration = `
UPDATE integrations SET credentials_enc = $3, key_version = $5, updated_at = now()
WHERE id = $1 AND key_version = $2 AND $4::bytea IS NULL`
)

// channelRow is a channel with its (sealed) secrets and its agent, if linked.
type channelRow struct {
	ID             string         `db:"id"`
	Type           string         `db:"type"`
	IsActive       bool           `db:"is_active"`
	CredentialsEnc []byte         `db:"credentials_enc"`
	KeyVersion     sql.NullInt64  `db:"key_version"`
	SecretEnc      []byte         `db:"webhook_secret_enc"`
	Slug           sql.NullString `db:"webhook_slug"`
	AgentID        sql.NullString `db:"agent_id"`
}

func (store) listChannels(ctx context.Context, q sqlx.QueryerContext, ws string) ([]channelRow, error) {
	var rows []channelRow
	err := sqlx.SelectContext(ctx, q, &rows, qListChannels, ws)
	return rows, err
}

// channelForUpdate locks the workspace's channel of that type; errNoRows when there is none.
func (store) channelForUpdate(ctx context.Context, q sqlx.QueryerContext, ws, typ string) (channelRow, error) {
	var r channelRow
	err := sqlx.GetContext(ctx, q, &r, qChannelForUpdate, ws, typ)
	if errors.Is(err, sql.ErrNoRows) {
		return r, errNoRows
	}
	return r, err
}

func (store) upsertChannel(ctx context.Context, q sqlx.QueryerContext, ws string, r channelRow) (string, error) {
	var id string
	err := sqlx.GetContext(ctx, q, &id, qUpsertChannel, r.ID, ws, r.Type, r.IsActive, r.CredentialsEnc, r.KeyVersion, r.SecretEnc, r.Slug)
	return id, err
}

func (store) linkChannel(ctx context.Context, q sqlx.ExecerContext, agentID, channelID string, active bool) error {
	_, err := q.ExecContext(ctx, qLinkChannel, agentID, channelID, active)
	return err
}

// unlinkChannel removes the agent's link to the workspace's channel of that type and
// reports whether there was one.
func (store) unlinkChannel(ctx context.Context, q sqlx.ExecerContext, ws, typ, agentID string) (bool, error) {
	res, err := q.ExecContext(ctx, qUnlinkChannel, ws, typ, agentID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// sealedRow is one row to re-seal during a key rotation.
type sealedRow struct {
	ID             string `db:"id"`
	CredentialsEnc []byte `db:"credentials_enc"`
	KeyVersion     int    `db:"key_version"`
	SecretEnc      []byte `db:"webhook_secret_enc"`
}

// rotationTable is the SQL of one table's rotation.
type rotationTable struct {
	name, selectQ, updateQ string
}

var (
	rotateChannels     = rotationTable{"channels", qChannelsToRotate, qRotateChannel}
	rotateIntegrations = rotationTable{"integrations", qIntegrationsToRotate, qRotateIntegration}
)

func (store) rowsToRotate(ctx context.Context, q sqlx.QueryerContext, t rotationTable, current int, after string, limit int) ([]sealedRow, error) {
	var rows []sealedRow
	err := sqlx.SelectContext(ctx, q, &rows, t.selectQ, current, after, limit)
	return rows, err
}

// resealRow writes a row's new ciphertexts if it is still sealed under oldVersion and
// reports whether it did.
func (store) resealRow(ctx context.Context, q sqlx.ExecerContext, t rotationTable, id string, oldVersion int, creds, secret []byte, newVersion int) (bool, error) {
	res, err := q.ExecContext(ctx, t.updateQ, id, oldVersion, creds, secret, newVersion)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
