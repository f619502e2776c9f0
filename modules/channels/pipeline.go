package channels

import (
	"context"
	"errors"

	"github.com/axonhq/axon/modules/agents"
)

// Inbound is one customer message arriving on any channel.
type Inbound struct {
	WorkspaceID, AgentID string
	ChannelType          string // WEB | WHATSAPP | ...
	CustomerID           string // widget visitor id, dashboard user id, phone number, ...
	CustomerName         string
	ConversationID       string // optional: the caller already knows the conversation (dashboard chat, widget session)
	ChannelMsgID         string // dedupe key; "" when the channel has none
	Content              string
	// Strict: at too few credits answer apperr INSUFFICIENT_CREDITS 402 (dashboard chat)
	// instead of the customer fallback text.
	Strict bool
}

// Reply is what Respond stored and decided for one inbound message.
type Reply struct {
	ConversationID string
	// UserMessageID is the stored USER message (the earlier one when Duplicate).
	UserMessageID string
	// Message is the reply shown to the customer (ASSISTANT, or SYSTEM for canned, fallback
	// and handoff texts); nil when a human has the conversation and the AI stays silent, or
	// when Duplicate.
	Message *Message
	// Handoff is set when this message triggered one.
	Handoff *HandoffRef
	// Duplicate is true when ChannelMsgID had been seen in this conversation before: the
	// message was not processed again.
	Duplicate bool
}

// HandoffRef names a handoff triggered by a message.
type HandoffRef struct {
	ID          string `json:"id"`
	Trigger     string `json:"trigger"`
	Destination string `json:"destination"`
}

// Customer-facing texts of the pipeline.
const (
	TextNoCredits     = "I'm sorry, I'm unable to respond right now. Please try again later."
	TextProviderError = "I'm having trouble right now. Please try again in a moment."
)

// Source is one knowledge chunk an answer was given.
type Source = agents.Source

var errNotImplemented = errors.New("channels: Respond not implemented yet")

// Respond runs the whole pipeline for one message; onDelta (may be nil) receives the
// streamed answer pieces. It returns what was stored and decided.
func (s *Service) Respond(ctx context.Context, in Inbound, onDelta func(string) error) (Reply, error) {
	return Reply{}, errNotImplemented
}
