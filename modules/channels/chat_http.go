package channels

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/modules/agents/agentapi"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/web"
)

// WidgetDirectory reads an agent by id alone for the public widget routes
// (agents.Directory.Public). It returns an apperr NOT_FOUND error for a missing or deleted
// agent.
type WidgetDirectory interface {
	Public(ctx context.Context, agentID string) (agentapi.PublicAgent, error)
}

// SurfaceDeps are what the dashboard chat and the public widget need beyond the core.
type SurfaceDeps struct {
	// Issuer signs and verifies widget session tokens (aud "widget").
	Issuer *authn.Issuer
	// Limiter counts the chat and widget rate limits.
	Limiter cache.Limiter
	// Widgets reads an agent and its widget configuration by id (agents.Directory).
	Widgets WidgetDirectory
	// Model names the answering model in the OpenAI-compatible stream frames.
	Model string
	// PingEvery is the SSE keep-alive interval (default 15 s; tests shorten it).
	PingEvery time.Duration
	// WidgetDemo serves the demo page GET /widget/demo/:agentId (main.go: development and
	// test environments only); otherwise that page is 404.
	WidgetDemo bool
}

// surfaces holds SurfaceDeps with defaults applied.
type surfaces struct {
	SurfaceDeps
	svc *Service
	log *slog.Logger
}

func newSurfaces(svc *Service, d SurfaceDeps) (*surfaces, error) {
	if d.Issuer == nil || d.Limiter == nil || d.Widgets == nil {
		return nil, errors.New("channels: Surfaces.Issuer, Limiter and Widgets are required")
	}
	if d.Model == "" {
		d.Model = "axon"
	}
	if d.PingEvery <= 0 {
		d.PingEvery = defaultPingEvery
	}
	return &surfaces{SurfaceDeps: d, svc: svc, log: svc.log}, nil
}

// Answer shapes shared by the chat and the widget.

type answerOut struct {
	ConversationID string         `json:"conversationId"`
	Message        *answerMessage `json:"message"`
	Handoff        *HandoffRef    `json:"handoff,omitempty"`
}

type answerMessage struct {
	ID         string   `json:"id"`
	Role       string   `json:"role"`
	Content    string   `json:"content"`
	Confidence *float64 `json:"confidence"`
	LatencyMs  *int     `json:"latencyMs"`
	Sources    []Source `json:"sources"`
}

func toAnswer(r Reply) answerOut {
	out := answerOut{ConversationID: r.ConversationID, Handoff: r.Handoff}
	if m := r.Message; m != nil {
		out.Message = &answerMessage{
			ID: m.ID, Role: m.Role, Content: m.Content, Confidence: m.Confidence,
			LatencyMs: m.LatencyMs, Sources: m.Sources,
		}
		if out.Message.Sources == nil {
			out.Message.Sources = []Source{}
		}
	}
	return out
}

// chatRequest is the body of POST /v1/agents/:id/chat.
type chatRequest struct {
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Message        *string `json:"message"`
	ConversationID string  `json:"conversationId"`
	Stream         bool    `json:"stream"`
}

// question picks the message to answer: message when given, else the last user message of
// messages.
func (r chatRequest) question() (string, string) {
	if r.Message != nil {
		return *r.Message, "message"
	}
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if strings.EqualFold(r.Messages[i].Role, "user") {
			return r.Messages[i].Content, "messages"
		}
	}
	return "", "message"
}

// checkContent validates one customer message: present and at most MaxContent.
func checkContent(p web.Problems, field, s string) string {
	s = strings.TrimSpace(s)
	p.Check(s != "", field, "is required")
	p.Check(utf8.RuneCountInString(s) <= MaxContent, field, "must be at most 4000 characters")
	return s
}

// dashboardCustomer is the customer id of a dashboard user's test chat. The prefix keeps it
// apart from widget visitor ids, which may not contain ':'.
func dashboardCustomer(userID string) string { return "dashboard:" + userID }

