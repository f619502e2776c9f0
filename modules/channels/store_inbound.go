package channels

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// The webhooks' durable inbox (channel_inbound) and the channel lookups of webhooks and
// deliveries.
const (
	// qWebhookChannel finds the channel a webhook URL names, with its agent link. The slug
	// is the only key: it is random and unique, and it never reveals the workspace.
	qWebhookChannel = `
SELECT c.id, c.workspace_id, c.type, c.is_active, c.credentials_enc, c.key_version, c.webhook_secret_enc,
       c.updated_at, ac.agent_id, COALESCE(ac.is_active, false) AS link_active
FROM channels c LEFT JOIN agent_channels ac ON ac.channel_id = c.id
WHERE c.webhook_slug = $1 AND c.type = $2`

	// qWorkspaceChannel is the workspace's channel of a type, for deliveries and test sends.
	qWorkspaceChannel = `
SELECT c.id, c.workspace_id, c.type, c.is_active, c.credentials_enc, c.key_version, c.webhook_secret_enc,
       ac.agent_id, COALESCE(ac.is_active, false) AS link_active
FROM channels c LEFT JOIN agent_channels ac ON ac.channel_id = c.id
WHERE c.workspace_id = $1 AND c.type = $2`

	// qInsertInbound stores one verified inbound message; a redelivery (same channel message
	// id) inserts nothing and returns no row.
	qInsertInbound = `
INSERT INTO channel_inbound (id, workspace_id, channel_id, external_id, sender, sender_name, content, thread, subject)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (channel_id, external_id) DO NOTHING
RETURNING id`

	// qInsertInboundLive is qInsertInbound for a webhook: it stores the message only while
	// the channel ($3) is active, its row unchanged since the webhook read it (updated_at =
	// $10; every write of a channel sets it) and answered by the agent the webhook saw ($11)
	// through an active link. live is false when it is not (nothing stored); id is NULL for a
	// redelivery. One statement, so the check costs no round trip of its own.
	qInsertInboundLive = `
WITH live AS (
    SELECT EXISTS (
        SELECT 1 FROM channels c JOIN agent_channels ac ON ac.channel_id = c.id
        WHERE c.id = $3::uuid AND c.is_active AND c.updated_at = $10::timestamptz
          AND ac.agent_id = $11::uuid AND ac.is_active
    ) AS ok
), ins AS (
    INSERT INTO channel_inbound (id, workspace_id, channel_id, external_id, sender, sender_name, content, thread, subject)
    SELECT $1::uuid, $2::uuid, $3::uuid, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text FROM live WHERE live.ok
    ON CONFLICT (channel_id, external_id) DO NOTHING
    RETURNING id
)
SELECT live.ok AS live, (SELECT id FROM ins) AS id FROM live`

	qGetInbound = `
SELECT i.id, i.workspace_id, i.channel_id, i.external_id, i.sender, i.sender_name, i.content, i.processed_at,
       c.type, c.is_active, ac.agent_id, COALESCE(ac.is_active, false) AS link_active
FROM channel_inbound i
JOIN channels c ON c.id = i.channel_id
LEFT JOIN agent_channels ac ON ac.channel_id = c.id
WHERE i.workspace_id = $1 AND i.id = $2`

	qInboundProcessed = `
UPDATE channel_inbound SET processed_at = now() WHERE workspace_id = $1 AND id = $2 AND processed_at IS NULL`

	// qStartCall records a call's start (a repeated start changes nothing) and returns it.
	qStartCall = `
INSERT INTO voice_calls (channel_id, call_sid, workspace_id, caller) VALUES ($1, $2, $3, $4)
ON CONFLICT (channel_id, call_sid) DO UPDATE SET caller = voice_calls.caller
RETURNING started_at, minutes_charged`

	// qChargeMinutes raises a call's charged minutes to $3 (never lowers them) and returns
	// the previous count, with the call locked until the caller's transaction ends.
	qChargeMinutes = `
WITH cur AS (SELECT minutes_charged FROM voice_calls WHERE channel_id = $1 AND call_sid = $2 FOR UPDATE)
UPDATE voice_calls v SET minutes_charged = GREATEST(v.minutes_charged, $3)
FROM cur WHERE v.channel_id = $1 AND v.call_sid = $2
RETURNING cur.minutes_charged`

	// qSilentTurn counts a turn without speech ($3) or resets the count, and returns it.
	qSilentTurn = `
UPDATE voice_calls SET silent_turns = CASE WHEN $3 THEN silent_turns + 1 ELSE 0 END
WHERE channel_id = $1 AND call_sid = $2
RETURNING silent_turns`

	// qReplyAddress is how the customer's newest message on the channel was addressed:
	// replies thread under it (Slack thread_ts, e-mail Message-ID and subject).
	qReplyAddress = `
SELECT thread, subject FROM channel_inbound
WHERE channel_id = $1 AND sender = $2
ORDER BY received_at DESC LIMIT 1`
)

// liveChannel is a channel as webhooks and deliveries read it: its sealed secrets and the
// agent that answers it.
type liveChannel struct {
	ID             string         `db:"id"`
	WorkspaceID    string         `db:"workspace_id"`
	Type           string         `db:"type"`
	IsActive       bool           `db:"is_active"`
	CredentialsEnc []byte         `db:"credentials_enc"`
	KeyVersion     sql.NullInt64  `db:"key_version"`
	SecretEnc      []byte         `db:"webhook_secret_enc"`
	UpdatedAt      time.Time      `db:"updated_at"` // qWebhookChannel only
	AgentID        sql.NullString `db:"agent_id"`
	LinkActive     bool           `db:"link_active"`
}

