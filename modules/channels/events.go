package channels

import "context"

// AuthorizeConversation is GET /v1/events' check of ?conversationId=: NOT_FOUND unless the
// conversation belongs to the workspace.
func (s *Service) AuthorizeConversation(ctx context.Context, ws, id string) error {
	if _, err := s.st.getConversation(ctx, s.db, ws, id, false); err != nil {
		return notFound(err, ErrConversationNotFound)
	}
	return nil
}
