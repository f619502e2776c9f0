package agents

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/pg"
)

// store owns the module's SQL and runs it on the sqlx.ExtContext the service passes (the
// pool or its transaction). Every statement filters on the workspace id from the token
// (but getAgentByID, for the public widget routes) and skips deleted agents. A missing
// agent is ErrNotFound.
type store struct{}

// Rows.

type agentRow struct {
	ID               string         `db:"id"`
	WorkspaceID      string         `db:"workspace_id"`
	Name             string         `db:"name"`
	Avatar           sql.NullString `db:"avatar"`
	SystemPrompt     string         `db:"system_prompt"`
	Status           string         `db:"status"`
	Mode             string         `db:"mode"`
	HandoffEnabled   bool           `db:"handoff_enabled"`
	HandoffThreshold float64        `db:"handoff_threshold"`
	HandoffDest      string         `db:"handoff_dest"`
	RoutingPolicy    sql.NullString `db:"routing_policy"`
	BusinessHours    []byte         `db:"business_hours"`
	TaggingEnabled   bool           `db:"tagging_enabled"`
	AvailableTags    pq.StringArray `db:"available_tags"`
	AllowedOrigins   pq.StringArray `db:"allowed_origins"`
	CreatedAt        time.Time      `db:"created_at"`
	UpdatedAt        time.Time      `db:"updated_at"`
}

// settings decodes the row's writable fields.
func (r agentRow) settings() (Settings, error) {
	s := Settings{
		Name: r.Name, Avatar: r.Avatar.String, SystemPrompt: r.SystemPrompt, Status: r.Status, Mode: r.Mode,
		HandoffEnabled: r.HandoffEnabled, HandoffThreshold: r.HandoffThreshold, HandoffDest: r.HandoffDest,
		RoutingPolicy: r.RoutingPolicy.String, TaggingEnabled: r.TaggingEnabled,
		AvailableTags: nonNil(r.AvailableTags), AllowedOrigins: nonNil(r.AllowedOrigins),
	}
	if len(r.BusinessHours) > 0 && string(r.BusinessHours) != "null" {
		s.BusinessHours = &BusinessHours{}
		if err := json.Unmarshal(r.BusinessHours, s.BusinessHours); err != nil {
			return s, fmt.Errorf("agents: agent %s business_hours: %w", r.ID, err)
		}
	}
	return s, nil
}

// agent converts the row to the Agent other modules see, and returns its settings too.
func (r agentRow) agent() (Agent, Settings, error) {
	st, err := r.settings()
	if err != nil {
		return Agent{}, st, err
	}
	return Agent{
		ID: r.ID, WorkspaceID: r.WorkspaceID, Name: st.Name, SystemPrompt: st.SystemPrompt,
		Status: st.Status, Mode: st.Mode, HandoffEnabled: st.HandoffEnabled,
		HandoffThreshold: st.HandoffThreshold, HandoffDest: st.HandoffDest,
		RoutingPolicy: st.RoutingPolicy, BusinessHours: st.BusinessHours,
		TaggingEnabled: st.TaggingEnabled, AvailableTags: st.AvailableTags, AllowedOrigins: st.AllowedOrigins,
	}, st, nil
}

// settingsArgs are the bound parameters $3… of qInsertAgent and qUpdateAgent.
func settingsArgs(s Settings) ([]any, error) {
	var hours sql.NullString
	if s.BusinessHours != nil {
		b, err := json.Marshal(s.BusinessHours)
		if err != nil {
			return nil, err
		}
		hours = sql.NullString{String: string(b), Valid: true}
	}
	return []any{
		s.Name, nullIfEmpty(s.Avatar), s.SystemPrompt, s.Status, s.Mode, s.HandoffEnabled,
		s.HandoffThreshold, s.HandoffDest, nullIfEmpty(s.RoutingPolicy), hours, s.TaggingEnabled,
		pq.StringArray(nonNil(s.AvailableTags)), pq.StringArray(nonNil(s.AllowedOrigins)),
	}, nil
}

// ListItem is one agent in the list. The store fills the agent's columns; the service adds
// the counts, which other modules own.
type ListItem struct {
	ID             string         `db:"id"`
	Name           string         `db:"name"`
	Avatar         sql.NullString `db:"avatar"`
	Status         string         `db:"status"`
	Mode           string         `db:"mode"`
	CreatedAt      time.Time      `db:"created_at"`
	ChannelCount   int            `db:"-"`
	KnowledgeCount int            `db:"-"`
}

// key is the item's position in the list order.
func (r ListItem) key() page.Key { return page.Key{Time: r.CreatedAt, ID: r.ID} }

