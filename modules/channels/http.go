package channels

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/web"
)

type handlers struct {
	svc   *Service
	hooks *webhookChannels // the message webhooks' channel cache (webhooks_service.go)
}

// workspaceOf is the caller's workspace, from the token.
func workspaceOf(c echo.Context) (string, error) {
	p, ok := authn.FromContext(c.Request().Context())
	if !ok {
		return "", apperr.E(apperr.MissingToken, "Authentication required")
	}
	return p.WorkspaceID, nil
}

// parseTime accepts RFC 3339 or a plain date (UTC midnight).
func parseTime(v string) (*time.Time, bool) {
	if v == "" {
		return nil, true
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return &t, true
		}
	}
	return nil, false
}

func (h *handlers) listConversations(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	req, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	from, okFrom := parseTime(c.QueryParam("from"))
	to, okTo := parseTime(c.QueryParam("to"))
	p := web.Problems{}
	p.Check(okFrom, "from", "must be an RFC 3339 timestamp or a date (YYYY-MM-DD)")
	p.Check(okTo, "to", "must be an RFC 3339 timestamp or a date (YYYY-MM-DD)")
	if err := p.Err(); err != nil {
		return err
	}
	list, err := h.svc.ListConversations(c.Request().Context(), ws, ConversationQuery{
		AgentID: c.QueryParam("agentId"), Status: c.QueryParam("status"), ChannelType: c.QueryParam("channelType"),
		From: from, To: to, Page: req,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

type conversationOut struct {
	Conversation Conversation `json:"conversation"`
	Messages     []Message    `json:"messages"`
	// NextCursor pages through the messages (oldest first); null on the last page.
	NextCursor *string `json:"nextCursor"`
}

func (h *handlers) getConversation(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	id, err := web.PathUUID(c, "id", "Conversation")
	if err != nil {
		return err
	}
	req, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	conv, msgs, err := h.svc.GetConversation(c.Request().Context(), ws, id, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, conversationOut{Conversation: conv, Messages: msgs.Items, NextCursor: msgs.NextCursor})
}

type patchConversationIn struct {
	Status   *string         `json:"status"`
	Tags     *[]string       `json:"tags"`
	Metadata json.RawMessage `json:"metadata"`
}

func (h *handlers) patchConversation(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	id, err := web.PathUUID(c, "id", "Conversation")
	if err != nil {
		return err
	}
	var in patchConversationIn
	if err := web.Bind(c, &in); err != nil {
		return err
	}
	p := ConversationPatch{Status: in.Status}
	if in.Tags != nil {
		p.Tags = *in.Tags
		if p.Tags == nil {
			p.Tags = []string{}
		}
	}
	if len(in.Metadata) > 0 && string(in.Metadata) != "null" {
		p.Metadata = in.Metadata
	}
	conv, err := h.svc.PatchConversation(c.Request().Context(), ws, id, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, conv)
}

type postMessageIn struct {
	Content string `json:"content"`
}

func (h *handlers) postMessage(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	id, err := web.PathUUID(c, "id", "Conversation")
	if err != nil {
		return err
	}
	var in postMessageIn
	if err := web.Bind(c, &in); err != nil {
		return err
	}
	m, err := h.svc.HumanReply(c.Request().Context(), ws, id, in.Content)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, m)
}

type postHandoffIn struct {
	Trigger     string `json:"trigger"`
	Destination string `json:"destination"`
}

func (h *handlers) postHandoff(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	id, err := web.PathUUID(c, "id", "Conversation")
	if err != nil {
		return err
	}
	var in postHandoffIn
	if err := web.Bind(c, &in); err != nil {
		return err
	}
	ho, err := h.svc.ManualHandoff(c.Request().Context(), ws, id, in.Trigger, in.Destination)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, ho)
}

func (h *handlers) listHandoffs(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	id, err := web.PathUUID(c, "id", "Conversation")
	if err != nil {
		return err
	}
	items, err := h.svc.ListHandoffs(c.Request().Context(), ws, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page.Of(items, ""))
}

type patchHandoffIn struct {
	Resolved     *bool   `json:"resolved"`
	LearningNote *string `json:"learningNote"`
}

func (h *handlers) patchHandoff(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	id, err := web.PathUUID(c, "id", "Handoff")
	if err != nil {
		return err
	}
	var in patchHandoffIn
	if err := web.Bind(c, &in); err != nil {
		return err
	}
	ho, err := h.svc.ResolveHandoff(c.Request().Context(), ws, id, in.Resolved != nil && *in.Resolved, in.LearningNote)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ho)
}
