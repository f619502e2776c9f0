package agents

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/modules/agents/agentapi"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/web"
)

type handlers struct {
	svc *Service
}

// Response types.

type listItemDTO struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Avatar         *string   `json:"avatar"`
	Status         string    `json:"status"`
	Mode           string    `json:"mode"`
	ChannelCount   int       `json:"channelCount"`
	KnowledgeCount int       `json:"knowledgeCount"`
	CreatedAt      time.Time `json:"createdAt"`
}

type agentDTO struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	Avatar           *string        `json:"avatar"`
	SystemPrompt     string         `json:"systemPrompt"`
	Status           string         `json:"status"`
	Mode             string         `json:"mode"`
	HandoffEnabled   bool           `json:"handoffEnabled"`
	HandoffThreshold float64        `json:"handoffThreshold"`
	HandoffDest      string         `json:"handoffDest"`
	RoutingPolicy    *string        `json:"routingPolicy"`
	BusinessHours    *BusinessHours `json:"businessHours"`
	TaggingEnabled   bool           `json:"taggingEnabled"`
	AvailableTags    []string       `json:"availableTags"`
	AllowedOrigins   []string       `json:"allowedOrigins"`
	Channels         []channelDTO   `json:"channels"`
	Knowledge        knowledgeDTO   `json:"knowledge"`
	WidgetConfig     widgetDTO      `json:"widgetConfig"`
	CreatedAt        time.Time      `json:"createdAt"`
	UpdatedAt        time.Time      `json:"updatedAt"`
}

type channelDTO struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	IsActive bool   `json:"isActive"`
}

type knowledgeDTO struct {
	Total      int `json:"total"`
	Ready      int `json:"ready"`
	Processing int `json:"processing"`
	Error      int `json:"error"`
	Chunks     int `json:"chunks"`
}

type widgetDTO struct {
	PrimaryColor     string `json:"primaryColor"`
	Theme            string `json:"theme"`
	Greeting         string `json:"greeting"`
	Position         string `json:"position"`
	CornerRadius     int    `json:"cornerRadius"`
	Shadow           bool   `json:"shadow"`
	HeaderTitle      string `json:"headerTitle"`
	InputPlaceholder string `json:"inputPlaceholder"`
	Streaming        bool   `json:"streaming"`
	Template         string `json:"template"`
}

// Converters.

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toListItem(r ListItem) listItemDTO {
	var avatar *string
	if r.Avatar.Valid {
		avatar = &r.Avatar.String
	}
	return listItemDTO{
		ID: r.ID, Name: r.Name, Avatar: avatar, Status: r.Status, Mode: r.Mode,
		ChannelCount: r.ChannelCount, KnowledgeCount: r.KnowledgeCount, CreatedAt: r.CreatedAt.UTC(),
	}
}

func toAgent(d Detail) agentDTO {
	chs := make([]channelDTO, 0, len(d.Channels))
	for _, c := range d.Channels {
		chs = append(chs, channelDTO(c))
	}
	return agentDTO{
		ID: d.ID, Name: d.Name, Avatar: optString(d.Avatar), SystemPrompt: d.SystemPrompt,
		Status: d.Status, Mode: d.Mode, HandoffEnabled: d.HandoffEnabled,
		HandoffThreshold: d.HandoffThreshold, HandoffDest: d.HandoffDest,
		RoutingPolicy: optString(d.RoutingPolicy), BusinessHours: d.BusinessHours,
		TaggingEnabled: d.TaggingEnabled, AvailableTags: nonNil(d.AvailableTags),
		AllowedOrigins: nonNil(d.AllowedOrigins), Channels: chs, Knowledge: knowledgeDTO(d.Knowledge),
		WidgetConfig: widgetDTO(d.Widget), CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
}

// Validation.

const (
	maxName          = 100
	maxAvatar        = 2048
	maxSystemPrompt  = 10000
	maxRoutingPolicy = 5000
	maxClosedMessage = 1000
	maxTags          = 50
	maxTag           = 50
	maxOrigins       = 20
)

var (
	statuses = []string{StatusActive, StatusInactive, StatusDraft}
	modes    = []string{ModeText, ModeVoice, ModeBoth}
	dests    = []string{DestNone, "LIVE_AGENT", "EMAIL_QUEUE", "ZENDESK", "FRESHDESK"}
	themes   = []string{"light", "dark", "auto"}
	places   = []string{"bottom-right", "bottom-left"}
	colorRe  = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)
	hostRe   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
)

func runes(s string) int { return utf8.RuneCountInString(s) }