// inboundRow is one stored inbound message with what processing it needs.
type inboundRow struct {
	ID          string         `db:"id"`
	WorkspaceID string         `db:"workspace_id"`
	ChannelID   string         `db:"channel_id"`
	ExternalID  string         `db:"external_id"`
	Sender      string         `db:"sender"`
	SenderName  string         `db:"sender_name"`
	Content     string         `db:"content"`
	ProcessedAt *time.Time     `db:"processed_at"`
	ChannelType string         `db:"type"`
	IsActive    bool           `db:"is_active"`
	AgentID     sql.NullString `db:"agent_id"`
	LinkActive  bool           `db:"link_active"`
}

// newInbound is what a webhook stores.
type newInbound struct {
	WorkspaceID, ChannelID, ExternalID, Sender, SenderName, Content, Thread, Subject string
}

func getOne[T any](ctx context.Context, q sqlx.QueryerContext, query string, args ...any) (T, error) {
	var r T
	err := sqlx.GetContext(ctx, q, &r, query, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return r, errNoRows
	}
	return r, err
}

// webhookChannel returns the channel of the slug and type; errNoRows when there is none.
func (store) webhookChannel(ctx context.Context, q sqlx.QueryerContext, slug, typ string) (liveChannel, error) {
	return getOne[liveChannel](ctx, q, qWebhookChannel, slug, typ)
}

// workspaceChannel returns the workspace's channel of the type; errNoRows when there is none.
func (store) workspaceChannel(ctx context.Context, q sqlx.QueryerContext, ws, typ string) (liveChannel, error) {
	return getOne[liveChannel](ctx, q, qWorkspaceChannel, ws, typ)
}

// insertInbound stores one inbound message and returns its id, or "" for a redelivery.
func (store) insertInbound(ctx context.Context, q sqlx.QueryerContext, m newInbound) (string, error) {
	id, err := getOne[string](ctx, q, qInsertInbound, newID(), m.WorkspaceID, m.ChannelID, m.ExternalID,
		m.Sender, m.SenderName, m.Content, m.Thread, m.Subject)
	if errors.Is(err, errNoRows) {
		return "", nil
	}
	return id, err
}

// insertInboundLive stores one inbound message if the channel is still as a webhook read it
// (qInsertInboundLive) and returns its id, or "" for a redelivery; errChannelChanged when
// the channel is not.
func (store) insertInboundLive(ctx context.Context, q sqlx.QueryerContext, m newInbound, version time.Time, agentID string) (string, error) {
	r, err := getOne[struct {
		Live bool           `db:"live"`
		ID   sql.NullString `db:"id"`
	}](ctx, q, qInsertInboundLive, newID(), m.WorkspaceID, m.ChannelID, m.ExternalID,
		m.Sender, m.SenderName, m.Content, m.Thread, m.Subject, version, agentID)
	if err != nil {
		return "", err
	}
	if !r.Live {
		return "", errChannelChanged
	}
	return r.ID.String, nil
}

// getInbound returns the workspace's inbound message; errNoRows when there is none.
func (store) getInbound(ctx context.Context, q sqlx.QueryerContext, ws, id string) (inboundRow, error) {
	return getOne[inboundRow](ctx, q, qGetInbound, ws, id)
}

func (store) inboundProcessed(ctx context.Context, q sqlx.ExecerContext, ws, id string) error {
	_, err := q.ExecContext(ctx, qInboundProcessed, ws, id)
	return err
}

// voiceCall is a call's start and the minutes charged so far.
type voiceCall struct {
	StartedAt      time.Time `db:"started_at"`
	MinutesCharged int       `db:"minutes_charged"`
}

// startCall records the call's start, once, and returns it.
func (store) startCall(ctx context.Context, q sqlx.QueryerContext, channelID, callSID, ws, caller string) (voiceCall, error) {
	return getOne[voiceCall](ctx, q, qStartCall, channelID, callSID, ws, caller)
}

// chargeMinutes sets the call's charged minutes to at least n and returns how many were
// charged before.
func (store) chargeMinutes(ctx context.Context, q sqlx.QueryerContext, channelID, callSID string, n int) (int, error) {
	return getOne[int](ctx, q, qChargeMinutes, channelID, callSID, n)
}

// silentTurn records whether the call's latest turn was silent and returns how many silent
// turns are in a row now.
func (store) silentTurn(ctx context.Context, q sqlx.QueryerContext, channelID, callSID string, silent bool) (int, error) {
	return getOne[int](ctx, q, qSilentTurn, channelID, callSID, silent)
}

// replyTo is how a reply is addressed beyond the customer's id.
type replyTo struct {
	Thread  string `db:"thread"`
	Subject string `db:"subject"`
}

// replyAddress returns the thread and subject of the customer's newest message on the
// channel (zero when there is none).
func (store) replyAddress(ctx context.Context, q sqlx.QueryerContext, channelID, sender string) (replyTo, error) {
	r, err := getOne[replyTo](ctx, q, qReplyAddress, channelID, sender)
	if errors.Is(err, errNoRows) {
		return replyTo{}, nil
	}
	return r, err
}
