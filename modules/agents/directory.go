package agents

import (
	"context"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/pg"
)

// PublicAgent is what the public chat widget may learn about an agent (it knows no
// workspace): the agent's settings for the pipeline and CORS, its avatar and its widget
// configuration.
type PublicAgent struct {
	Agent
	Avatar string
	Widget Widget
}

// qGetAgentByID reads a live agent by id alone; only the public widget routes use it, and
// they answer for that agent's own workspace.
const qGetAgentByID = `
SELECT ` + agentCols + ` FROM agents WHERE id = $1 AND deleted_at IS NULL`

// Public implements Directory.
func (s *Service) Public(ctx context.Context, agentID string) (PublicAgent, error) {
	id, err := uuid.Parse(agentID)
	if err != nil {
		return PublicAgent{}, ErrNotFound
	}
	var r agentRow
	if err := sqlx.GetContext(ctx, s.db, &r, qGetAgentByID, id.String()); err != nil {
		if pg.IsNoRows(err) {
			return PublicAgent{}, ErrNotFound
		}
		return PublicAgent{}, err
	}
	st, err := r.settings()
	if err != nil {
		return PublicAgent{}, err
	}
	p := PublicAgent{Avatar: st.Avatar, Agent: Agent{
		ID: r.ID, WorkspaceID: r.WorkspaceID, Name: st.Name, SystemPrompt: st.SystemPrompt,
		Status: st.Status, Mode: st.Mode, HandoffEnabled: st.HandoffEnabled,
		HandoffThreshold: st.HandoffThreshold, HandoffDest: st.HandoffDest,
		RoutingPolicy: st.RoutingPolicy, BusinessHours: st.BusinessHours,
		TaggingEnabled: st.TaggingEnabled, AvailableTags: st.AvailableTags, AllowedOrigins: st.AllowedOrigins,
	}}
	// Agents created through the API always have a widget row; widget() adds the default
	// one for rows written by other means.
	p.Widget, err = widget(ctx, s.db, r.WorkspaceID, r.ID)
	return p, err
}
