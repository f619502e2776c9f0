package channels

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/modules/agents/agentapi"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/web"
)

// Widget session and limit settings (docs/decisions.md, "Chat and widget surfaces").
const (
	widgetSessionTTL = 24 * time.Hour

	widgetPerVisitor = 20  // messages a minute per visitor
	widgetPerIP      = 60  // sessions and messages a minute per IP
	widgetPerAgent   = 600 // sessions and messages a minute per agent
	widgetReadPerIP  = 120 // history reads and event streams a minute per IP

	widgetBodyLimit = "64K" // a 4,000-character message is at most 16 KB of UTF-8
	chatBodyLimit   = "512K"
)

// Keys of the request-scoped values the widget middleware sets.
const (
	ctxWidgetAgent  = "channels.widgetAgent"
	ctxWidgetClaims = "channels.widgetClaims"
)

// visitorIDRe is what a client-chosen visitor id may look like: long enough to be a
// secret (it resumes the visitor's conversation) and without ':' (dashboard chat customers
// are "dashboard:<userId>").
var visitorIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)

// widgetAgent loads the path's agent for the public widget and applies its CORS policy: the
// agent's allowedOrigins, or any origin when the list is empty. An agent that is missing,
// deleted or not ACTIVE (DRAFT, INACTIVE) is 404. A request from a disallowed origin gets
// no CORS headers (a preflight is answered 204 without them, anything else 403), so browsers
// on other sites cannot use the widget.
func (h *surfaces) widgetAgent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response().Header()
		res.Add(echo.HeaderVary, echo.HeaderOrigin)
		preflight := c.Request().Method == http.MethodOptions
		origin := c.Request().Header.Get(echo.HeaderOrigin)
		id := c.Param("agentId")
		// A missing agent's 404 is readable by any origin (it reveals nothing a server-side
		// request would not), so the widget can tell "no such agent" from a network failure.
		notFound := func() error {
			if origin != "" {
				res.Set(echo.HeaderAccessControlAllowOrigin, origin)
			}
			return apperr.NotFoundf("Agent")
		}
		if !web.IsUUID(id) {
			return notFound()
		}
		a, err := h.Widgets.Public(c.Request().Context(), strings.ToLower(id))
		if apperr.As(err) != nil && apperr.As(err).Code == apperr.NotFound {
			return notFound()
		}
		if err != nil {
			return err
		}
		if a.Status != "ACTIVE" {
			return notFound()
		}
		if origin != "" {
			if !originAllowed(a.AllowedOrigins, origin) {
				if preflight {
					return c.NoContent(http.StatusNoContent)
				}
				return apperr.E(apperr.Forbidden, "This origin may not use this agent's widget")
			}
			res.Set(echo.HeaderAccessControlAllowOrigin, origin)
			res.Set(echo.HeaderAccessControlExposeHeaders, "X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After")
		}
		if preflight {
			res.Set(echo.HeaderAccessControlAllowMethods, "GET, POST, OPTIONS")
			res.Set(echo.HeaderAccessControlAllowHeaders, "Authorization, Content-Type, Last-Event-ID, X-Request-Id")
			res.Set(echo.HeaderAccessControlMaxAge, "600")
			return c.NoContent(http.StatusNoContent)
		}
		c.Set(ctxWidgetAgent, a)
		return next(c)
	}
}

// originAllowed compares origins as browsers send them (scheme://host[:port]), ignoring
// case and a trailing slash in the configured list.
func originAllowed(allowed []string, origin string) bool {
	if len(allowed) == 0 {
		return true
	}
	o := strings.ToLower(strings.TrimRight(origin, "/"))
	return slices.ContainsFunc(allowed, func(a string) bool {
		return strings.ToLower(strings.TrimRight(strings.TrimSpace(a), "/")) == o
	})
}

// widgetAuth requires the Bearer widget session token of this agent: 401 MISSING_TOKEN
// without one; 401 INVALID_TOKEN for an expired token, another agent's token or a dashboard
// access token.
func (h *surfaces) widgetAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
		if tok == "" && c.Request().Method == http.MethodGet && c.Path() == "/v1/widget/:agentId/events" {
			// EventSource cannot set headers.
			tok = c.QueryParam("session_token")
		}
		if tok == "" {
			return apperr.E(apperr.MissingToken, "A widget session token is required")
		}
		cl, err := h.Issuer.VerifyWidget(tok)
		if err != nil {
			if errors.Is(err, authn.ErrExpiredToken) {
				return apperr.E(apperr.InvalidToken, "Widget session expired; start a new session")
			}
			return apperr.E(apperr.InvalidToken, "Invalid widget session token")
		}
		a := c.Get(ctxWidgetAgent).(agentapi.PublicAgent)
		if cl.AgentID != a.ID || cl.WorkspaceID != a.WorkspaceID {
			return apperr.E(apperr.InvalidToken, "This session belongs to another agent")
		}
		c.Set(ctxWidgetClaims, cl)
		return next(c)
	}
}

