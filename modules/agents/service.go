package agents

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/platform/apperr"
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
	db              *pg.DB
	pub             realtime.Publisher
	log             *slog.Logger
	removeKnowledge func(ctx context.Context, tx *sqlx.Tx, workspaceID, agentID string) error
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

// ListQuery pages the list newest first; AfterTime/AfterID are the last item of the previous
// page (zero on the first page).
type ListQuery struct {
	Limit     int
	AfterTime time.Time
	AfterID   string
}

// List returns a page of the workspace's agents, newest first, and whether more follow.
func (s *Service) List(ctx context.Context, workspaceID string, q ListQuery) ([]ListItem, bool, error) {
	var after any
	var afterID any
	if !q.AfterTime.IsZero() {
		after, afterID = q.AfterTime, q.AfterID
	}
	var rows []ListItem
	if err := s.db.SelectContext(ctx, &rows, qListAgents, workspaceID, after, afterID, q.Limit+1); err != nil {
		return nil, false, err
	}
	more := len(rows) > q.Limit
	if more {
		rows = rows[:q.Limit]
	}
	return rows, more, nil
}

// Create stores a new agent with its default widget configuration. It returns
// PLAN_LIMIT_REACHED when the workspace's plan allows no more agents; concurrent creations
// are serialised on the workspace row, so the limit holds under races.
func (s *Service) Create(ctx context.Context, workspaceID string, c Changes) (Detail, error) {
	st := defaultSettings()
	c.apply(&st)
	args, err := settingsArgs(st)
	if err != nil {
		return Detail{}, err
	}
	var d Detail
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var plan string
		if err := tx.GetContext(ctx, &plan, qLockWorkspace, workspaceID); err != nil {
			if pg.IsNoRows(err) {
				return apperr.NotFoundf("Workspace")
			}
			return err
		}
		var count int
		if err := tx.GetContext(ctx, &count, qCountAgents, workspaceID); err != nil {
			return err
		}
		if plans.AgentLimitReached(plan, count) {
			limit := plans.MustGet(plan).MaxAgents
			return apperr.E(apperr.PlanLimitReached,
				fmt.Sprintf("The %s plan allows %d agent(s); upgrade the plan to add more", plan, limit)).
				WithDetails(map[string]any{"plan": plan, "limit": limit})
		}
		var r agentRow
		if err := tx.GetContext(ctx, &r, qInsertAgent, append([]any{newID(), workspaceID}, args...)...); err != nil {
			return pg.MapError(err)
		}
		if _, err := tx.ExecContext(ctx, qInsertWidget, r.ID); err != nil {
			return err
		}
		var err error
		d, err = s.detail(ctx, tx, r)
		return err
	})
	return d, err
}

// Detail returns the agent with its channels, knowledge summary and widget configuration.
func (s *Service) Detail(ctx context.Context, workspaceID, agentID string) (Detail, error) {
	var d Detail
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		r, err := loadAgent(ctx, tx, qGetAgent, agentID, workspaceID)
		if err != nil {
			return err
		}
		d, err = s.detail(ctx, tx, r)
		return err
	})
	return d, err
}

// Update applies a PATCH. When the status changes, agent_status_changed is published in the
// same transaction (delivered only if the change commits).
func (s *Service) Update(ctx context.Context, workspaceID, agentID string, c Changes) (Detail, error) {
	var d Detail
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := loadAgent(ctx, tx, qLockAgent, agentID, workspaceID)
		if err != nil {
			return err
		}
		st, err := cur.settings()
		if err != nil {
			return err
		}
		c.apply(&st)
		args, err := settingsArgs(st)
		if err != nil {
			return err
		}
		var r agentRow
		if err := tx.GetContext(ctx, &r, qUpdateAgent, append([]any{agentID, workspaceID}, args...)...); err != nil {
			return pg.MapError(err)
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
	return d, err
}

// Delete soft-deletes the agent and removes its channel links and, through the knowledge
// owner's RemoveKnowledge, its documents, chunks and files, in one transaction.
// Conversations are kept. The agent is NOT_FOUND everywhere afterwards.
func (s *Service) Delete(ctx context.Context, workspaceID, agentID string) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := loadAgent(ctx, tx, qLockAgent, agentID, workspaceID); err != nil {
			return err
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{qSoftDeleteAgent, []any{agentID, workspaceID}},
			{qDeleteChannelLinks, []any{agentID}},
		} {
			if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
				return err
			}
		}
		return s.removeKnowledge(ctx, tx, workspaceID, agentID)
	})
}