// chat answers POST /v1/agents/:id/chat: the dashboard's test chat, channel WEB, the
// customer being the signed-in user. At too few credits it answers 402 before any AI call,
// in streaming mode too (the stream has not started then).
func (h *surfaces) chat(c echo.Context) error {
	p := authn.MustGet(c)
	agentID, err := web.PathUUID(c, "id", "Agent")
	if err != nil {
		return err
	}
	var req chatRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	probs := web.Problems{}
	q, field := req.question()
	q = checkContent(probs, field, q)
	probs.Check(len(req.Messages) <= 100, "messages", "must have at most 100 items")
	probs.Check(req.ConversationID == "" || web.IsUUID(req.ConversationID), "conversationId", "must be a UUID")
	if err := probs.Err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	// The agent must exist in the caller's workspace (404 otherwise, before anything is stored).
	agent, err := h.svc.agents.Get(ctx, p.WorkspaceID, agentID)
	if err != nil {
		return err
	}
	in := Inbound{
		WorkspaceID: p.WorkspaceID, AgentID: agentID, ChannelType: ChannelWeb,
		CustomerID: dashboardCustomer(p.UserID), Content: q, Strict: true, Agent: &agent,
	}
	in.ConversationID, err = h.svc.CustomerConversation(ctx, p.WorkspaceID, agentID, in.CustomerID, "", strings.ToLower(req.ConversationID))
	if err != nil {
		return err
	}
	return h.answer(c, in, req.Stream)
}

// answer runs the pipeline for in and writes the JSON answer or, with stream, the event
// stream. An error before the stream started is an ordinary JSON error response; after, an
// `event: error` frame.
func (h *surfaces) answer(c echo.Context, in Inbound, stream bool) error {
	ctx := c.Request().Context()
	if !stream {
		r, err := h.svc.Respond(ctx, in, nil)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, toAnswer(r))
	}

	if in.Strict {
		if err := h.svc.CheckCredits(ctx, in.WorkspaceID); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, streamMaxDuration)
	defer cancel()
	s := newSSEStream(c.Response(), "chatcmpl-"+uuid.NewString(), h.Model, in.ConversationID, time.Now())
	// Everything that answers 4xx has been checked (the agent, the conversation, the
	// content, the dashboard's credits): the stream starts now.
	if err := s.Begin(); err != nil {
		return nil
	}
	s.StartPinger(h.PingEvery)
	var sent strings.Builder
	r, err := h.svc.Respond(ctx, in, func(d string) error {
		sent.WriteString(d)
		return s.Delta(d)
	})
	s.StopPinger()
	if err != nil {
		if apperr.As(err) == nil || apperr.As(err).Code == apperr.Internal {
			h.log.ErrorContext(ctx, "chat stream failed", "err", err, "conversationId", in.ConversationID)
		}
		_ = s.Fail(err)
		return nil
	}
	s.SetConversation(r.ConversationID)
	final := streamFinal{Handoff: r.Handoff, Sources: []Source{}}
	if m := r.Message; m != nil {
		final.MessageID, final.Role, final.Confidence, final.LatencyMs = m.ID, m.Role, m.Confidence, m.LatencyMs
		if m.Sources != nil {
			final.Sources = m.Sources
		}
		switch {
		case sent.Len() == 0:
			// Canned, fallback and handoff texts are not streamed by the responder: the
			// whole text is one delta.
			if err := s.Delta(m.Content); err != nil {
				return nil
			}
		case m.Role == RoleSystem && r.Handoff == nil:
			// The provider failed after part of the answer was streamed (or the credit
			// ran out meanwhile): the stored fallback text is sent as the error frame.
			_ = s.Fail(apperr.E(apperr.ServiceUnavailable, m.Content).WithDetails(map[string]any{
				"conversationId": r.ConversationID, "messageId": m.ID,
			}))
			return nil
		case sent.String() != m.Content:
			// The stored message is not what was streamed (a handoff text replaced the
			// answer): the last chunk carries the text to show.
			content := m.Content
			final.Content = &content
		}
	}
	_ = s.Finish(final)
	return nil
}

// userKey counts a rate limit per signed-in user.
func userKey(c echo.Context) string {
	if p, ok := authn.Get(c); ok {
		return p.UserID
	}
	return ""
}
