package channels

import (
	"context"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/axonhq/axon/modules/agents/agentapi"
)

// Agent↔channel links (agent_channels), read and removed for the agents routes through
// Module.ChannelCounts, AgentChannels and UnlinkAgent (agents.ChannelLinks).
const (
	// qChannelCounts counts the channels linked to each of the agents ($2) in one query.
	qChannelCounts = `
SELECT ac.agent_id, count(*) AS n
FROM agent_channels ac JOIN channels c ON c.id = ac.channel_id
WHERE c.workspace_id = $1 AND ac.agent_id = ANY($2::uuid[])
GROUP BY ac.agent_id`

	qAgentChannels = `
SELECT c.id, c.type, (c.is_active AND ac.is_active) AS is_active
FROM agent_channels ac JOIN channels c ON c.id = ac.channel_id
WHERE ac.agent_id = $2 AND c.workspace_id = $1
ORDER BY c.type`

	qUnlinkAgent = `
DELETE FROM agent_channels ac USING channels c
WHERE c.id = ac.channel_id AND c.workspace_id = $1 AND ac.agent_id = $2`
)

func (store) channelCounts(ctx context.Context, q sqlx.QueryerContext, ws string, agentIDs []string) (map[string]int, error) {
	var rows []struct {
		AgentID string `db:"agent_id"`
		N       int    `db:"n"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, qChannelCounts, ws, pq.StringArray(agentIDs)); err != nil {
		return nil, err
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.AgentID] = r.N
	}
	return out, nil
}

func (store) agentChannels(ctx context.Context, q sqlx.QueryerContext, ws, agentID string) ([]agentapi.Channel, error) {
	var rows []struct {
		ID       string `db:"id"`
		Type     string `db:"type"`
		IsActive bool   `db:"is_active"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, qAgentChannels, ws, agentID); err != nil {
		return nil, err
	}
	out := make([]agentapi.Channel, len(rows))
	for i, r := range rows {
		out[i] = agentapi.Channel(r)
	}
	return out, nil
}

func (store) unlinkAgent(ctx context.Context, q sqlx.ExecerContext, ws, agentID string) error {
	_, err := q.ExecContext(ctx, qUnlinkAgent, ws, agentID)
	return err
}
