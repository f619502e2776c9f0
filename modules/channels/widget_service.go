package channels

import (
	"context"
	"strings"
	"time"

	"github.com/axonhq/axon/modules/billing"
	"github.com/axonhq/axon/platform/apperr"
)

// CustomerConversation returns the web-channel conversation a customer's next message goes
// to, through the pipeline's resolver (resolveConversation): conversationID when given
// (NOT_FOUND unless it is the agent's WEB conversation in the workspace), else the
// customer's current OPEN or HANDED_OFF conversation, else a new OPEN one. name, when not
// empty, is recorded as the customer's name.
func (s *Service) CustomerConversation(ctx context.Context, workspaceID, agentID, customerID, name, conversationID string) (string, error) {
	c, err := s.resolveConversation(ctx, customerKey{
		WorkspaceID: workspaceID, AgentID: agentID, ChannelType: ChannelWeb, CustomerID: customerID, Name: name,
	}, conversationID)
	return c.ID, err
}

// ConversationMessages returns a page of the conversation's messages, oldest first, after
// the opaque position cursor ("" for the first page), and the next page's cursor ("" at
// the end). ASSISTANT messages carry their sources.
func (s *Service) ConversationMessages(ctx context.Context, workspaceID, conversationID, cursor string, limit int) ([]Message, string, error) {
	var (
		afterAt *time.Time
		afterID string
	)
	if cursor != "" {
		at, id, ok := strings.Cut(cursor, "|")
		t, err := time.Parse(time.RFC3339Nano, at)
		if !ok || err != nil || len(id) != 36 {
			return nil, "", apperr.ValidationFields(map[string]string{"cursor": "is not a cursor this API issued"})
		}
		afterAt, afterID = &t, id
	}
	rows, err := s.st.listMessages(ctx, s.db, workspaceID, conversationID, afterAt, afterID, limit)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		next = last.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + last.ID
	}
	out := make([]Message, len(rows))
	for i, r := range rows {
		out[i] = r.out()
	}
	return out, next, nil
}

// CheckCredits answers INSUFFICIENT_CREDITS (402) when the workspace cannot pay for one
// reply. The streaming dashboard chat asks before its stream starts, so that the 402 is an
// ordinary JSON response; Respond checks again before the AI call.
func (s *Service) CheckCredits(ctx context.Context, workspaceID string) error {
	bal, err := s.credits.Balance(ctx, workspaceID)
	if err != nil {
		return err
	}
	if bal < billing.CostReply {
		return billing.ErrInsufficientCredits.WithDetails(map[string]any{"balance": bal, "required": billing.CostReply})
	}
	return nil
}