// notNull rejects JSON null for a field that has no "unset" value.
func notNull[T any](p web.Problems, field string, o Opt[T]) {
	p.Check(!o.Null, field, "must not be null")
}

func oneOf(p web.Problems, field string, o Opt[string], allowed []string) {
	if !o.Set {
		return
	}
	notNull(p, field, o)
	for _, a := range allowed {
		if o.V == a {
			return
		}
	}
	p.Check(false, field, "must be one of "+strings.Join(allowed, ", "))
}

// maxLen trims a text field and checks its length in characters.
func maxLen(p web.Problems, field string, o *Opt[string], limit int) {
	o.V = strings.TrimSpace(o.V)
	p.Check(runes(o.V) <= limit, field, fmt.Sprintf("must be at most %d characters", limit))
}

// required checks a trimmed, non-null text field of 1..limit characters; on create an
// absent field is missing.
func required(p web.Problems, field string, o *Opt[string], limit int, creating bool) {
	if !o.Set && !creating {
		return
	}
	maxLen(p, field, o, limit)
	p.Check(o.V != "", field, "is required")
}

// checkChanges validates and normalises an agent create (creating) or PATCH body in place.
func checkChanges(p web.Problems, c *Changes, creating bool) {
	required(p, "name", &c.Name, maxName, creating)
	required(p, "systemPrompt", &c.SystemPrompt, maxSystemPrompt, creating)
	maxLen(p, "avatar", &c.Avatar, maxAvatar)
	maxLen(p, "routingPolicy", &c.RoutingPolicy, maxRoutingPolicy)
	oneOf(p, "status", c.Status, statuses)
	oneOf(p, "mode", c.Mode, modes)
	oneOf(p, "handoffDest", c.HandoffDest, dests)
	notNull(p, "handoffEnabled", c.HandoffEnabled)
	notNull(p, "taggingEnabled", c.TaggingEnabled)
	notNull(p, "handoffThreshold", c.HandoffThreshold)
	p.Check(c.HandoffThreshold.V >= 0 && c.HandoffThreshold.V <= 1, "handoffThreshold", "must be between 0 and 1")
	if c.BusinessHours.V != nil {
		checkHours(p, c.BusinessHours.V)
	}
	if c.AvailableTags.Set {
		notNull(p, "availableTags", c.AvailableTags)
		c.AvailableTags.V = checkTags(p, c.AvailableTags.V)
	}
	if c.AllowedOrigins.Set {
		notNull(p, "allowedOrigins", c.AllowedOrigins)
		c.AllowedOrigins.V = checkOrigins(p, c.AllowedOrigins.V)
	}
}

// checkHours validates business hours; an empty time zone means UTC.
func checkHours(p web.Problems, b *BusinessHours) {
	b.Timezone = strings.TrimSpace(b.Timezone)
	if b.Timezone == "" {
		b.Timezone = "UTC"
	}
	_, err := time.LoadLocation(b.Timezone)
	p.Check(err == nil && b.Timezone != "Local", "businessHours.timezone", "must be an IANA time zone such as Europe/Paris")
	if b.Schedule == nil {
		b.Schedule = map[string]DayHours{}
	}
	for day, h := range b.Schedule {
		field := "businessHours.schedule." + day
		known := false
		for _, d := range Weekdays {
			known = known || d == day
		}
		if !known {
			p.Check(false, field, "is not a weekday (monday … sunday)")
			continue
		}
		if h.Enabled || h.Open != "" || h.Close != "" {
			_, okOpen := agentapi.ParseHHMM(h.Open)
			_, okClose := agentapi.ParseHHMM(h.Close)
			p.Check(okOpen, field+".open", `must be a time "HH:MM" (00:00–23:59)`)
			p.Check(okClose, field+".close", `must be a time "HH:MM" (00:00–23:59)`)
		}
	}
	b.ClosedMessage = strings.TrimSpace(b.ClosedMessage)
	p.Check(runes(b.ClosedMessage) <= maxClosedMessage, "businessHours.closedMessage",
		fmt.Sprintf("must be at most %d characters", maxClosedMessage))
}

