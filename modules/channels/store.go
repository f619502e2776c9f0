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

	"github.com/axonhq/axon/platform/pg"
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

	qTouchConv = `UPDATE conversations SET last_message_at = $3, updated_at = now() WHERE workspace_id = $1 AND id = $2`

	// The lease: taken when free or expired, released only by its owner.
	qTakeLease = `
UPDATE conversations SET lease_owner = $3, lease_until = now() + $4 * interval '1 millisecond'
WHERE workspace_id = $1 AND id = $2 AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $3)`

	qReleaseLease = `
UPDATE conversations SET lease_owner = NULL, lease_until = NULL
WHERE id = $1 AND lease_owner = $2`

	qInsertMsg = `
INSERT INTO messages (id, conversation_id, workspace_id, role, content, confidence, latency_ms, tokens,
                      channel_msg_id, delivery_status, metadata, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), $10, $11, clock_timestamp())
ON CONFLICT (conversation_id, channel_msg_id) DO NOTHING
RETURNING ` + msgCols

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

func (store) touch(ctx context.Context, q sqlx.ExtContext, ws, id string, at time.Time) error {
	_, err := q.ExecContext(ctx, qTouchConv, ws, id, at)
	return err
}

// takeLease claims the conversation for ttl; false when another holder's lease is live.
func (store) takeLease(ctx context.Context, q sqlx.ExtContext, ws, id, owner string, ttl time.Duration) (bool, error) {
	res, err := q.ExecContext(ctx, qTakeLease, ws, id, owner, ttl.Milliseconds())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
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
}

// insertMessage stores m; duplicate is true (and the earlier row returned) when the
// conversation already has a message with m.ChannelMsgID.
func (store) insertMessage(ctx context.Context, q sqlx.ExtContext, m newMsg) (r msgRow, duplicate bool, err error) {
	md := []byte(`{}`)
	if len(m.Metadata) > 0 {
		if md, err = json.Marshal(m.Metadata); err != nil {
			return r, false, fmt.Errorf("channels: message metadata: %w", err)
		}
	}
	err = sqlx.GetContext(ctx, q, &r, qInsertMsg, newID(), m.ConversationID, m.WorkspaceID, m.Role, m.Content,
		m.Confidence, m.LatencyMs, m.Tokens, m.ChannelMsgID, m.DeliveryStatus, md)
	if pg.IsNoRows(err) && m.ChannelMsgID != "" {
		err = sqlx.GetContext(ctx, q, &r, qMsgByChannelID, m.ConversationID, m.ChannelMsgID)
		return r, true, err
	}
	return r, false, err
}

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