func bearerToken(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Rate-limit keys.

func agentKey(c echo.Context) string { return strings.ToLower(c.Param("agentId")) }

func visitorKey(c echo.Context) string {
	if cl, ok := c.Get(ctxWidgetClaims).(authn.WidgetClaims); ok {
		return cl.AgentID + ":" + cl.VisitorID
	}
	return ""
}

// widgetConfigOut is the agent's public face: nothing of its prompt, policy or settings.
type widgetConfigOut struct {
	AgentID   string          `json:"agentId"`
	Name      string          `json:"name"`
	Avatar    *string         `json:"avatar"`
	Streaming bool            `json:"streaming"`
	Widget    widgetConfigDTO `json:"widget"`
}

type widgetConfigDTO struct {
	PrimaryColor     string `json:"primaryColor"`
	Theme            string `json:"theme"`
	Greeting         string `json:"greeting"`
	Position         string `json:"position"`
	CornerRadius     int    `json:"cornerRadius"`
	Shadow           bool   `json:"shadow"`
	HeaderTitle      string `json:"headerTitle"`
	InputPlaceholder string `json:"inputPlaceholder"`
	Template         string `json:"template"`
}

// widgetConfig answers GET /v1/widget/:agentId/config.
func (h *surfaces) widgetConfig(c echo.Context) error {
	a := c.Get(ctxWidgetAgent).(agentapi.PublicAgent)
	w := a.Widget
	out := widgetConfigOut{
		AgentID: a.ID, Name: a.Name, Streaming: w.Streaming,
		Widget: widgetConfigDTO{
			PrimaryColor: w.PrimaryColor, Theme: w.Theme, Greeting: w.Greeting, Position: w.Position,
			CornerRadius: w.CornerRadius, Shadow: w.Shadow, HeaderTitle: w.HeaderTitle,
			InputPlaceholder: w.InputPlaceholder, Template: w.Template,
		},
	}
	if a.Avatar != "" {
		out.Avatar = &a.Avatar
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=60")
	return c.JSON(http.StatusOK, out)
}

type sessionRequest struct {
	VisitorID string `json:"visitorId"`
	Name      string `json:"name"`
}

type sessionOut struct {
	SessionToken   string    `json:"sessionToken"`
	ConversationID string    `json:"conversationId"`
	VisitorID      string    `json:"visitorId"`
	ExpiresAt      time.Time `json:"expiresAt"`
}

// createSession answers POST /v1/widget/:agentId/sessions: it resumes the visitor's current
// conversation (or opens one) and signs a 24-hour session token for it. Without a visitorId
// a new visitor id is made and returned; the widget keeps it to resume later.
func (h *surfaces) createSession(c echo.Context) error {
	a := c.Get(ctxWidgetAgent).(agentapi.PublicAgent)
	var req sessionRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	p := web.Problems{}
	p.Check(req.VisitorID == "" || visitorIDRe.MatchString(req.VisitorID), "visitorId", "must be 16 to 128 letters, digits, '-' or '_'")
	p.Check(utf8.RuneCountInString(req.Name) <= 100, "name", "must be at most 100 characters")
	if err := p.Err(); err != nil {
		return err
	}
	if req.VisitorID == "" {
		req.VisitorID = newVisitorID()
	}
	ctx := c.Request().Context()
	conv, err := h.svc.CustomerConversation(ctx, a.WorkspaceID, a.ID, req.VisitorID, req.Name, "")
	if err != nil {
		return err
	}
	tok, err := h.Issuer.IssueWidget(authn.WidgetClaims{
		AgentID: a.ID, WorkspaceID: a.WorkspaceID, ConversationID: conv, VisitorID: req.VisitorID,
	}, widgetSessionTTL)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, sessionOut{
		SessionToken: tok, ConversationID: conv, VisitorID: req.VisitorID,
		ExpiresAt: time.Now().Add(widgetSessionTTL).UTC().Truncate(time.Second),
	})
}

func newVisitorID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "v_" + hex.EncodeToString(b)
}

type widgetMessageRequest struct {
	Content string `json:"content"`
	Stream  bool   `json:"stream"`
}

// postWidgetMessage answers POST /v1/widget/:agentId/messages with the same shapes as the
// dashboard chat. At too few credits the visitor gets the fallback text and no AI call is
// made (not a 402: the visitor cannot act on it).
func (h *surfaces) postWidgetMessage(c echo.Context) error {
	a := c.Get(ctxWidgetAgent).(agentapi.PublicAgent)
	cl := c.Get(ctxWidgetClaims).(authn.WidgetClaims)
	var req widgetMessageRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	content := checkContent(p, "content", req.Content)
	if err := p.Err(); err != nil {
		return err
	}
	in := Inbound{
		WorkspaceID: a.WorkspaceID, AgentID: a.ID, ChannelType: ChannelWeb,
		CustomerID: cl.VisitorID, ConversationID: cl.ConversationID, Content: content,
	}
	return h.answer(c, in, req.Stream)
}

// preflightHandled is the OPTIONS route of each widget path; widgetAgent answers the
// preflight before it is reached.
func preflightHandled(c echo.Context) error { return c.NoContent(http.StatusNoContent) }

// widgetMessageOut is one message of the widget's history: what the visitor saw.
type widgetMessageOut struct {
	ID         string    `json:"id"`
	Role       string    `json:"role"`
	Content    string    `json:"content"`
	Confidence *float64  `json:"confidence,omitempty"`
	Sources    []Source  `json:"sources,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
}

// widgetHistory answers GET /v1/widget/:agentId/messages: the session's conversation,
// oldest first, paginated; ASSISTANT messages carry their sources.
func (h *surfaces) widgetHistory(c echo.Context) error {
	cl := c.Get(ctxWidgetClaims).(authn.WidgetClaims)
	req, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	msgs, err := h.svc.ConversationMessages(c.Request().Context(), cl.WorkspaceID, cl.ConversationID, req)
	if err != nil {
		return err
	}
	items := make([]widgetMessageOut, len(msgs.Items))
	for i, m := range msgs.Items {
		items[i] = widgetMessageOut{ID: m.ID, Role: m.Role, Content: m.Content, CreatedAt: m.CreatedAt.UTC()}
		if m.Role == RoleAssistant {
			items[i].Confidence = m.Confidence
			items[i].Sources = m.Sources
			if items[i].Sources == nil {
				items[i].Sources = []Source{}
			}
		}
	}
	return c.JSON(http.StatusOK, page.List[widgetMessageOut]{Items: items, NextCursor: msgs.NextCursor})
}
