// Package agents owns the AI agents of a workspace: their settings (system prompt, mode,
// handoff, routing policy, business hours, tagging, allowed widget origins), their widget
// configuration and the plan's agent limit. Deleting an agent is a soft delete that removes
// its knowledge and channel links and keeps its conversations.
//
// Other modules read agents through the Directory (directory.go), built before them, and
// get answers through the Responder (responder.go). The agents routes are built last: they
// show each agent's knowledge and channels, which ingestion and channels own, through the
// KnowledgeBase and ChannelLinks contracts below.
package agents

import (
	"context"
	"errors"
	"log/slog"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/realtime"
)

// KnowledgeBase is what the agents routes need of an agent's knowledge; the ingestion module
// implements it.
type KnowledgeBase interface {
	// DocCounts returns how many documents each of the agents has; an agent without any
	// is absent from the map.
	DocCounts(ctx context.Context, workspaceID string, agentIDs []string) (map[string]int, error)
	// StatusCounts returns the agent's documents per status (READY, PENDING, PROCESSING,
	// ERROR) and the sum of their chunk counts.
	StatusCounts(ctx context.Context, workspaceID, agentID string) (byStatus map[string]int, chunks int, err error)
	// RemoveAgentKnowledge deletes the agent's documents, chunks and stored files inside
	// the agent's delete transaction tx.
	RemoveAgentKnowledge(ctx context.Context, tx *sqlx.Tx, workspaceID, agentID string) error
}

// ChannelLinks is what the agents routes need of an agent's links to the workspace's
// channels; the channels module implements it.
type ChannelLinks interface {
	// ChannelCounts returns how many channels each of the agents is linked to; an agent
	// without any is absent from the map.
	ChannelCounts(ctx context.Context, workspaceID string, agentIDs []string) (map[string]int, error)
	// AgentChannels returns the channels linked to the agent, ordered by type.
	AgentChannels(ctx context.Context, workspaceID, agentID string) ([]Channel, error)
	// UnlinkAgent removes the agent's channel links inside the agent's delete transaction
	// tx; the channels themselves stay.
	UnlinkAgent(ctx context.Context, tx *sqlx.Tx, workspaceID, agentID string) error
}

// Deps are what the module needs.
type Deps struct {
	DB        *pg.DB
	Publisher realtime.Publisher
	// Authed is the middleware chain of every dashboard route (kernel.Deps.Authed).
	Authed    []echo.MiddlewareFunc
	Log       *slog.Logger
	Knowledge KnowledgeBase
	Channels  ChannelLinks
}

// Module is the agents module.
type Module struct {
	svc    *Service
	authed []echo.MiddlewareFunc
}

// New builds the module. It fails when a required dependency is missing.
func New(d Deps) (*Module, error) {
	if d.DB == nil || d.Publisher == nil || len(d.Authed) == 0 || d.Knowledge == nil || d.Channels == nil {
		return nil, errors.New("agents: DB, Publisher, Authed, Knowledge and Channels are required")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	svc := &Service{db: d.DB, pub: d.Publisher, log: d.Log, knowledge: d.Knowledge, channels: d.Channels}
	return &Module{svc: svc, authed: d.Authed}, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return "agents" }

// Workers implements kernel.Module; agents has no jobs.
func (m *Module) Workers(*river.Workers) error { return nil }
