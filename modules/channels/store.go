package channels

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/axonhq/axon/modules/agents/agentapi"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/realtime"
)

// store owns the module's SQL and runs it on a sqlx.ExtContext (the pool or a transaction).
// Every query filters on the workspace id the caller took from the token.
type store struct{}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// errNoRows is what lookups return for a missing row; services map it to NOT_FOUND.
var errNoRows = errors.New("channels: no such row")

type convRow struct {
	ID            string          `db:"id"`
	WorkspaceID   string          `db:"workspace_id"`
	AgentID       string          `db:"agent_id"`
	ChannelType   string          `db:"channel_type"`
	ExternalID    *string         `db:"external_id"`
	CustomerID    *string         `db:"customer_id"`
	CustomerName  *string         `db:"customer_name"`
	Status        string          `db:"status"`
	Sentiment     *float64        `db:"sentiment"`
	IntentScore   *float64        `db:"intent_score"`
	Tags          pq.StringArray  `db:"tags"`
	Metadata      json.RawMessage `db:"metadata"`
	ResolvedAt    *time.Time      `db:"resolved_at"`
	LastMessageAt time.Time       `db:"last_message_at"`
	CreatedAt     time.Time       `db:"created_at"`
	UpdatedAt     time.Time       `db:"updated_at"`
}

