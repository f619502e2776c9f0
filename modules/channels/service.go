package channels

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/channels/outbound"
	"github.com/axonhq/axon/modules/email/mail"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/secretbox"
	"github.com/axonhq/axon/platform/web"
)

// Channel types.
const (
	ChannelWeb = "WEB"
)

// Conversation statuses.
const (
	StatusOpen      = "OPEN"
	StatusHandedOff = "HANDED_OFF"
	StatusResolved  = "RESOLVED"
	StatusAbandoned = "ABANDONED"
)

// Message roles.
const (
	RoleUser       = "USER"
	RoleAssistant  = "ASSISTANT"
	RoleSystem     = "SYSTEM"
	RoleHumanAgent = "HUMAN_AGENT"
)

// Service is the channels business logic; it never sees echo or River.
type Service struct {
	db          *pg.DB
	st          store
	queue       queue.Inserter
	pub         realtime.Publisher
	agents      AgentDirectory
	resp        Responder
	credits     Credits
	mailer      mail.Mailer
	staff       Staff
	box         *secretbox.Box
	log         *slog.Logger
	frontendURL string
	apiBase     string // API_BASE_URL, for channel webhook URLs

	zendeskBase, freshdeskBase string
	http                       *http.Client
	outbound                   *outbound.Senders
	leaseRenew                 time.Duration // leaseRenewEvery; tests shorten it
	now                        func() time.Time
}

// Conversation is one conversation as the API shows it.
type Conversation struct {
	ID            string          `json:"id"`
	WorkspaceID   string          `json:"-"`
	AgentID       string          `json:"agentId"`
	ChannelType   string          `json:"channelType"`
	ExternalID    *string         `json:"externalId"`
	CustomerID    *string         `json:"customerId"`
	CustomerName  *string         `json:"customerName"`
	Status        string          `json:"status"`
	Sentiment     *float64        `json:"sentiment"`
	IntentScore   *float64        `json:"intentScore"`
	Tags          []string        `json:"tags"`
	Metadata      json.RawMessage `json:"metadata"`
	ResolvedAt    *time.Time      `json:"resolvedAt"`
	LastMessageAt time.Time       `json:"lastMessageAt"`
	CreatedAt     time.Time       `json:"createdAt"`
	UpdatedAt     time.Time       `json:"updatedAt"`
}

// Message is one message as the API shows it.
type Message struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversationId"`
	Role           string    `json:"role"`
	Content        string    `json:"content"`
	Confidence     *float64  `json:"confidence"`
	LatencyMs      *int      `json:"latencyMs"`
	Tokens         *int      `json:"tokens,omitempty"`
	DeliveryStatus *string   `json:"deliveryStatus"`
	Sources        []Source  `json:"sources"`
	CreatedAt      time.Time `json:"createdAt"`
}

// Handoff is one handoff as the API shows it.
type Handoff struct {
	ID               string     `json:"id"`
	ConversationID   string     `json:"conversationId"`
	Trigger          string     `json:"trigger"`
	Confidence       *float64   `json:"confidence"`
	Summary          *string    `json:"summary"`
	Destination      string     `json:"destination"`
	ExternalTicketID *string    `json:"externalTicketId"`
	ResolvedAt       *time.Time `json:"resolvedAt"`
	LearningNote     *string    `json:"learningNote"`
	// RoutedVia says where the handoff went: ZENDESK, FRESHDESK, EMAIL or NONE; nil
	// until the channels.handoff job routed it.
	RoutedVia *string   `json:"routedVia"`
	CreatedAt time.Time `json:"createdAt"`
}

// Errors of the module.
var (
	ErrConversationNotFound = apperr.NotFoundf("Conversation")
	ErrHandoffNotFound      = apperr.NotFoundf("Handoff")
)

// Valid enum values.
var (
	validStatuses     = []string{StatusOpen, StatusHandedOff, StatusResolved, StatusAbandoned}
	validChannelTypes = []string{"WEB", "WHATSAPP", "TELEGRAM", "MESSENGER", "SLACK", "SMS", "EMAIL", "VOICE"}
	validTriggers     = []string{"LOW_CONFIDENCE", "ANGER_DETECTED", "EXPLICIT_REQUEST", "POLICY_RULE", "BUSINESS_HOURS"}
	validDests        = []string{DestNone, DestLiveAgent, DestEmailQueue, DestZendesk, DestFreshdesk}
)

// ConversationQuery is the conversations list's filter and page.
type ConversationQuery struct {
	AgentID, Status, ChannelType string
	From, To                     *time.Time
	Page                         page.Request
}

// after is the store's keyset position of a page request: nil on the first page.
func after(req page.Request) (*time.Time, string) {
	if req.After.ID == "" {
		return nil, ""
	}
	at := req.After.Time
	return &at, req.After.ID
}

func convKey(r convRow) page.Key { return page.Key{Time: r.LastMessageAt, ID: r.ID} }
func msgKey(r msgRow) page.Key   { return page.Key{Time: r.CreatedAt, ID: r.ID} }

