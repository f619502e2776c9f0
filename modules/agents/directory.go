package agents

import (
	"context"

	"github.com/google/uuid"

	"github.com/axonhq/axon/platform/pg"
)

// Directory is the read contract other modules use to look agents up: ingestion checks that
// an agent exists before it stores knowledge; channels reads the agent's settings to answer
// and the public widget routes read an agent by id alone. main.go builds it first, from the
// database alone, so that every module can receive it.
type Directory struct {
	db *pg.DB
	st store
}

// NewDirectory returns the directory over db.
func NewDirectory(db *pg.DB) *Directory { return &Directory{db: db} }

// Get returns the agent of the workspace. It returns an apperr NOT_FOUND error when the
// agent does not exist, belongs to another workspace or was deleted.
func (d *Directory) Get(ctx context.Context, workspaceID, agentID string) (Agent, error) {
	ws, ok1 := canonicalID(workspaceID)
	id, ok2 := canonicalID(agentID)
	if !ok1 || !ok2 {
		return Agent{}, ErrNotFound
	}
	r, err := d.st.getAgent(ctx, d.db, ws, id, false)
	if err != nil {
		return Agent{}, err
	}
	a, _, err := r.agent()
	return a, err
}

// Exists returns nil when the agent lives in the workspace, else NOT_FOUND as Get.
func (d *Directory) Exists(ctx context.Context, workspaceID, agentID string) error {
	_, err := d.Get(ctx, workspaceID, agentID)
	return err
}

// Public returns a live agent by id alone, with its avatar and widget configuration, for
// the public widget routes (which know no workspace; they answer for that agent's own
// workspace). NOT_FOUND as Get.
func (d *Directory) Public(ctx context.Context, agentID string) (PublicAgent, error) {
	id, ok := canonicalID(agentID)
	if !ok {
		return PublicAgent{}, ErrNotFound
	}
	r, err := d.st.getAgentByID(ctx, d.db, id)
	if err != nil {
		return PublicAgent{}, err
	}
	a, st, err := r.agent()
	if err != nil {
		return PublicAgent{}, err
	}
	p := PublicAgent{Agent: a, Avatar: st.Avatar}
	p.Widget, err = d.st.widget(ctx, d.db, r.WorkspaceID, r.ID)
	return p, err
}

// canonicalID returns s as a canonical UUID string; false when s is not a UUID (an id that
// cannot exist is simply not found).
func canonicalID(s string) (string, bool) {
	id, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return id.String(), true
}
