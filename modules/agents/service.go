package agents

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/realtime"
)

// Agent statuses, modes and handoff destinations (the CHECK constraints of agents).
const (
	StatusActive   = "ACTIVE"
	StatusInactive = "INACTIVE"
	StatusDraft    = "DRAFT"

	ModeText  = "TEXT"
	ModeVoice = "VOICE"
	ModeBoth  = "BOTH"

	DestNone = "NONE"
)

// Service is the agents business logic; it never sees echo.
type Service struct {
	db        *pg.DB
	st        store
	pub       realtime.Publisher
	log       *slog.Logger
	knowledge KnowledgeBase
	channels  ChannelLinks
}

// ErrNotFound is the answer for a missing, deleted or other-workspace agent.
var ErrNotFound = apperr.NotFoundf("Agent")

// Settings are an agent's writable fields. Avatar and RoutingPolicy are "" when unset;
// BusinessHours is nil when unset.
type Settings struct {
	Name             string
	Avatar           string
	SystemPrompt     string
	Status           string
	Mode             string
	HandoffEnabled   bool
	HandoffThreshold float64
	HandoffDest      string
	RoutingPolicy    string
	BusinessHours    *BusinessHours
	TaggingEnabled   bool
	AvailableTags    []string
	AllowedOrigins   []string
}

// defaultSettings are a new agent's settings before the request's fields (the column
// defaults of agents).
func defaultSettings() Settings {
	return Settings{
		Status: StatusActive, Mode: ModeText, HandoffEnabled: true, HandoffThreshold: 0.65,
		HandoffDest: DestNone, AvailableTags: []string{}, AllowedOrigins: []string{},
	}
}

// Opt is an optional field of a create or PATCH body: Set reports that the body carried it,
// Null that it carried JSON null (V is then the zero value).
type Opt[T any] struct {
	Set  bool
	Null bool
	V    T
}

// UnmarshalJSON records presence and null. A wrong JSON type surfaces as the decoder's
// *json.UnmarshalTypeError, so the 400 names the field.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		var zero T
		o.Null, o.V = true, zero
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

// ptr returns the value when set, else nil (a SQL NULL that COALESCE skips).
func (o Opt[T]) ptr() *T {
	if !o.Set || o.Null {
		return nil
	}
	return &o.V
}

// Changes are the validated fields of a create or PATCH; unset fields keep their value (or
// the default on create).
type Changes struct {
	Name             Opt[string]         `json:"name"`
	Avatar           Opt[string]         `json:"avatar"`
	SystemPrompt     Opt[string]         `json:"systemPrompt"`
	Status           Opt[string]         `json:"status"`
	Mode             Opt[string]         `json:"mode"`
	HandoffEnabled   Opt[bool]           `json:"handoffEnabled"`
	HandoffThreshold Opt[float64]        `json:"handoffThreshold"`
	HandoffDest      Opt[string]         `json:"handoffDest"`
	RoutingPolicy    Opt[string]         `json:"routingPolicy"`
	BusinessHours    Opt[*BusinessHours] `json:"businessHours"`
	TaggingEnabled   Opt[bool]           `json:"taggingEnabled"`
	AvailableTags    Opt[[]string]       `json:"availableTags"`
	AllowedOrigins   Opt[[]string]       `json:"allowedOrigins"`
}

// apply writes the set fields onto s.
func (c Changes) apply(s *Settings) {
	set(&s.Name, c.Name)
	set(&s.Avatar, c.Avatar)
	set(&s.SystemPrompt, c.SystemPrompt)
	set(&s.Status, c.Status)
	set(&s.Mode, c.Mode)
	set(&s.HandoffEnabled, c.HandoffEnabled)
	set(&s.HandoffThreshold, c.HandoffThreshold)
	set(&s.HandoffDest, c.HandoffDest)
	set(&s.RoutingPolicy, c.RoutingPolicy)
	set(&s.BusinessHours, c.BusinessHours)
	set(&s.TaggingEnabled, c.TaggingEnabled)
	set(&s.AvailableTags, c.AvailableTags)
	set(&s.AllowedOrigins, c.AllowedOrigins)
}

func set[T any](dst *T, o Opt[T]) {
	if o.Set {
		*dst = o.V
	}
}

// Detail is the full representation of one agent.
type Detail struct {
	ID          string
	WorkspaceID string
	Settings
	Channels  []Channel
	Knowledge KnowledgeSummary
	Widget    Widget
	CreatedAt time.Time
	UpdatedAt time.Time
}

// List returns the workspace's agents after req.After, newest first (up to req.Fetch()
// rows, for page.Cut), with their channel and knowledge counts: three queries per page,
// whatever its size.
func (s *Service) List(ctx context.Context, workspaceID string, req page.Request) ([]ListItem, error) {
	rows, err := s.st.listAgents(ctx, s.db, workspaceID, req)
	if err != nil || len(rows) == 0 {
		return rows, err
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	channels, err := s.channels.ChannelCounts(ctx, workspaceID, ids)
	if err != nil {
		return nil, err
	}
	docs, err := s.knowledge.DocCounts(ctx, workspaceID, ids)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i].ChannelCount, rows[i].KnowledgeCount = channels[rows[i].ID], docs[rows[i].ID]
	}
	return rows, nil
}

