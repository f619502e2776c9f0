package auth

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/pg"
)

// Invitations. Only a token's sha256 (hashToken) is stored.

type invitationRow struct {
	ID          string     `db:"id"`
	WorkspaceID string     `db:"workspace_id"`
	Email       string     `db:"email"`
	Role        string     `db:"role"`
	ExpiresAt   time.Time  `db:"expires_at"`
	AcceptedAt  *time.Time `db:"accepted_at"`
}

type pendingInvitationRow struct {
	ID          string    `db:"id"`
	Email       string    `db:"email"`
	Role        string    `db:"role"`
	InvitedBy   *string   `db:"invited_by"`
	InviterName *string   `db:"inviter_name"`
	ExpiresAt   time.Time `db:"expires_at"`
	CreatedAt   time.Time `db:"created_at"`
}

const (
	// A new invitation replaces the pending ones for the same address.
	qDeletePendingInvites = `
DELETE FROM invitations WHERE workspace_id = $1 AND email = $2 AND accepted_at IS NULL`

	qInsertInvitation = `
INSERT INTO invitations (id, workspace_id, email, role, token_hash, invited_by, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`

	qInvitationForUpdate = `
SELECT id, workspace_id, email, role, expires_at, accepted_at
FROM invitations WHERE token_hash = $1 FOR UPDATE`

	qAcceptInvitation = `UPDATE invitations SET accepted_at = now() WHERE id = $1`

	qPendingInvitations = `
SELECT i.id, i.email, i.role, i.invited_by, u.name AS inviter_name, i.expires_at, i.created_at
FROM invitations i LEFT JOIN users u ON u.id = i.invited_by
WHERE i.workspace_id = $1 AND i.accepted_at IS NULL AND i.expires_at > now()
ORDER BY i.created_at DESC, i.id`

	qDeletePendingInvitation = `
DELETE FROM invitations WHERE id = $1 AND workspace_id = $2 AND accepted_at IS NULL`

	qDeleteInvitationsBy = `
DELETE FROM invitations WHERE workspace_id = $1 AND invited_by = $2 AND accepted_at IS NULL`
)

// errNoInvitation answers an invitation token that is unknown, accepted or expired.
var errNoInvitation = apperr.E(apperr.NotFound, "Invitation not found or expired")

// insertInvitation stores inv (by its token's hash), replacing the pending invitations of
// the workspace for the same address.
func (store) insertInvitation(ctx context.Context, q sqlx.ExtContext, inv invitationRow, hash, invitedBy string) error {
	if _, err := q.ExecContext(ctx, qDeletePendingInvites, inv.WorkspaceID, inv.Email); err != nil {
		return err
	}
	return exec(ctx, q, qInsertInvitation, inv.ID, inv.WorkspaceID, inv.Email, inv.Role, hash, invitedBy, inv.ExpiresAt)
}

// acceptInvitation locks the pending invitation with hash and marks it accepted;
// errNoInvitation when it is unknown, already accepted or expired.
func (store) acceptInvitation(ctx context.Context, q sqlx.ExtContext, hash string) (invitationRow, error) {
	var inv invitationRow
	if err := sqlx.GetContext(ctx, q, &inv, qInvitationForUpdate, hash); err != nil {
		if pg.IsNoRows(err) {
			return inv, errNoInvitation
		}
		return inv, err
	}
	if inv.AcceptedAt != nil || time.Now().After(inv.ExpiresAt) {
		return inv, errNoInvitation
	}
	_, err := q.ExecContext(ctx, qAcceptInvitation, inv.ID)
	return inv, err
}

// pendingInvitations lists the workspace's invitations neither accepted nor expired, newest
// first.
func (store) pendingInvitations(ctx context.Context, q sqlx.ExtContext, workspaceID string) ([]pendingInvitationRow, error) {
	return selectAll[pendingInvitationRow](ctx, q, qPendingInvitations, workspaceID)
}

// deletePendingInvitation deletes a pending invitation of the workspace; 404 for an
// unknown, accepted or other workspace's one.
func (store) deletePendingInvitation(ctx context.Context, q sqlx.ExtContext, workspaceID, id string) error {
	res, err := q.ExecContext(ctx, qDeletePendingInvitation, id, workspaceID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.NotFoundf("Invitation")
	}
	return nil
}

// deleteInvitationsBy deletes the pending invitations userID sent from the workspace.
func (store) deleteInvitationsBy(ctx context.Context, q sqlx.ExtContext, workspaceID, userID string) error {
	return exec(ctx, q, qDeleteInvitationsBy, workspaceID, userID)
}