func (r convRow) out() Conversation {
	tags := []string(r.Tags)
	if tags == nil {
		tags = []string{}
	}
	md := r.Metadata
	if len(md) == 0 {
		md = json.RawMessage(`{}`)
	}
	return Conversation{
		ID: r.ID, WorkspaceID: r.WorkspaceID, AgentID: r.AgentID, ChannelType: r.ChannelType, ExternalID: r.ExternalID,
		CustomerID: r.CustomerID, CustomerName: r.CustomerName, Status: r.Status, Sentiment: r.Sentiment,
		IntentScore: r.IntentScore, Tags: tags, Metadata: md, ResolvedAt: r.ResolvedAt,
		LastMessageAt: r.LastMessageAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

type msgRow struct {
	ID             string          `db:"id"`
	ConversationID string          `db:"conversation_id"`
	WorkspaceID    string          `db:"workspace_id"`
	Role           string          `db:"role"`
	Content        string          `db:"content"`
	Confidence     *float64        `db:"confidence"`
	LatencyMs      *int            `db:"latency_ms"`
	Tokens         *int            `db:"tokens"`
	ChannelMsgID   *string         `db:"channel_msg_id"`
	DeliveryStatus *string         `db:"delivery_status"`
	Metadata       json.RawMessage `db:"metadata"`
	CreatedAt      time.Time       `db:"created_at"`
}

// msgMeta is the part of messages.metadata the module reads back.
type msgMeta struct {
	Sources []Source `json:"sources,omitempty"`
}

func (r msgRow) out() Message {
	m := Message{
		ID: r.ID, ConversationID: r.ConversationID, Role: r.Role, Content: r.Content, Confidence: r.Confidence,
		LatencyMs: r.LatencyMs, Tokens: r.Tokens, DeliveryStatus: r.DeliveryStatus, CreatedAt: r.CreatedAt,
		Sources: []Source{},
	}
	var md msgMeta
	if len(r.Metadata) > 0 && json.Unmarshal(r.Metadata, &md) == nil && md.Sources != nil {
		m.Sources = md.Sources
	}
	return m
}

type handoffRow struct {
	ID               string     `db:"id"`
	ConversationID   string     `db:"conversation_id"`
	WorkspaceID      string     `db:"workspace_id"`
	Trigger          string     `db:"trigger"`
	Confidence       *float64   `db:"confidence"`
	Summary          *string    `db:"summary"`
	Destination      string     `db:"destination"`
	ExternalTicketID *string    `db:"external_ticket_id"`
	ResolvedAt       *time.Time `db:"resolved_at"`
	LearningNote     *string    `db:"learning_note"`
	RoutedAt         *time.Time `db:"routed_at"`
	RoutedVia        *string    `db:"routed_via"`
	CreatedAt        time.Time  `db:"created_at"`
}

func (r handoffRow) out() Handoff {
	return Handoff{
		ID: r.ID, ConversationID: r.ConversationID, Trigger: r.Trigger, Confidence: r.Confidence, Summary: r.Summary,
		Destination: r.Destination, ExternalTicketID: r.ExternalTicketID, ResolvedAt: r.ResolvedAt,
		LearningNote: r.LearningNote, RoutedVia: r.RoutedVia, CreatedAt: r.CreatedAt,
	}
}

const (
	convCols    = `id, workspace_id, agent_id, channel_type, external_id, customer_id, customer_name, status, sentiment, intent_score, tags, metadata, resolved_at, last_message_at, created_at, updated_at`
	msgCols     = `id, conversation_id, workspace_id, role, content, confidence, latency_ms, tokens, channel_msg_id, delivery_status, metadata, created_at`
	handoffCols = `id, conversation_id, workspace_id, trigger, confidence, summary, destination, external_ticket_id, resolved_at, learning_note, routed_at, routed_via, created_at`

	// Serialises the resolver for one customer (so two first messages at once open one
	// conversation, not two); held until the transaction ends. The key is the same as the
	// widget session's (widget_store.go), so both paths serialise against each other.
	qLockResolve = `SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2 || '/' || $3 || '/' || $4, 7))`

	qFindActive = `
SELECT ` + convCols + ` FROM conversations
WHERE workspace_id = $1 AND agent_id = $2 AND channel_type = $3 AND customer_id = $4
  AND status IN ('OPEN', 'HANDED_OFF')
ORDER BY last_message_at DESC, id DESC
LIMIT 1`

	qInsertConv = `
INSERT INTO conversations (id, workspace_id, agent_id, channel_type, customer_id, customer_name)
VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''))
RETURNING ` + convCols

	qGetConv = `SELECT ` + convCols + ` FROM conversations WHERE workspace_id = $1 AND id = $2`

	qGetConvForUpdate = qGetConv + ` FOR UPDATE`

	qSetStatus = `
UPDATE conversations
SET status = $3, updated_at = now(),
    resolved_at = CASE WHEN $3 = 'RESOLVED' THEN now() WHEN $3 = 'OPEN' THEN NULL ELSE resolved_at END
WHERE workspace_id = $1 AND id = $2
RETURNING ` + convCols

	qPatchConv = `
UPDATE conversations
SET tags = COALESCE($3, tags), metadata = COALESCE($4, metadata), updated_at = now()
WHERE workspace_id = $1 AND id = $2
RETURNING ` + convCols

	qSetTags = `
UPDATE conversations
SET tags = $3, metadata = metadata || '{"autoTagged": true}'::jsonb, updated_at = now()
WHERE workspace_id = $1 AND id = $2`

	// The lease: taken when free or expired, released only by its owner. Taking it locks the
	// conversation row until the transaction ends (as SELECT … FOR UPDATE would) and returns
	// it; no row when the lease is someone else's or the conversation is not this agent's
	// on this channel.
	qTakeLease = `
UPDATE conversations SET lease_owner = $3, lease_until = now() + $4 * interval '1 millisecond'
WHERE workspace_id = $1 AND id = $2 AND agent_id = $5 AND channel_type = $6
  AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $3)
RETURNING ` + convCols

	qRenewLease = `
UPDATE conversations SET lease_until = now() + $3 * interval '1 millisecond'
WHERE id = $1 AND lease_owner = $2`

	qReleaseLease = `
UPDATE conversations SET lease_owner = NULL, lease_until = NULL
WHERE id = $1 AND lease_owner = $2`

	qMsgByChannelID = `
SELECT ` + msgCols + ` FROM messages WHERE conversation_id = $1 AND channel_msg_id = $2`

	qGetMsg = `SELECT ` + msgCols + ` FROM messages WHERE workspace_id = $1 AND id = $2`

	qGetMsgForUpdate = qGetMsg + ` FOR UPDATE`

	qSetDelivery = `
UPDATE messages SET delivery_status = $3, metadata = metadata || $4
WHERE workspace_id = $1 AND id = $2`

	// The turns before a message, newest first (the caller reverses them).
	qHistory = `
SELECT ` + msgCols + ` FROM messages
WHERE conversation_id = $1 AND (created_at, id) < ($2, $3)
ORDER BY created_at DESC, id DESC
LIMIT $4`

	qLastMessages = `
SELECT ` + msgCols + ` FROM messages WHERE conversation_id = $1
ORDER BY created_at DESC, id DESC LIMIT $2`

	// A human reply newer than the message being answered means a human took over.
	qHumanAfter = `
SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1 AND role = 'HUMAN_AGENT' AND (created_at, id) > ($2, $3))`

	// qAnsweredAfter: anything but a customer message after this one means it was answered
	// (an AI or system reply, a human's) or handed over.
	qAnsweredAfter = `
SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1 AND role <> 'USER' AND (created_at, id) > ($2, $3))`

	qInsertHandoff = `
INSERT INTO handoffs (id, conversation_id, workspace_id, trigger, confidence, destination)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING ` + handoffCols

	qGetHandoff = `SELECT ` + handoffCols + ` FROM handoffs WHERE workspace_id = $1 AND id = $2`

	qGetHandoffForUpdate = qGetHandoff + ` FOR UPDATE`

	qListHandoffs = `
SELECT ` + handoffCols + ` FROM handoffs WHERE workspace_id = $1 AND conversation_id = $2
ORDER BY created_at DESC, id DESC`

	qResolveHandoff = `
UPDATE handoffs SET resolved_at = COALESCE(resolved_at, now()), learning_note = COALESCE($3, learning_note)
WHERE workspace_id = $1 AND id = $2
RETURNING ` + handoffCols

	qSetSummary = `UPDATE handoffs SET summary = $3 WHERE workspace_id = $1 AND id = $2 AND summary IS NULL`

	qSetTicket = `UPDATE handoffs SET external_ticket_id = $3 WHERE workspace_id = $1 AND id = $2`

	qSetRouted = `
UPDATE handoffs SET routed_at = now(), routed_via = $3 WHERE workspace_id = $1 AND id = $2 AND routed_at IS NULL`

	qGetIntegration = `
SELECT credentials_enc, key_version FROM integrations WHERE workspace_id = $1 AND kind = $2`

	qUpsertIntegration = `
INSERT INTO integrations (id, workspace_id, kind, credentials_enc, key_version)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (workspace_id, kind) DO UPDATE
SET credentials_enc = EXCLUDED.credentials_enc, key_version = EXCLUDED.key_version, updated_at = now()`
)

// The statements that publish their own events (realtime.EventCTE).
var (
	// insertMsgCTE is WITH insertMsgCTEs without a guard.
	insertMsgCTE = `
WITH ` + insertMsgCTEs("true")

	// qInsertUserMsg is qInsertMsg that also returns the $15 turns before the new message,
	// oldest first (the statement's snapshot holds every message committed before it, and the
	// lease keeps other messages of the conversation out meanwhile).
	qInsertUserMsg = insertMsgCTE + `
SELECT m.*, h.roles AS h_roles, h.contents AS h_contents FROM m CROSS JOIN LATERAL (
    SELECT COALESCE(array_agg(x.role ORDER BY x.created_at, x.id), '{}') AS roles,
           COALESCE(array_agg(x.content ORDER BY x.created_at, x.id), '{}') AS contents
    FROM (SELECT role, content, created_at, id FROM messages
          WHERE conversation_id = $2 AND (created_at, id) < (m.created_at, m.id)
          ORDER BY created_at DESC, id DESC LIMIT $15) x
) h`

	// qInsertMsg stores a message (insertMsgCTE) and publishes new_message
	// (newMessagePayload) in the same statement.
	qInsertMsg = insertMsgCTE + `, ` +
		realtimeEvent("ev", "m", "m.workspace_id", "m.conversation_id", realtime.TypeNewMessage, newMessagePayload) + `
SELECT ` + msgCols + ` FROM m`

	// qInsertIfOurs is the reply's check and insert in one statement (storeIfOurs): it locks
	// the conversation $2 of workspace $3 (FOR UPDATE: the newest version) and stores the
	// message, touching the conversation and publishing new_message (qInsertMsg), only when
	// the conversation is OPEN and no human replied after ($14, $13). It returns the locked
	// conversation, whether its row is the one the statement's snapshot holds (fresh), and the
	// message's created_at (NULL when nothing was stored). Not fresh, nothing is stored: a
	// transaction committed a change of the conversation, perhaps a human's reply, after the
	// snapshot that the human check reads (every message insert touches the row); the caller
	// checks again with statements of their own.
	qInsertIfOurs = `
WITH snap AS (SELECT xmin AS seen FROM conversations WHERE workspace_id = $3 AND id = $2),
cur AS MATERIALIZED (
    SELECT ` + convCols + `, xmin AS locked FROM conversations WHERE workspace_id = $3 AND id = $2 FOR UPDATE
), ` + insertMsgCTEs(`EXISTS (SELECT 1 FROM cur JOIN snap ON cur.locked = snap.seen WHERE cur.status = 'OPEN')`) + `, ` +
		realtimeEvent("ev", "m", "m.workspace_id", "m.conversation_id", realtime.TypeNewMessage, newMessagePayload) + `
SELECT ` + convColsOf("cur") + `, snap.seen IS NOT NULL AND cur.locked = snap.seen AS fresh, m.created_at AS msg_created_at
FROM cur LEFT JOIN snap ON true LEFT JOIN m ON true`

	// newMessagePayload is new_message's payload for the message m: confidence and
	// latencyMs only when set, sources only for an ASSISTANT message (those it was given,
	// from its metadata).
	newMessagePayload = `jsonb_build_object('conversationId', m.conversation_id, 'message',
    jsonb_build_object('id', m.id, 'role', m.role, 'content', m.content, 'createdAt', ` + createdAtJSON + `)
    || CASE WHEN m.confidence IS NULL THEN '{}' ELSE jsonb_build_object('confidence', m.confidence) END
    || CASE WHEN m.latency_ms IS NULL THEN '{}' ELSE jsonb_build_object('latencyMs', m.latency_ms) END
    || CASE WHEN m.role <> 'ASSISTANT' THEN '{}' ELSE jsonb_build_object('sources',
           CASE WHEN jsonb_typeof(m.metadata->'sources') = 'array' THEN m.metadata->'sources' ELSE '[]' END) END)`

	// userMessagePayload is user_message's payload for the USER message m of conversation c.
	userMessagePayload = `jsonb_build_object('conversationId', c.id, 'message', jsonb_build_object(
    'id', m.id, 'role', m.role, 'content', m.content, 'channelType', c.channel_type, 'createdAt', ` + createdAtJSON + `))`

	// qPublishUserMessage publishes user_message for the stored USER message $1.
	qPublishUserMessage = `
WITH m AS (SELECT id, conversation_id, workspace_id, role, content, created_at FROM messages WHERE id = $1),
c AS (SELECT id, channel_type FROM conversations WHERE id = (SELECT conversation_id FROM m)), ` +
		realtimeEvent("ev", "m, c", "m.workspace_id", "c.id", realtime.TypeUserMessage, userMessagePayload) + `
SELECT count(*) FROM m`

	// qLeaseStoreUser is the USER message's whole write in one autocommit statement, for an
	// OPEN or HANDED_OFF conversation whose row did not change since the statement's snapshot
	// (anything else, a live lease of another holder included, returns no row and writes
	// nothing; the caller takes the transactional path). It takes the lease ($3 for $4 ms)
	// on the conversation $2 of agent $5 on channel $6, which locks the row; inserts the
	// message ($7, content $8, channel message id $9, deduplicated: a duplicate inserts
	// nothing and leaves last_message_at and updated_at as they were) with created_at =
	// last_message_at = the clock read under the lock; publishes user_message; and returns
	// the conversation, the message's created_at (NULL for a duplicate) and the $10 turns
	// before it, oldest first.
	//
	// Why the row must be unchanged (xmin = the snapshot's): every message insert touches
	// its conversation's row, so an unchanged row means the snapshot holds every message of
	// the conversation, which the history and the duplicate check read. An update that
	// waited for the row's lock re-checks its WHERE on the newest version, whose xmin is the
	// lock holder's when it wrote (a reply committed meanwhile, which the snapshot misses):
	// then nothing is written and the transactional path reads with fresh snapshots.
	qLeaseStoreUser = `
WITH d AS (
    SELECT $9 <> '' AND EXISTS (SELECT 1 FROM messages WHERE conversation_id = $2 AND channel_msg_id = NULLIF($9, '')) AS dup,
           (SELECT xmin FROM conversations WHERE workspace_id = $1 AND id = $2) AS seen
), c AS (
    UPDATE conversations
    SET lease_owner = $3, lease_until = now() + $4 * interval '1 millisecond',
        last_message_at = CASE WHEN d.dup THEN last_message_at ELSE clock_timestamp() END,
        updated_at = CASE WHEN d.dup THEN updated_at ELSE now() END
    FROM d
    WHERE workspace_id = $1 AND id = $2 AND agent_id = $5 AND channel_type = $6
      AND conversations.xmin = d.seen
      AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $3)
      AND status IN ('OPEN', 'HANDED_OFF')
    RETURNING ` + convColsOf("conversations") + `, d.dup
), m AS (
    INSERT INTO messages (id, conversation_id, workspace_id, role, content, channel_msg_id, created_at)
    SELECT $7, c.id, c.workspace_id, 'USER', $8, NULLIF($9, ''), c.last_message_at FROM c WHERE NOT c.dup
    ON CONFLICT (conversation_id, channel_msg_id) DO NOTHING
    RETURNING id, conversation_id, workspace_id, role, content, created_at
), ` + realtimeEvent("ev", "m, c", "m.workspace_id", "c.id", realtime.TypeUserMessage, userMessagePayload) + `
SELECT ` + convColsOf("c") + `, c.dup, m.created_at AS msg_created_at,
       COALESCE(h.roles, '{}') AS h_roles, COALESCE(h.contents, '{}') AS h_contents
FROM c LEFT JOIN m ON true LEFT JOIN LATERAL (
    SELECT array_agg(x.role ORDER BY x.created_at, x.id) AS roles,
           array_agg(x.content ORDER BY x.created_at, x.id) AS contents
    FROM (SELECT role, content, created_at, id FROM messages
          WHERE conversation_id = $2 AND (created_at, id) < (m.created_at, m.id)
          ORDER BY created_at DESC, id DESC LIMIT $10) x
) h ON m.id IS NOT NULL`
)

// insertMsgCTEs are the CTEs m and touched: m stores a message and touched, in the same
// statement, touches its conversation (last_message_at = the message's created_at) and,
// when $12 is not empty, releases the lease owned by $12 (the pipeline's reply). When $13
// is not empty m inserts nothing if a HUMAN_AGENT message is newer than ($14, $13) (a
// human took over while the AI was answering that message); nor when the SQL condition
// guard is false. A duplicate (same channel message id) inserts nothing and touches
// nothing.
func insertMsgCTEs(guard string) string {
	return `m AS (
    INSERT INTO messages (id, conversation_id, workspace_id, role, content, confidence, latency_ms, tokens,
                          channel_msg_id, delivery_status, metadata, created_at)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), $10, $11, clock_timestamp()
    WHERE (` + guard + `) AND ($13 = '' OR NOT EXISTS (
        SELECT 1 FROM messages WHERE conversation_id = $2 AND role = 'HUMAN_AGENT' AND (created_at, id) > ($14, NULLIF($13, '')::uuid)))
    ON CONFLICT (conversation_id, channel_msg_id) DO NOTHING
    RETURNING ` + msgCols + `
), touched AS (
    UPDATE conversations c
    SET last_message_at = m.created_at, updated_at = now(),
        lease_owner = CASE WHEN $12 <> '' AND c.lease_owner = NULLIF($12, '')::uuid THEN NULL ELSE c.lease_owner END,
        lease_until = CASE WHEN $12 <> '' AND c.lease_owner = NULLIF($12, '')::uuid THEN NULL ELSE c.lease_until END
    FROM m WHERE c.workspace_id = $3 AND c.id = $2
)`
}

// createdAtJSON is m.created_at as encoding/json writes a time.Time in UTC, as the events
// built in Go carry it.
var createdAtJSON = realtime.JSONTime("m.created_at")

// realtimeEvent is realtime.EventCTE with a constant event type.
func realtimeEvent(name, from, ws, conv, typ, payload string) string {
	return realtime.EventCTE(name, from, ws, conv, "'"+typ+"'", payload)
}

// convColsOf is convCols qualified by table (RETURNING of an UPDATE … FROM names them).
func convColsOf(table string) string {
	cols := strings.Split(convCols, ", ")
	for i, c := range cols {
		cols[i] = table + "." + c
	}
	return strings.Join(cols, ", ")
}

func (store) lockCustomer(ctx context.Context, q sqlx.ExtContext, ws, agentID, channelType, customerID string) error {
	_, err := q.ExecContext(ctx, qLockResolve, ws, agentID, channelType, customerID)
	return err
}

func (store) findActive(ctx context.Context, q sqlx.ExtContext, ws, agentID, channelType, customerID string) (convRow, error) {
	var r convRow
	err := sqlx.GetContext(ctx, q, &r, qFindActive, ws, agentID, channelType, customerID)
	return r, noRows(err)
}

func (store) insertConversation(ctx context.Context, q sqlx.ExtContext, ws, agentID, channelType, customerID, customerName string) (convRow, error) {
	var r convRow
	err := sqlx.GetContext(ctx, q, &r, qInsertConv, newID(), ws, agentID, channelType, customerID, customerName)
	return r, err
}

func (store) getConversation(ctx context.Context, q sqlx.ExtContext, ws, id string, forUpdate bool) (convRow, error) {
	var r convRow
	query := qGetConv
	if forUpdate {
		query = qGetConvForUpdate
	}
	err := sqlx.GetContext(ctx, q, &r, query, ws, id)
	return r, noRows(err)
}

func (store) setStatus(ctx context.Context, q sqlx.ExtContext, ws, id, status string) (convRow, error) {
	var r convRow
	err := sqlx.GetContext(ctx, q, &r, qSetStatus, ws, id, status)
	return r, noRows(err)
}

// patchConversation replaces tags and/or metadata (nil = unchanged).
func (store) patchConversation(ctx context.Context, q sqlx.ExtContext, ws, id string, tags []string, metadata json.RawMessage) (convRow, error) {
	var r convRow
	var t any
	if tags != nil {
		t = pq.StringArray(tags)
	}
	var md any
	if metadata != nil {
		md = []byte(metadata)
	}
	err := sqlx.GetContext(ctx, q, &r, qPatchConv, ws, id, t, md)
	return r, noRows(err)
}

func (store) setAutoTags(ctx context.Context, q sqlx.ExtContext, ws, id string, tags []string) error {
	_, err := q.ExecContext(ctx, qSetTags, ws, id, pq.StringArray(tags))
	return err
}

// takeLease claims the conversation for ttl and returns it, locked until q's transaction
// ends; false when another holder's lease is live or the conversation is missing or not
// agentID's on channelType (getConversation tells which).
func (store) takeLease(ctx context.Context, q sqlx.ExtContext, ws, id, agentID, channelType, owner string, ttl time.Duration) (convRow, bool, error) {
	var r convRow
	err := sqlx.GetContext(ctx, q, &r, qTakeLease, ws, id, owner, ttl.Milliseconds(), agentID, channelType)
	if pg.IsNoRows(err) {
		return r, false, nil
	}
	return r, err == nil, err
}

// renewLease extends owner's lease on the conversation by ttl from now; nothing when the
// lease is no longer owner's.
func (store) renewLease(ctx context.Context, q sqlx.ExecerContext, id, owner string, ttl time.Duration) error {
	_, err := q.ExecContext(ctx, qRenewLease, id, owner, ttl.Milliseconds())
	return err
}

func (store) releaseLease(ctx context.Context, q sqlx.ExtContext, id, owner string) error {
	_, err := q.ExecContext(ctx, qReleaseLease, id, owner)
	return err
}

// newMsg is a message to insert.
type newMsg struct {
	ConversationID, WorkspaceID string
	Role, Content               string
	Confidence                  *float64
	LatencyMs, Tokens           *int
	ChannelMsgID                string
	DeliveryStatus              *string
	Metadata                    map[string]any
	// ReleaseLease, when not empty, is the lease owner whose lease on the conversation the
	// insert releases (the pipeline's reply).
	ReleaseLease string
	// UnlessHumanAfter, when set, is the USER message being answered: nothing is stored
	// (errHumanReplied) when a HUMAN_AGENT message is newer.
	UnlessHumanAfter *msgRow
}

// insertMessage stores m, touches its conversation (releasing m.ReleaseLease's lease) and
// publishes new_message, in one statement; duplicate is true (and the earlier row returned, nothing touched) when the
// conversation already has a message with m.ChannelMsgID. errHumanReplied: m.UnlessHumanAfter
// is set and a human replied after it (nothing stored).
func (store) insertMessage(ctx context.Context, q sqlx.ExtContext, m newMsg) (r msgRow, duplicate bool, err error) {
	_, args, err := m.args()
	if err != nil {
		return r, false, err
	}
	err = sqlx.GetContext(ctx, q, &r, qInsertMsg, args...)
	return insertResult(ctx, q, m, r, err)
}

// insertUser is insertMessage that also returns the up to n turns before the new message,
// oldest first (nil for a duplicate: read them with history).
func (store) insertUser(ctx context.Context, q sqlx.ExtContext, m newMsg, n int) (msgRow, bool, []agentapi.Turn, error) {
	_, args, err := m.args()
	if err != nil {
		return msgRow{}, false, nil, err
	}
	var r struct {
		msgRow
		Roles    pq.StringArray `db:"h_roles"`
		Contents pq.StringArray `db:"h_contents"`
	}
	err = sqlx.GetContext(ctx, q, &r, qInsertUserMsg, append(args, n)...)
	row, dup, err := insertResult(ctx, q, m, r.msgRow, err)
	if err != nil || dup {
		return row, dup, nil, err
	}
	if len(r.Roles) != len(r.Contents) {
		return row, false, nil, fmt.Errorf("channels: history of %d roles and %d contents", len(r.Roles), len(r.Contents))
	}
	turns := make([]agentapi.Turn, len(r.Roles))
	for i := range r.Roles {
		turns[i] = agentapi.Turn{Role: r.Roles[i], Content: r.Contents[i]}
	}
	return row, false, turns, nil
}

// leasedUser is what leaseStoreUser wrote.
type leasedUser struct {
	conv convRow // as it is after the message
	msg  msgRow
	dup  bool
	// history is the turns before msg, oldest first; nil for a duplicate.
	history []agentapi.Turn
}

// leaseStoreUser takes owner's lease on c (c.ID of c.AgentID on c.ChannelType in
// c.WorkspaceID) for ttl and stores the USER message m (m.Content, m.ChannelMsgID) with the up
// to n turns before it, publishing user_message, in one autocommit statement
// (qLeaseStoreUser). taken is false, and nothing written, when the conversation is missing,
// not the agent's on the channel, RESOLVED or ABANDONED, leased by another holder, or changed
// by a transaction that committed after the statement began (the lease's transaction in
// leaseAndStoreUser reads afresh). For a
// duplicate channel message id the earlier message is returned and the lease is taken all
// the same.
func (store) leaseStoreUser(ctx context.Context, q sqlx.ExtContext, c convRow, owner string, ttl time.Duration, m newMsg, n int) (u leasedUser, taken bool, err error) {
	var r struct {
		convRow
		Dup       bool           `db:"dup"`
		CreatedAt *time.Time     `db:"msg_created_at"`
		Roles     pq.StringArray `db:"h_roles"`
		Contents  pq.StringArray `db:"h_contents"`
	}
	id := newID()
	err = sqlx.GetContext(ctx, q, &r, qLeaseStoreUser, c.WorkspaceID, c.ID, owner, ttl.Milliseconds(), c.AgentID, c.ChannelType,
		id, m.Content, m.ChannelMsgID, n)
	if pg.IsNoRows(err) {
		return u, false, nil
	}
	if err != nil {
		return u, false, err
	}
	u.conv = r.convRow
	if r.CreatedAt == nil {
		// A duplicate (seen by the statement, or committed by a concurrent one meanwhile).
		err = sqlx.GetContext(ctx, q, &u.msg, qMsgByChannelID, c.ID, m.ChannelMsgID)
		u.dup = true
		return u, true, err
	}
	if len(r.Roles) != len(r.Contents) {
		return u, true, fmt.Errorf("channels: history of %d roles and %d contents", len(r.Roles), len(r.Contents))
	}
	var cmid *string
	if m.ChannelMsgID != "" {
		cmid = &m.ChannelMsgID
	}
	u.msg = msgRow{
		ID: id, ConversationID: r.ID, WorkspaceID: r.WorkspaceID, Role: RoleUser, Content: m.Content,
		ChannelMsgID: cmid, Metadata: json.RawMessage(`{}`), CreatedAt: *r.CreatedAt,
	}
	u.history = make([]agentapi.Turn, len(r.Roles))
	for i := range r.Roles {
		u.history[i] = agentapi.Turn{Role: r.Roles[i], Content: r.Contents[i]}
	}
	return u, true, nil
}

// insertIfOurs runs qInsertIfOurs for the message m (m.UnlessHumanAfter set) in the
// conversation m.ConversationID of m.WorkspaceID: it returns the locked conversation and the
// stored message, nil when the conversation is not OPEN or a human replied after
// m.UnlessHumanAfter. fresh false: the conversation changed after the statement's snapshot
// and nothing was stored (check again with getConversation and insertMessage). errNoRows:
// no such conversation.
func (store) insertIfOurs(ctx context.Context, q sqlx.ExtContext, m newMsg) (c convRow, stored *msgRow, fresh bool, err error) {
	id, args, err := m.args()
	if err != nil {
		return c, nil, false, err
	}
	var r struct {
		convRow
		Fresh     bool       `db:"fresh"`
		CreatedAt *time.Time `db:"msg_created_at"`
	}
	if err := sqlx.GetContext(ctx, q, &r, qInsertIfOurs, args...); err != nil {
		return c, nil, false, noRows(err)
	}
	if r.CreatedAt == nil {
		return r.convRow, nil, r.Fresh, nil
	}
	md, _ := args[10].([]byte)
	return r.convRow, &msgRow{
		ID: id, ConversationID: m.ConversationID, WorkspaceID: m.WorkspaceID, Role: m.Role, Content: m.Content,
		Confidence: m.Confidence, LatencyMs: m.LatencyMs, Tokens: m.Tokens, DeliveryStatus: m.DeliveryStatus,
		Metadata: md, CreatedAt: *r.CreatedAt,
	}, true, nil
}

// publishUserMessage publishes user_message for the stored USER message id (the
// transactional path of the USER message; qLeaseStoreUser publishes its own).
func (store) publishUserMessage(ctx context.Context, q sqlx.ExtContext, id string) error {
	var n int
	if err := sqlx.GetContext(ctx, q, &n, qPublishUserMessage, id); err != nil {
		return fmt.Errorf("channels: publish user_message: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("channels: publish user_message: message %s not found", id)
	}
	return nil
}

// args are qInsertMsg's $1–$14; id is $1, the new message's id.
func (m newMsg) args() (id string, args []any, err error) {
	md := []byte(`{}`)
	if len(m.Metadata) > 0 {
		var err error
		if md, err = json.Marshal(m.Metadata); err != nil {
			return "", nil, fmt.Errorf("channels: message metadata: %w", err)
		}
	}
	guardID, guardAt := "", time.Time{}
	if u := m.UnlessHumanAfter; u != nil {
		guardID, guardAt = u.ID, u.CreatedAt
	}
	id = newID()
	return id, []any{
		id, m.ConversationID, m.WorkspaceID, m.Role, m.Content, m.Confidence, m.LatencyMs, m.Tokens,
		m.ChannelMsgID, m.DeliveryStatus, md, m.ReleaseLease, guardID, guardAt,
	}, nil
}

// insertResult maps an insert's empty result: the earlier message of a duplicate channel
// message id, or errHumanReplied.
func insertResult(ctx context.Context, q sqlx.ExtContext, m newMsg, r msgRow, err error) (msgRow, bool, error) {
	switch {
	case !pg.IsNoRows(err):
		return r, false, err
	case m.ChannelMsgID != "":
		err = sqlx.GetContext(ctx, q, &r, qMsgByChannelID, m.ConversationID, m.ChannelMsgID)
		return r, true, err
	case m.UnlessHumanAfter != nil:
		return r, false, errHumanReplied
	}
	return r, false, err
}

// errHumanReplied is insertMessage's refusal of a reply to a message a human answered.
var errHumanReplied = errors.New("channels: a human replied")

func (store) getMessage(ctx context.Context, q sqlx.ExtContext, ws, id string, forUpdate bool) (msgRow, error) {
	var r msgRow
	query := qGetMsg
	if forUpdate {
		query = qGetMsgForUpdate
	}
	err := sqlx.GetContext(ctx, q, &r, query, ws, id)
	return r, noRows(err)
}

func (store) setDelivery(ctx context.Context, q sqlx.ExtContext, ws, id, status string, meta map[string]any) error {
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if meta == nil {
		b = []byte(`{}`)
	}
	_, err = q.ExecContext(ctx, qSetDelivery, ws, id, status, b)
	return err
}

// history returns up to n messages before (at, id), oldest first.
func (store) history(ctx context.Context, q sqlx.ExtContext, convID string, at time.Time, id string, n int) ([]msgRow, error) {
	var rows []msgRow
	if err := sqlx.SelectContext(ctx, q, &rows, qHistory, convID, at, id, n); err != nil {
		return nil, err
	}
	reverse(rows)
	return rows, nil
}

// lastMessages returns the conversation's last n messages, oldest first.
func (store) lastMessages(ctx context.Context, q sqlx.ExtContext, convID string, n int) ([]msgRow, error) {
	var rows []msgRow
	if err := sqlx.SelectContext(ctx, q, &rows, qLastMessages, convID, n); err != nil {
		return nil, err
	}
	reverse(rows)
	return rows, nil
}

func (store) humanAfter(ctx context.Context, q sqlx.ExtContext, convID string, at time.Time, id string) (bool, error) {
	var b bool
	err := sqlx.GetContext(ctx, q, &b, qHumanAfter, convID, at, id)
	return b, err
}

// convFilter is the conversations list's query.
type convFilter struct {
	AgentID, Status, ChannelType string
	From, To                     *time.Time
	Limit                        int
	// After is the keyset position (last_message_at, id) of the previous page's last item.
	AfterAt *time.Time
	AfterID string
}

// answeredAfter reports whether the conversation has a reply after the message at (at, id).
func (store) answeredAfter(ctx context.Context, q sqlx.ExtContext, convID string, at time.Time, id string) (bool, error) {
	var b bool
	err := sqlx.GetContext(ctx, q, &b, qAnsweredAfter, convID, at, id)
	return b, err
}

// listConversations returns up to f.Limit+1 conversations, newest activity first.
func (store) listConversations(ctx context.Context, q sqlx.ExtContext, ws string, f convFilter) ([]convRow, error) {
	var (
		where = []string{"workspace_id = $1"}
		args  = []any{ws}
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if f.AgentID != "" {
		add("agent_id = ?", f.AgentID)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.ChannelType != "" {
		add("channel_type = ?", f.ChannelType)
	}
	if f.From != nil {
		add("last_message_at >= ?", *f.From)
	}
	if f.To != nil {
		add("last_message_at < ?", *f.To)
	}
	if f.AfterAt != nil {
		args = append(args, *f.AfterAt, f.AfterID)
		where = append(where, fmt.Sprintf("(last_message_at, id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, f.Limit+1)
	query := `SELECT ` + convCols + ` FROM conversations WHERE ` + strings.Join(where, " AND ") +
		fmt.Sprintf(` ORDER BY last_message_at DESC, id DESC LIMIT $%d`, len(args))
	var rows []convRow
	err := sqlx.SelectContext(ctx, q, &rows, query, args...)
	return rows, err
}

// listMessages returns up to limit+1 messages after the keyset position, oldest first.
func (store) listMessages(ctx context.Context, q sqlx.ExtContext, ws, convID string, afterAt *time.Time, afterID string, limit int) ([]msgRow, error) {
	var rows []msgRow
	var err error
	if afterAt == nil {
		err = sqlx.SelectContext(ctx, q, &rows, `SELECT `+msgCols+` FROM messages
WHERE workspace_id = $1 AND conversation_id = $2 ORDER BY created_at, id LIMIT $3`, ws, convID, limit+1)
	} else {
		err = sqlx.SelectContext(ctx, q, &rows, `SELECT `+msgCols+` FROM messages
WHERE workspace_id = $1 AND conversation_id = $2 AND (created_at, id) > ($3, $4) ORDER BY created_at, id LIMIT $5`,
			ws, convID, *afterAt, afterID, limit+1)
	}
	return rows, err
}

func (store) insertHandoff(ctx context.Context, q sqlx.ExtContext, ws, convID, trigger string, confidence *float64, dest string) (handoffRow, error) {
	var r handoffRow
	err := sqlx.GetContext(ctx, q, &r, qInsertHandoff, newID(), convID, ws, trigger, confidence, dest)
	return r, err
}

func (store) getHandoff(ctx context.Context, q sqlx.ExtContext, ws, id string, forUpdate bool) (handoffRow, error) {
	var r handoffRow
	query := qGetHandoff
	if forUpdate {
		query = qGetHandoffForUpdate
	}
	err := sqlx.GetContext(ctx, q, &r, query, ws, id)
	return r, noRows(err)
}

func (store) listHandoffs(ctx context.Context, q sqlx.ExtContext, ws, convID string) ([]handoffRow, error) {
	var rows []handoffRow
	err := sqlx.SelectContext(ctx, q, &rows, qListHandoffs, ws, convID)
	return rows, err
}

func (store) resolveHandoff(ctx context.Context, q sqlx.ExtContext, ws, id string, note *string) (handoffRow, error) {
	var r handoffRow
	err := sqlx.GetContext(ctx, q, &r, qResolveHandoff, ws, id, note)
	return r, noRows(err)
}

// setSummary stores the handoff's summary unless it has one; false when it had.
func (store) setSummary(ctx context.Context, q sqlx.ExtContext, ws, id, summary string) (bool, error) {
	res, err := q.ExecContext(ctx, qSetSummary, ws, id, summary)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (store) setTicket(ctx context.Context, q sqlx.ExtContext, ws, id, ticketID string) error {
	_, err := q.ExecContext(ctx, qSetTicket, ws, id, ticketID)
	return err
}

// setRouted marks the handoff routed; false when it already was.
func (store) setRouted(ctx context.Context, q sqlx.ExtContext, ws, id, via string) (bool, error) {
	res, err := q.ExecContext(ctx, qSetRouted, ws, id, via)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (store) getIntegration(ctx context.Context, q sqlx.ExtContext, ws, kind string) (enc []byte, keyVersion int, err error) {
	var r struct {
		Enc        []byte `db:"credentials_enc"`
		KeyVersion int    `db:"key_version"`
	}
	err = sqlx.GetContext(ctx, q, &r, qGetIntegration, ws, kind)
	return r.Enc, r.KeyVersion, noRows(err)
}

func (store) upsertIntegration(ctx context.Context, q sqlx.ExtContext, ws, kind string, enc []byte, keyVersion int) error {
	_, err := q.ExecContext(ctx, qUpsertIntegration, newID(), ws, kind, enc, keyVersion)
	return err
}

func noRows(err error) error {
	if pg.IsNoRows(err) {
		return errNoRows
	}
	return err
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}
