package channels

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/axonhq/axon/modules/email"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/secretbox"
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
	mailer      email.Mailer
	staff       Staff
	box         *secretbox.Box
	log         *slog.Logger
	frontendURL string

	zendeskBase, freshdeskBase string
	http                       *http.Client
	senders                    map[string]Sender
	now                        func() time.Time
}

// Conversation is one conversation as the API shows it.
type Conversation struct {
	ID            string          `json:"id"`
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
	CreatedAt        time.Time  `json:"createdAt"`
}