// ListConversations lists one page of the workspace's conversations, newest activity first.
func (s *Service) ListConversations(ctx context.Context, ws string, q ConversationQuery) (page.List[Conversation], error) {
	p := web.Problems{}
	p.Check(q.AgentID == "" || web.IsUUID(q.AgentID), "agentId", "must be a UUID")
	p.Check(q.Status == "" || slices.Contains(validStatuses, q.Status), "status", "must be one of "+strings.Join(validStatuses, ", "))
	p.Check(q.ChannelType == "" || slices.Contains(validChannelTypes, q.ChannelType), "channelType", "must be one of "+strings.Join(validChannelTypes, ", "))
	p.Check(q.From == nil || q.To == nil || q.From.Before(*q.To), "to", "must be after from")
	if err := p.Err(); err != nil {
		return page.List[Conversation]{}, err
	}
	afterAt, afterID := after(q.Page)
	rows, err := s.st.listConversations(ctx, s.db, ws, convFilter{
		AgentID: strings.ToLower(q.AgentID), Status: q.Status, ChannelType: q.ChannelType, From: q.From, To: q.To,
		Limit: q.Page.Limit, AfterAt: afterAt, AfterID: afterID,
	})
	if err != nil {
		return page.List[Conversation]{}, err
	}
	return page.Cut(q.Page, rows, convKey, convRow.out), nil
}

// GetConversation returns the conversation and one page of its messages, oldest first.
func (s *Service) GetConversation(ctx context.Context, ws, id string, req page.Request) (Conversation, page.List[Message], error) {
	c, err := s.st.getConversation(ctx, s.db, ws, id, false)
	if err != nil {
		return Conversation{}, page.List[Message]{}, notFound(err, ErrConversationNotFound)
	}
	afterAt, afterID := after(req)
	rows, err := s.st.listMessages(ctx, s.db, ws, id, afterAt, afterID, req.Limit)
	if err != nil {
		return Conversation{}, page.List[Message]{}, err
	}
	return c.out(), page.Cut(req, rows, msgKey, msgRow.out), nil
}

// ConversationPatch is PATCH /v1/conversations/:id. Nil fields are unchanged.
type ConversationPatch struct {
	Status   *string
	Tags     []string // nil = unchanged; empty = clear
	Metadata json.RawMessage
}

// PatchConversation changes status, tags and/or metadata. RESOLVED stamps resolvedAt; OPEN
// hands the conversation back to the AI. A status change publishes
// conversation_status_changed.
func (s *Service) PatchConversation(ctx context.Context, ws, id string, p ConversationPatch) (Conversation, error) {
	pr := web.Problems{}
	if p.Status != nil {
		pr.Check(slices.Contains(validStatuses, *p.Status), "status", "must be one of "+strings.Join(validStatuses, ", "))
	}
	pr.Check(len(p.Tags) <= 20, "tags", "must have at most 20 tags")
	for _, t := range p.Tags {
		pr.Check(strings.TrimSpace(t) != "" && len(t) <= 50, "tags", "must be non-empty strings of at most 50 characters")
	}
	if p.Metadata != nil {
		var obj map[string]any
		pr.Check(json.Unmarshal(p.Metadata, &obj) == nil && obj != nil, "metadata", "must be an object")
		pr.Check(len(p.Metadata) <= 16<<10, "metadata", "must be at most 16 KB")
	}
	if err := pr.Err(); err != nil {
		return Conversation{}, err
	}
	var out convRow
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := s.st.getConversation(ctx, tx, ws, id, true)
		if err != nil {
			return notFound(err, ErrConversationNotFound)
		}
		out = cur
		if p.Tags != nil || p.Metadata != nil {
			if out, err = s.st.patchConversation(ctx, tx, ws, id, p.Tags, p.Metadata); err != nil {
				return err
			}
		}
		if p.Status != nil && *p.Status != cur.Status {
			if out, err = s.st.setStatus(ctx, tx, ws, id, *p.Status); err != nil {
				return err
			}
			return s.publishStatus(ctx, tx, out)
		}
		return nil
	})
	return out.out(), err
}

func (s *Service) publishStatus(ctx context.Context, tx *sqlx.Tx, c convRow) error {
	return s.pub.Publish(ctx, tx, realtime.Event{
		WorkspaceID: c.WorkspaceID, ConversationID: c.ID, Type: realtime.TypeConversationStatusChanged,
		Payload: map[string]any{"conversationId": c.ID, "status": c.Status, "updatedAt": c.UpdatedAt.UTC()},
	})
}

// MaxContent is the longest message content accepted, in characters.
const MaxContent = 4000