// Create stores a new agent with its default widget configuration. It returns
// PLAN_LIMIT_REACHED when the workspace's plan allows no more agents; concurrent creations
// are serialised on the workspace row, so the limit holds under races.
func (s *Service) Create(ctx context.Context, workspaceID string, c Changes) (Detail, error) {
	st := defaultSettings()
	c.apply(&st)
	var d Detail
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		plan, err := s.st.lockPlan(ctx, tx, workspaceID)
		if err != nil {
			return err
		}
		count, err := s.st.countAgents(ctx, tx, workspaceID)
		if err != nil {
			return err
		}
		if plans.AgentLimitReached(plan, count) {
			limit := plans.MustGet(plan).MaxAgents
			return apperr.E(apperr.PlanLimitReached,
				fmt.Sprintf("The %s plan allows %d agent(s); upgrade the plan to add more", plan, limit)).
				WithDetails(map[string]any{"plan": plan, "limit": limit})
		}
		r, err := s.st.insertAgent(ctx, tx, pg.NewID(), workspaceID, st)
		if err != nil {
			return err
		}
		d, err = s.detail(ctx, tx, r)
		return err
	})
	if err != nil {
		return Detail{}, err
	}
	return d, s.addLinks(ctx, &d)
}

// Detail returns the agent with its channels, knowledge summary and widget configuration.
func (s *Service) Detail(ctx context.Context, workspaceID, agentID string) (Detail, error) {
	var d Detail
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		r, err := s.st.getAgent(ctx, tx, workspaceID, agentID, false)
		if err != nil {
			return err
		}
		d, err = s.detail(ctx, tx, r)
		return err
	})
	if err != nil {
		return Detail{}, err
	}
	return d, s.addLinks(ctx, &d)
}

// Update applies a PATCH. When the status changes, agent_status_changed is published in the
// same transaction (delivered only if the change commits).
func (s *Service) Update(ctx context.Context, workspaceID, agentID string, c Changes) (Detail, error) {
	var d Detail
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := s.st.getAgent(ctx, tx, workspaceID, agentID, true)
		if err != nil {
			return err
		}
		st, err := cur.settings()
		if err != nil {
			return err
		}
		c.apply(&st)
		r, err := s.st.updateAgent(ctx, tx, workspaceID, agentID, st)
		if err != nil {
			return err
		}
		if r.Status != cur.Status {
			ev := realtime.Event{
				WorkspaceID: workspaceID, Type: realtime.TypeAgentStatusChanged,
				Payload: map[string]string{"agentId": r.ID, "status": r.Status},
			}
			if err := s.pub.Publish(ctx, tx, ev); err != nil {
				return err
			}
		}
		d, err = s.detail(ctx, tx, r)
		return err
	})
	if err != nil {
		return Detail{}, err
	}
	return d, s.addLinks(ctx, &d)
}

// Delete soft-deletes the agent and, through their owners' contracts, removes its channel
// links and its documents, chunks and files, in one transaction: if any part fails, nothing
// is deleted. Conversations are kept. The agent is NOT_FOUND everywhere afterwards.
func (s *Service) Delete(ctx context.Context, workspaceID, agentID string) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := s.st.getAgent(ctx, tx, workspaceID, agentID, true); err != nil {
			return err
		}
		if err := s.st.softDeleteAgent(ctx, tx, workspaceID, agentID); err != nil {
			return err
		}
		if err := s.channels.UnlinkAgent(ctx, tx, workspaceID, agentID); err != nil {
			return err
		}
		return s.knowledge.RemoveAgentKnowledge(ctx, tx, workspaceID, agentID)
	})
}

// Widget returns the agent's widget configuration.
func (s *Service) Widget(ctx context.Context, workspaceID, agentID string) (Widget, error) {
	var w Widget
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		w, err = s.st.widget(ctx, tx, workspaceID, agentID)
		return err
	})
	return w, err
}

// WidgetChanges are the validated fields of a widget PATCH.
type WidgetChanges struct {
	PrimaryColor     Opt[string] `json:"primaryColor"`
	Theme            Opt[string] `json:"theme"`
	Greeting         Opt[string] `json:"greeting"`
	Position         Opt[string] `json:"position"`
	CornerRadius     Opt[int]    `json:"cornerRadius"`
	Shadow           Opt[bool]   `json:"shadow"`
	HeaderTitle      Opt[string] `json:"headerTitle"`
	InputPlaceholder Opt[string] `json:"inputPlaceholder"`
	Streaming        Opt[bool]   `json:"streaming"`
	Template         Opt[string] `json:"template"`
}

// PatchWidget changes the set fields of the agent's widget configuration.
func (s *Service) PatchWidget(ctx context.Context, workspaceID, agentID string, c WidgetChanges) (Widget, error) {
	var w Widget
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		w, err = s.st.patchWidget(ctx, tx, workspaceID, agentID, c)
		return err
	})
	return w, err
}

// detail builds the full representation from the agent row and its widget (on q); the
// channels and knowledge come after the transaction, from their owners (addLinks).
func (s *Service) detail(ctx context.Context, q sqlx.ExtContext, r agentRow) (Detail, error) {
	st, err := r.settings()
	if err != nil {
		return Detail{}, err
	}
	d := Detail{ID: r.ID, WorkspaceID: r.WorkspaceID, Settings: st, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	d.Widget, err = s.st.widget(ctx, q, r.WorkspaceID, r.ID)
	return d, err
}

// addLinks adds the agent's channels (from the channels module) and its knowledge summary
// (from ingestion) to d.
func (s *Service) addLinks(ctx context.Context, d *Detail) error {
	chs, err := s.channels.AgentChannels(ctx, d.WorkspaceID, d.ID)
	if err != nil {
		return err
	}
	d.Channels = chs
	byStatus, chunks, err := s.knowledge.StatusCounts(ctx, d.WorkspaceID, d.ID)
	if err != nil {
		return err
	}
	k := KnowledgeSummary{Chunks: chunks}
	for status, n := range byStatus {
		k.Total += n
		switch status {
		case "READY":
			k.Ready += n
		case "PENDING", "PROCESSING":
			k.Processing += n
		case "ERROR":
			k.Error += n
		}
	}
	d.Knowledge = k
	return nil
}
