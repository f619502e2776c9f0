package channels

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/billing"
	"github.com/axonhq/axon/platform/apperr"
)

// CustomerConversation returns the web-channel conversation a customer's next message goes
// to: conversationID when given (NOT_FOUND unless it belongs to the workspace and the
// agent), else the customer's current OPEN or HANDED_OFF conversation (the pipeline's
// resolver rule, under the same per-customer lock), else a new OPEN one. name, when not
// empty, is recorded as the customer's name.
func (s *Service) CustomerConversation(ctx context.Context, workspaceID, agentID, customerID, name, conversationID string) (string, error) {
	if conversationID != "" {
		r, err := s.st.getConversation(ctx, s.db, workspaceID, conversationID, false)
		if errors.Is(err, errNoRows) || (err == nil && r.AgentID != agentID) {
			return "", apperr.NotFoundf("Conversation")
		}
		if err != nil {
			return "", err
		}
		return r.ID, nil
	}
	var id string
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.st.lockCustomer(ctx, tx, workspaceID, agentID, ChannelWeb, customerID); err != nil {
			return err
		}
		r, err := s.st.findActive(ctx, tx, workspaceID, agentID, ChannelWeb, customerID)
		switch {
		case err == nil:
			id = r.ID
			if name != "" {
				return s.st.renameCustomer(ctx, tx, workspaceID, id, name)
			}
			return nil
		case errors.Is(err, errNoRows):
			r, err = s.st.insertConversation(ctx, tx, workspaceID, agentID, ChannelWeb, customerID, name)
			id = r.ID
			return err
		default:
			return err
		}
	})
	return id, err
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
