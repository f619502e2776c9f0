package auth

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/pg"
)

// Directory answers what other modules need to know about accounts (roles, e-mail
// addresses) without their reading auth's tables. It only reads, needs nothing but the
// database, and is built in main.go before the modules that consume it (billing, channels),
// each of which declares the small interface it uses.
type Directory struct {
	db *pg.DB
	st store
}

// NewDirectory returns the directory over db.
func NewDirectory(db *pg.DB) *Directory { return &Directory{db: db} }

// RequireRoleTx re-reads a user's role in a workspace inside the caller's transaction
// (locking the membership row FOR SHARE) and returns 403 FORBIDDEN unless it is at least
// min, so a demoted or removed owner's still-valid access token is refused at once
// (billing's owner routes use it).
func (d *Directory) RequireRoleTx(ctx context.Context, tx *sqlx.Tx, workspaceID, userID string, min authn.Role) error {
	return d.st.requireRole(ctx, tx, workspaceID, userID, min)
}

// NotifyAddresses returns the e-mail addresses of the workspace's owners and admins (the
// people told about a handoff), oldest membership first; none for an unknown workspace.
func (d *Directory) NotifyAddresses(ctx context.Context, workspaceID string) ([]string, error) {
	return d.st.notifyAddresses(ctx, d.db, workspaceID)
}

// OwnerAddresses returns the e-mail addresses of the workspace's owners (the people billing
// notices go to), oldest membership first; none for an unknown workspace. q is the caller's
// transaction or the pool.
func (d *Directory) OwnerAddresses(ctx context.Context, q sqlx.QueryerContext, workspaceID string) ([]string, error) {
	return d.st.ownerAddresses(ctx, q, workspaceID)
}

// UserEmail returns a user's e-mail address; "" for an unknown user. q is the caller's
// transaction or the pool.
func (d *Directory) UserEmail(ctx context.Context, q sqlx.QueryerContext, userID string) (string, error) {
	return d.st.userEmail(ctx, q, userID)
}