// KnowledgeSummary counts an agent's knowledge documents by status. Processing counts
// PENDING and PROCESSING docs; Chunks is the sum of the docs' chunk counts.
type KnowledgeSummary struct {
	Total      int
	Ready      int
	Processing int
	Error      int
	Chunks     int
}

// Queries.
const (
	agentCols = `id, workspace_id, name, avatar, system_prompt, status, mode, handoff_enabled,
    handoff_threshold, handoff_dest, routing_policy, business_hours, tagging_enabled,
    available_tags, allowed_origins, created_at, updated_at`

	// qLockWorkspace serialises agent creation per workspace, so the plan-limit count and the
	// insert cannot interleave. NO KEY UPDATE conflicts with itself (and with the plan
	// change's UPDATE) but not with the KEY SHARE locks that inserts of rows referencing the
	// workspace take, so messages and ledger rows are not held up meanwhile.
	qLockWorkspace = `SELECT plan FROM workspaces WHERE id = $1 FOR NO KEY UPDATE`

	qCountAgents = `SELECT count(*) FROM agents WHERE workspace_id = $1 AND deleted_at IS NULL`

	qInsertAgent = `
INSERT INTO agents (id, workspace_id, name, avatar, system_prompt, status, mode, handoff_enabled,
    handoff_threshold, handoff_dest, routing_policy, business_hours, tagging_enabled,
    available_tags, allowed_origins)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14, $15)
RETURNING ` + agentCols

	qInsertWidget = `INSERT INTO widget_configs (agent_id) VALUES ($1)`

	qGetAgent = `
SELECT ` + agentCols + ` FROM agents WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL`

	// qGetAgentByID reads a live agent by id alone; only the public widget routes use it, and
	// they answer for that agent's own workspace.
	qGetAgentByID = `
SELECT ` + agentCols + ` FROM agents WHERE id = $1 AND deleted_at IS NULL`

	// qLockAgent is qGetAgent with a row lock. FOR UPDATE (not NO KEY UPDATE) also conflicts
	// with KEY SHARE, so a writer that checks the agent with FOR KEY SHARE waits for a delete
	// and then sees it.
	qLockAgent = qGetAgent + ` FOR UPDATE`

	qUpdateAgent = `
UPDATE agents SET name = $3, avatar = $4, system_prompt = $5, status = $6, mode = $7,
    handoff_enabled = $8, handoff_threshold = $9, handoff_dest = $10, routing_policy = $11,
    business_hours = $12::jsonb, tagging_enabled = $13, available_tags = $14,
    allowed_origins = $15, updated_at = now()
WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL
RETURNING ` + agentCols

	// qListAgents pages newest first by (created_at, id); $2/$3 are the page key (NULL on
	// the first page).
	qListAgents = `
SELECT id, name, avatar, status, mode, created_at
FROM agents
WHERE workspace_id = $1 AND deleted_at IS NULL
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $4`

	qSoftDeleteAgent = `UPDATE agents SET deleted_at = now(), updated_at = now() WHERE id = $1 AND workspace_id = $2`

	widgetCols = `w.primary_color, w.theme, w.greeting, w.position, w.corner_radius, w.shadow,
    w.header_title, w.input_placeholder, w.streaming, w.template`

	// qEnsureWidget gives an agent its default widget row when it has none (agents created
	// through the API always have one; this covers rows written by other means).
	qEnsureWidget = `
INSERT INTO widget_configs (agent_id)
SELECT id FROM agents WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL
ON CONFLICT (agent_id) DO NOTHING`

	qGetWidget = `
SELECT ` + widgetCols + `
FROM widget_configs w JOIN agents a ON a.id = w.agent_id
WHERE a.id = $1 AND a.workspace_id = $2 AND a.deleted_at IS NULL`

	// qPatchWidget changes only the fields bound to a non-NULL value.
	qPatchWidget = `
UPDATE widget_configs w SET
    primary_color = COALESCE($3, w.primary_color),
    theme = COALESCE($4, w.theme),
    greeting = COALESCE($5, w.greeting),
    position = COALESCE($6, w.position),
    corner_radius = COALESCE($7, w.corner_radius),
    shadow = COALESCE($8, w.shadow),
    header_title = COALESCE($9, w.header_title),
    input_placeholder = COALESCE($10, w.input_placeholder),
    streaming = COALESCE($11, w.streaming),
    template = COALESCE($12, w.template),
    updated_at = now()
FROM agents a
WHERE w.agent_id = a.id AND a.id = $1 AND a.workspace_id = $2 AND a.deleted_at IS NULL
RETURNING ` + widgetCols
)

// notFound maps sql.ErrNoRows to ErrNotFound.
func notFound(err error) error {
	if pg.IsNoRows(err) {
		return ErrNotFound
	}
	return err
}