// checkTags trims tags and drops duplicates.
func checkTags(p web.Problems, tags []string) []string {
	p.Check(len(tags) <= maxTags, "availableTags", fmt.Sprintf("must hold at most %d tags", maxTags))
	out := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for i, t := range tags {
		t = strings.TrimSpace(t)
		n := runes(t)
		p.Check(n >= 1 && n <= maxTag, "availableTags["+strconv.Itoa(i)+"]", fmt.Sprintf("must be 1 to %d characters", maxTag))
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// checkOrigins normalises origins to scheme://host[:port] and drops duplicates.
func checkOrigins(p web.Problems, origins []string) []string {
	p.Check(len(origins) <= maxOrigins, "allowedOrigins", fmt.Sprintf("must hold at most %d origins", maxOrigins))
	out := make([]string, 0, len(origins))
	seen := map[string]bool{}
	for i, o := range origins {
		n, ok := normalizeOrigin(o)
		p.Check(ok, "allowedOrigins["+strconv.Itoa(i)+"]", "must be an origin such as https://example.com")
		if ok && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// normalizeOrigin accepts "http(s)://host[:port]" (a trailing "/" is dropped) and returns it
// lower-cased, the form browsers send in the Origin header.
func normalizeOrigin(s string) (string, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "/")
	if len(s) > 255 {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if net.ParseIP(host) == nil && !hostRe.MatchString(host) {
		return "", false
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return "", false
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", false
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), true
}

// checkWidget validates a widget PATCH in place.
func checkWidget(p web.Problems, c *WidgetChanges) {
	if c.PrimaryColor.Set {
		notNull(p, "primaryColor", c.PrimaryColor)
		p.Check(colorRe.MatchString(c.PrimaryColor.V), "primaryColor", "must be a colour #RRGGBB")
	}
	oneOf(p, "theme", c.Theme, themes)
	oneOf(p, "position", c.Position, places)
	for _, f := range []struct {
		name  string
		o     *Opt[string]
		limit int
	}{{"greeting", &c.Greeting, 500}, {"headerTitle", &c.HeaderTitle, 100}, {"inputPlaceholder", &c.InputPlaceholder, 200}} {
		if f.o.Set {
			notNull(p, f.name, *f.o)
			maxLen(p, f.name, f.o, f.limit)
		}
	}
	required(p, "template", &c.Template, 50, false)
	notNull(p, "template", c.Template)
	notNull(p, "cornerRadius", c.CornerRadius)
	p.Check(c.CornerRadius.V >= 0 && c.CornerRadius.V <= 32, "cornerRadius", "must be between 0 and 32")
	notNull(p, "shadow", c.Shadow)
	notNull(p, "streaming", c.Streaming)
}

// Handlers: decode → validate → one service call → encode.

func (h *handlers) list(c echo.Context) error {
	req, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	rows, err := h.svc.List(c.Request().Context(), authn.MustGet(c).WorkspaceID, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page.Cut(req, rows, ListItem.key, toListItem))
}

func (h *handlers) create(c echo.Context) error {
	var req Changes
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	checkChanges(p, &req, true)
	if err := p.Err(); err != nil {
		return err
	}
	d, err := h.svc.Create(c.Request().Context(), authn.MustGet(c).WorkspaceID, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toAgent(d))
}

func (h *handlers) get(c echo.Context) error {
	id, err := web.PathUUID(c, "id", "Agent")
	if err != nil {
		return err
	}
	d, err := h.svc.Detail(c.Request().Context(), authn.MustGet(c).WorkspaceID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAgent(d))
}

func (h *handlers) update(c echo.Context) error {
	id, err := web.PathUUID(c, "id", "Agent")
	if err != nil {
		return err
	}
	var req Changes
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	checkChanges(p, &req, false)
	if err := p.Err(); err != nil {
		return err
	}
	d, err := h.svc.Update(c.Request().Context(), authn.MustGet(c).WorkspaceID, id, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAgent(d))
}

func (h *handlers) delete(c echo.Context) error {
	id, err := web.PathUUID(c, "id", "Agent")
	if err != nil {
		return err
	}
	if err := h.svc.Delete(c.Request().Context(), authn.MustGet(c).WorkspaceID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) getWidget(c echo.Context) error {
	id, err := web.PathUUID(c, "id", "Agent")
	if err != nil {
		return err
	}
	w, err := h.svc.Widget(c.Request().Context(), authn.MustGet(c).WorkspaceID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, widgetDTO(w))
}

func (h *handlers) patchWidget(c echo.Context) error {
	id, err := web.PathUUID(c, "id", "Agent")
	if err != nil {
		return err
	}
	var req WidgetChanges
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	checkWidget(p, &req)
	if err := p.Err(); err != nil {
		return err
	}
	w, err := h.svc.PatchWidget(c.Request().Context(), authn.MustGet(c).WorkspaceID, id, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, widgetDTO(w))
}