// Widget returns the agent's widget configuration.
func (s *Service) Widget(ctx context.Context, workspaceID, agentID string) (Widget, error) {
	var w Widget
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		w, err = widget(ctx, tx, workspaceID, agentID)
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
		if _, err := tx.ExecContext(ctx, qEnsureWidget, agentID, workspaceID); err != nil {
			return err
		}
		err := tx.GetContext(ctx, &w, qPatchWidget, agentID, workspaceID,
			c.PrimaryColor.ptr(), c.Theme.ptr(), c.Greeting.ptr(), c.Position.ptr(), c.CornerRadius.ptr(),
			c.Shadow.ptr(), c.HeaderTitle.ptr(), c.InputPlaceholder.ptr(), c.Streaming.ptr(), c.Template.ptr())
		if pg.IsNoRows(err) {
			return ErrNotFound
		}
		return pg.MapError(err)
	})
	return w, err
}

// Get implements Directory.
func (s *Service) Get(ctx context.Context, workspaceID, agentID string) (Agent, error) {
	id, err := uuid.Parse(agentID)
	if err != nil {
		return Agent{}, ErrNotFound
	}
	if _, err := uuid.Parse(workspaceID); err != nil {
		return Agent{}, ErrNotFound
	}
	r, err := loadAgent(ctx, s.db, qGetAgent, id.String(), workspaceID)
	if err != nil {
		return Agent{}, err
	}
	st, err := r.settings()
	if err != nil {
		return Agent{}, err
	}
	return Agent{
		ID: r.ID, WorkspaceID: r.WorkspaceID, Name: st.Name, SystemPrompt: st.SystemPrompt,
		Status: st.Status, Mode: st.Mode, HandoffEnabled: st.HandoffEnabled,
		HandoffThreshold: st.HandoffThreshold, HandoffDest: st.HandoffDest,
		RoutingPolicy: st.RoutingPolicy, BusinessHours: st.BusinessHours,
		TaggingEnabled: st.TaggingEnabled, AvailableTags: st.AvailableTags, AllowedOrigins: st.AllowedOrigins,
	}, nil
}

// detail loads what the full representation adds to the agent row.
func (s *Service) detail(ctx context.Context, q sqlx.ExtContext, r agentRow) (Detail, error) {
	st, err := r.settings()
	if err != nil {
		return Detail{}, err
	}
	d := Detail{ID: r.ID, WorkspaceID: r.WorkspaceID, Settings: st, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if err := sqlx.SelectContext(ctx, q, &d.Channels, qAgentChannels, r.ID, r.WorkspaceID); err != nil {
		return Detail{}, err
	}
	if err := sqlx.GetContext(ctx, q, &d.Knowledge, qKnowledgeSummary, r.WorkspaceID, r.ID); err != nil {
		return Detail{}, err
	}
	d.Widget, err = widget(ctx, q, r.WorkspaceID, r.ID)
	return d, err
}

// widget reads the agent's widget configuration, creating the default row when missing.
func widget(ctx context.Context, q sqlx.ExtContext, workspaceID, agentID string) (Widget, error) {
	var w Widget
	err := sqlx.GetContext(ctx, q, &w, qGetWidget, agentID, workspaceID)
	if pg.IsNoRows(err) {
		if _, err := q.ExecContext(ctx, qEnsureWidget, agentID, workspaceID); err != nil {
			return w, err
		}
		err = sqlx.GetContext(ctx, q, &w, qGetWidget, agentID, workspaceID)
	}
	if pg.IsNoRows(err) {
		return w, ErrNotFound
	}
	return w, err
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// loadAgent reads (or, with qLockAgent, locks) one live agent of the workspace; a missing,
// deleted or other-workspace agent is ErrNotFound.
func loadAgent(ctx context.Context, q sqlx.QueryerContext, query, agentID, workspaceID string) (agentRow, error) {
	var r agentRow
	if err := sqlx.GetContext(ctx, q, &r, query, agentID, workspaceID); err != nil {
		if pg.IsNoRows(err) {
			return r, ErrNotFound
		}
		return r, err
	}
	return r, nil
}
