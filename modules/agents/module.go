// Package agents owns the AI agents of a workspace: their settings (system prompt, mode,
// handoff, routing policy, business hours, tagging, allowed widget origins), their widget
// configuration and the plan's agent limit. Deleting an agent is a soft delete that removes
// its knowledge and channel links and keeps its conversations.
//
// Other modules reach agents only through the Directory contract below.
package agents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/realtime"
)

// Deps are what the module needs.
type Deps struct {
	DB        *pg.DB
	Publisher realtime.Publisher
	// Authenticated is the middleware chain of every dashboard route (auth's Authenticated()).
	Authenticated []echo.MiddlewareFunc
	Log           *slog.Logger
	// RemoveKnowledge deletes an agent's knowledge (documents, chunks, stored files) inside
	// the agent's delete transaction; ingestion owns that data and implements it.
	RemoveKnowledge func(ctx context.Context, tx *sqlx.Tx, workspaceID, agentID string) error
}

// Module is the agents module.
type Module struct {
	svc    *Service
	authed []echo.MiddlewareFunc
}

// New builds the module. It fails when a required dependency is missing.
func New(d Deps) (*Module, error) {
	if d.DB == nil || d.Publisher == nil || len(d.Authenticated) == 0 {
		return nil, errors.New("agents: DB, Publisher and Authenticated are required")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.RemoveKnowledge == nil {
		return nil, fmt.Errorf("agents: RemoveKnowledge is required")
	}
	return &Module{svc: &Service{db: d.DB, pub: d.Publisher, log: d.Log, removeKnowledge: d.RemoveKnowledge}, authed: d.Authenticated}, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return "agents" }

// Workers implements kernel.Module; agents has no jobs.
func (m *Module) Workers(*river.Workers) error { return nil }

// Directory returns the read contract other modules use to look agents up.
func (m *Module) Directory() Directory { return m.svc }

// Directory looks agents up for other modules (ingestion checks that an agent exists before
// it stores knowledge; channels reads the agent's settings to answer).
type Directory interface {
	// Get returns the agent of the workspace. It returns an apperr NOT_FOUND error when the
	// agent does not exist, belongs to another workspace or was deleted.
	Get(ctx context.Context, workspaceID, agentID string) (Agent, error)
	// Public returns a live agent by id alone, with its avatar and widget configuration,
	// for the public widget routes (which know no workspace). NOT_FOUND as Get.
	Public(ctx context.Context, agentID string) (PublicAgent, error)
}

// Agent is an agent's settings as other modules see them.
type Agent struct {
	ID               string
	WorkspaceID      string
	Name             string
	SystemPrompt     string
	Status           string // ACTIVE | INACTIVE | DRAFT
	Mode             string // TEXT | VOICE | BOTH
	HandoffEnabled   bool
	HandoffThreshold float64 // 0..1: answers scored below it are handed off
	HandoffDest      string  // NONE | LIVE_AGENT | EMAIL_QUEUE | ZENDESK | FRESHDESK
	RoutingPolicy    string  // free text for the handoff decision; "" when none
	BusinessHours    *BusinessHours
	TaggingEnabled   bool
	AvailableTags    []string
	AllowedOrigins   []string // widget CORS origins; empty = any origin
}
