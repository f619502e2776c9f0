package channels

import (
	"context"

	"github.com/axonhq/axon/modules/billing/credit"
	"github.com/axonhq/axon/platform/page"
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

// ConversationMessages returns one page of the conversation's messages, oldest first.
// ASSISTANT messages carry their sources.
func (s *Service) ConversationMessages(ctx context.Context, workspaceID, conversationID string, req page.Request) (page.List[Message], error) {
	afterAt, afterID := after(req)
	rows, err := s.st.listMessages(ctx, s.db, workspaceID, conversationID, afterAt, afterID, req.Limit)
	if err != nil {
		return page.List[Message]{}, err
	}
	return page.Cut(req, rows, msgKey, msgRow.out), nil
}

// CheckCredits answers INSUFFICIENT_CREDITS (402) when the workspace cannot pay for one
// reply. The streaming dashboard chat asks before its stream starts, so that the 402 is an
// ordinary JSON response; Respond checks again before the AI call.
func (s *Service) CheckCredits(ctx context.Context, workspaceID string) error {
	bal, err := s.credits.Balance(ctx, workspaceID)
	if err != nil {
		return err
	}
	if bal < credit.CostReply {
		return credit.ErrInsufficientCredits.WithDetails(map[string]any{"balance": bal, "required": credit.CostReply})
	}
	return nil
}