// lockPlan locks the workspace row (see qLockWorkspace) and returns its plan.
func (store) lockPlan(ctx context.Context, q sqlx.QueryerContext, workspaceID string) (string, error) {
	var plan string
	err := sqlx.GetContext(ctx, q, &plan, qLockWorkspace, workspaceID)
	if pg.IsNoRows(err) {
		return "", apperr.NotFoundf("Workspace")
	}
	return plan, err
}

// countAgents counts the workspace's live agents.
func (store) countAgents(ctx context.Context, q sqlx.QueryerContext, workspaceID string) (int, error) {
	var n int
	err := sqlx.GetContext(ctx, q, &n, qCountAgents, workspaceID)
	return n, err
}

// insertAgent stores a new agent with its default widget configuration (two statements:
// q should be a transaction).
func (store) insertAgent(ctx context.Context, q sqlx.ExtContext, id, workspaceID string, s Settings) (agentRow, error) {
	args, err := settingsArgs(s)
	if err != nil {
		return agentRow{}, err
	}
	var r agentRow
	if err := sqlx.GetContext(ctx, q, &r, qInsertAgent, append([]any{id, workspaceID}, args...)...); err != nil {
		return agentRow{}, pg.MapError(err)
	}
	_, err = q.ExecContext(ctx, qInsertWidget, r.ID)
	return r, err
}

// getAgent reads one live agent of the workspace; lock takes a FOR UPDATE row lock (q must
// then be a transaction).
func (store) getAgent(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID string, lock bool) (agentRow, error) {
	query := qGetAgent
	if lock {
		query = qLockAgent
	}
	var r agentRow
	err := sqlx.GetContext(ctx, q, &r, query, agentID, workspaceID)
	return r, notFound(err)
}

// getAgentByID reads one live agent by id alone (the public widget routes).
func (store) getAgentByID(ctx context.Context, q sqlx.QueryerContext, agentID string) (agentRow, error) {
	var r agentRow
	err := sqlx.GetContext(ctx, q, &r, qGetAgentByID, agentID)
	return r, notFound(err)
}

// updateAgent writes every setting of a live agent.
func (store) updateAgent(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID string, s Settings) (agentRow, error) {
	args, err := settingsArgs(s)
	if err != nil {
		return agentRow{}, err
	}
	var r agentRow
	err = sqlx.GetContext(ctx, q, &r, qUpdateAgent, append([]any{agentID, workspaceID}, args...)...)
	if pg.IsNoRows(err) {
		return r, ErrNotFound
	}
	return r, pg.MapError(err)
}

// listAgents returns up to req.Fetch() live agents after req.After, newest first, without
// their counts.
func (store) listAgents(ctx context.Context, q sqlx.QueryerContext, workspaceID string, req page.Request) ([]ListItem, error) {
	at, id := req.After.Args()
	var rows []ListItem
	err := sqlx.SelectContext(ctx, q, &rows, qListAgents, workspaceID, at, id, req.Fetch())
	return rows, err
}

// softDeleteAgent marks the agent deleted.
func (store) softDeleteAgent(ctx context.Context, q sqlx.ExecerContext, workspaceID, agentID string) error {
	_, err := q.ExecContext(ctx, qSoftDeleteAgent, agentID, workspaceID)
	return err
}

// widget reads the agent's widget configuration, creating the default row when missing.
func (store) widget(ctx context.Context, q sqlx.ExtContext, workspaceID, agentID string) (Widget, error) {
	var w Widget
	err := sqlx.GetContext(ctx, q, &w, qGetWidget, agentID, workspaceID)
	if pg.IsNoRows(err) {
		if _, err := q.ExecContext(ctx, qEnsureWidget, agentID, workspaceID); err != nil {
			return w, err
		}
		err = sqlx.GetContext(ctx, q, &w, qGetWidget, agentID, workspaceID)
	}
	return w, notFound(err)
}

// patchWidget changes the set fields of the agent's widget configuration, creating the
// default row first when missing.
func (store) patchWidget(ctx context.Context, q sqlx.ExtContext, workspaceID, agentID string, c WidgetChanges) (Widget, error) {
	if _, err := q.ExecContext(ctx, qEnsureWidget, agentID, workspaceID); err != nil {
		return Widget{}, err
	}
	var w Widget
	err := sqlx.GetContext(ctx, q, &w, qPatchWidget, agentID, workspaceID,
		c.PrimaryColor.ptr(), c.Theme.ptr(), c.Greeting.ptr(), c.Position.ptr(), c.CornerRadius.ptr(),
		c.Shadow.ptr(), c.HeaderTitle.ptr(), c.InputPlaceholder.ptr(), c.Streaming.ptr(), c.Template.ptr())
	if pg.IsNoRows(err) {
		return w, ErrNotFound
	}
	return w, pg.MapError(err)
}

func nullIfEmpty(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
