package agents

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lib/pq"
)

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

// ListItem is one agent in the list.
type ListItem struct {
	ID             string         `db:"id"`
	Name           string         `db:"name"`
	Avatar         sql.NullString `db:"avatar"`
	Status         string         `db:"status"`
	Mode           string         `db:"mode"`
	ChannelCount   int            `db:"channel_count"`
	KnowledgeCount int            `db:"knowledge_count"`
	CreatedAt      time.Time      `db:"created_at"`
}

// Widget is an agent's chat-widget configuration (widget_configs).
type Widget struct {
	PrimaryColor     string `db:"primary_color"`
	Theme            string `db:"theme"`
	Greeting         string `db:"greeting"`
	Position         string `db:"position"`
	CornerRadius     int    `db:"corner_radius"`
	Shadow           bool   `db:"shadow"`
	HeaderTitle      string `db:"header_title"`
	InputPlaceholder string `db:"input_placeholder"`
	Streaming        bool   `db:"streaming"`
	Template         string `db:"template"`
}

// Channel is one channel linked to an agent.
type Channel struct {
	ID       string `db:"id"`
	Type     string `db:"type"`
	IsActive bool   `db:"is_active"` // the channel is on and linked actively to this agent
}

// KnowledgeSummary counts an agent's knowledge documents by status. Processing counts
// PENDING and PROCESSING docs; Chunks is the sum of the docs' chunk counts.
type KnowledgeSummary struct {
	Total      int `db:"total"`
	Ready      int `db:"ready"`
	Processing int `db:"processing"`
	Error      int `db:"error"`
	Chunks     int `db:"chunks"`
}

// Queries. Every query filters on the workspace id from the token and skips deleted agents.
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

	// qListAgents pages newest first by (created_at, id); $2/$3 are the cursor (NULL on the
	// first page).
	qListAgents = `
SELECT a.id, a.name, a.avatar, a.status, a.mode, a.created_at,
    (SELECT count(*) FROM agent_channels ac WHERE ac.agent_id = a.id) AS channel_count,
    (SELECT count(*) FROM knowledge_docs d WHERE d.workspace_id = a.workspace_id AND d.agent_id = a.id) AS knowledge_count
FROM agents a
WHERE a.workspace_id = $1 AND a.deleted_at IS NULL
  AND ($2::timestamptz IS NULL OR (a.created_at, a.id) < ($2::timestamptz, $3::uuid))
ORDER BY a.created_at DESC, a.id DESC
LIMIT $4`

	qSoftDeleteAgent = `UPDATE agents SET deleted_at = now(), updated_at = now() WHERE id = $1 AND workspace_id = $2`

	// Chunks go with their docs (ON DELETE CASCADE).

	qDeleteChannelLinks = `DELETE FROM agent_channels WHERE agent_id = $1`

	qAgentChannels = `
SELECT c.id, c.type, (c.is_active AND ac.is_active) AS is_active
FROM agent_channels ac JOIN channels c ON c.id = ac.channel_id
WHERE ac.agent_id = $1 AND c.workspace_id = $2
ORDER BY c.type`

	qKnowledgeSummary = `
SELECT count(*) AS total,
    count(*) FILTER (WHERE status = 'READY') AS ready,
    count(*) FILTER (WHERE status IN ('PENDING', 'PROCESSING')) AS processing,
    count(*) FILTER (WHERE status = 'ERROR') AS error,
    COALESCE(sum(chunk_count), 0) AS chunks
FROM knowledge_docs WHERE workspace_id = $1 AND agent_id = $2`

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

func nullIfEmpty(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