// HumanReply stores a HUMAN_AGENT message and delivers it through the conversation's
// channel. A human joining takes the conversation from the AI: an OPEN conversation becomes
// HANDED_OFF (re-open it with PATCH status OPEN to bring the AI back), and an AI answer that
// was being generated is dropped (the pipeline re-checks this in its reply transaction).
func (s *Service) HumanReply(ctx context.Context, ws, convID, content string) (Message, error) {
	content = strings.TrimSpace(content)
	pr := web.Problems{}
	pr.Check(content != "", "content", "is required")
	pr.Check(utf8.RuneCountInString(content) <= MaxContent, "content", fmt.Sprintf("must be at most %d characters", MaxContent))
	if err := pr.Err(); err != nil {
		return Message{}, err
	}
	var out msgRow
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		c, err := s.st.getConversation(ctx, tx, ws, convID, true)
		if err != nil {
			return notFound(err, ErrConversationNotFound)
		}
		if c.Status == StatusOpen {
			if c, err = s.st.setStatus(ctx, tx, ws, convID, StatusHandedOff); err != nil {
				return err
			}
			if err := s.publishStatus(ctx, tx, c); err != nil {
				return err
			}
		}
		out, err = s.storeOutbound(ctx, tx, c, RoleHumanAgent, content, nil, nil, nil, nil)
		return err
	})
	return out.out(), err
}

// storeOutbound inserts a message the customer will see (ASSISTANT, SYSTEM or
// HUMAN_AGENT), touches the conversation and publishes new_message (in the insert's
// statement) and, for channels other than WEB, enqueues its channels.send_message job, all
// in tx. WEB messages are delivered when stored (the widget reads history and events), so
// they are SENT at once.
func (s *Service) storeOutbound(ctx context.Context, tx *sqlx.Tx, c convRow, role, content string,
	confidence *float64, latencyMs, tokens *int, meta map[string]any,
) (msgRow, error) {
	return s.storeOut(ctx, tx, c, newMsg{
		Role: role, Content: content, Confidence: confidence, LatencyMs: latencyMs, Tokens: tokens, Metadata: meta,
	})
}

// storeOut is storeOutbound of a message given whole (the pipeline's reply sets
// ReleaseLease: the insert's statement releases its lease). It sets the conversation and the
// delivery status.
func (s *Service) storeOut(ctx context.Context, tx *sqlx.Tx, c convRow, nm newMsg) (msgRow, error) {
	nm = outgoing(c, nm)
	m, _, err := s.st.insertMessage(ctx, tx, nm)
	if err != nil {
		return m, fmt.Errorf("channels: store %s message: %w", nm.Role, err)
	}
	return m, s.enqueueSend(ctx, tx, c, m)
}

// outgoing is nm as storeOut stores it in c: a message without a channel message id,
// delivered (SENT) when stored on WEB, PENDING its send job elsewhere.
func outgoing(c convRow, nm newMsg) newMsg {
	status := deliveryPending
	if c.ChannelType == ChannelWeb {
		status = deliverySent
	}
	nm.ConversationID, nm.WorkspaceID, nm.DeliveryStatus, nm.ChannelMsgID = c.ID, c.WorkspaceID, &status, ""
	return nm
}

// enqueueSend enqueues the channels.send_message job of m, stored in c, in tx (none for WEB).
func (s *Service) enqueueSend(ctx context.Context, tx *sqlx.Tx, c convRow, m msgRow) error {
	if c.ChannelType == ChannelWeb {
		return nil
	}
	if _, err := s.queue.InsertTx(ctx, tx.Tx, SendMessageArgs{WorkspaceID: c.WorkspaceID, MessageID: m.ID}, nil); err != nil {
		return fmt.Errorf("channels: enqueue send: %w", err)
	}
	return nil
}

// Delivery statuses.
const (
	deliveryPending = "PENDING"
	deliverySent    = "SENT"
	deliveryFailed  = "FAILED"
)

// ListHandoffs returns the conversation's handoffs, newest first.
func (s *Service) ListHandoffs(ctx context.Context, ws, convID string) ([]Handoff, error) {
	if _, err := s.st.getConversation(ctx, s.db, ws, convID, false); err != nil {
		return nil, notFound(err, ErrConversationNotFound)
	}
	rows, err := s.st.listHandoffs(ctx, s.db, ws, convID)
	if err != nil {
		return nil, err
	}
	out := make([]Handoff, len(rows))
	for i, r := range rows {
		out[i] = r.out()
	}
	return out, nil
}

// ResolveHandoff marks the handoff resolved (idempotent: the first resolvedAt stays) and
// stores the learning note when one is given. It does not change the conversation's status.
func (s *Service) ResolveHandoff(ctx context.Context, ws, id string, resolved bool, note *string) (Handoff, error) {
	pr := web.Problems{}
	pr.Check(resolved, "resolved", "must be true")
	pr.Check(note == nil || utf8.RuneCountInString(*note) <= 5000, "learningNote", "must be at most 5000 characters")
	if err := pr.Err(); err != nil {
		return Handoff{}, err
	}
	r, err := s.st.resolveHandoff(ctx, s.db, ws, id, note)
	if err != nil {
		return Handoff{}, notFound(err, ErrHandoffNotFound)
	}
	return r.out(), nil
}

func notFound(err, nf error) error {
	if errors.Is(err, errNoRows) {
		return nf
	}
	return err
}
