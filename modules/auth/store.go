package auth

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/pg"
)

// Rows.

type userRow struct {
	ID            string    `db:"id"`
	Email         string    `db:"email"`
	PasswordHash  string    `db:"password_hash"`
	Name          string    `db:"name"`
	EmailVerified bool      `db:"email_verified"`
	CreatedAt     time.Time `db:"created_at"`
}

type workspaceRow struct {
	ID            string    `db:"id"`
	Name          string    `db:"name"`
	Slug          string    `db:"slug"`
	Plan          string    `db:"plan"`
	CreditBalance int       `db:"credit_balance"`
	CreatedAt     time.Time `db:"created_at"`
}

type membershipRow struct {
	WorkspaceID string    `db:"workspace_id" json:"workspace_id"`
	Name        string    `db:"name" json:"name"`
	Slug        string    `db:"slug" json:"slug"`
	Plan        string    `db:"plan" json:"plan"`
	Role        string    `db:"role" json:"role"`
	JoinedAt    time.Time `db:"joined_at" json:"joined_at"`
}

// meRow is the user with its memberships as JSON, read in one round trip (GET /auth/me
// runs on every dashboard load).
type meRow struct {
	userRow
	Memberships []byte `db:"memberships"`
}

type memberRow struct {
	UserID   string    `db:"user_id"`
	Email    string    `db:"email"`
	Name     string    `db:"name"`
	Role     string    `db:"role"`
	JoinedAt time.Time `db:"joined_at"`
}

type refreshRow struct {
	ID          string     `db:"id"`
	UserID      string     `db:"user_id"`
	WorkspaceID string     `db:"workspace_id"`
	FamilyID    string     `db:"family_id"`
	ExpiresAt   time.Time  `db:"expires_at"`
	RevokedAt   *time.Time `db:"revoked_at"`
	ReplacedBy  *string    `db:"replaced_by"`
}

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

// Purposes of email_tokens rows.
const (
	purposeVerifyEmail   = "VERIFY_EMAIL"
	purposeResetPassword = "RESET_PASSWORD"
)

type emailTokenRow struct {
	ID        string     `db:"id"`
	UserID    string     `db:"user_id"`
	Purpose   string     `db:"purpose"`
	ExpiresAt time.Time  `db:"expires_at"`
	UsedAt    *time.Time `db:"used_at"`
}

// Queries. Every workspace-scoped query filters on the workspace id from the token.
const (
	qInsertUser = `
INSERT INTO users (id, email, password_hash, name, email_verified) VALUES ($1, $2, $3, $4, $5)
RETURNING id, email, password_hash, name, email_verified, created_at`

	qUserByEmail = `
SELECT id, email, password_hash, name, email_verified, created_at FROM users WHERE email = $1`

	qUserByID = `
SELECT id, email, password_hash, name, email_verified, created_at FROM users WHERE id = $1`

	qInsertWorkspace = `
INSERT INTO workspaces (id, name, slug) VALUES ($1, $2, $3)
RETURNING id, name, slug, plan, credit_balance, created_at`

	qInsertMember = `
INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, $3)`

	qMemberships = `
SELECT m.workspace_id, w.name, w.slug, w.plan, m.role, m.joined_at
FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
WHERE m.user_id = $1
ORDER BY m.joined_at, m.workspace_id`

	qMembership = `
SELECT m.workspace_id, w.name, w.slug, w.plan, m.role, m.joined_at
FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
WHERE m.user_id = $1 AND m.workspace_id = $2`

	qMe = `
SELECT u.id, u.email, u.password_hash, u.name, u.email_verified, u.created_at,
       COALESCE((
         SELECT json_agg(json_build_object('workspace_id', m.workspace_id, 'name', w.name, 'slug', w.slug,
                                           'plan', w.plan, 'role', m.role, 'joined_at', m.joined_at)
                         ORDER BY m.joined_at, m.workspace_id)
         FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.user_id = u.id), '[]') AS memberships
FROM users u WHERE u.id = $1`

	qWorkspace = `
SELECT id, name, slug, plan, credit_balance, created_at FROM workspaces WHERE id = $1`

	qMemberCount = `SELECT count(*) FROM workspace_members WHERE workspace_id = $1`

	// The addresses told about handoffs: the workspace's owners and admins.
	qNotifyAddresses = `
SELECT u.email FROM workspace_members m JOIN users u ON u.id = m.user_id
WHERE m.workspace_id = $1 AND m.role IN ('OWNER', 'ADMIN')
ORDER BY m.joined_at, m.user_id`

	qRenameWorkspace = `
UPDATE workspaces SET name = $2, updated_at = now() WHERE id = $1
RETURNING id, name, slug, plan, credit_balance, created_at`

	qMembers = `
SELECT m.user_id, u.email, u.name, m.role, m.joined_at
FROM workspace_members m JOIN users u ON u.id = m.user_id
WHERE m.workspace_id = $1
ORDER BY m.joined_at, m.user_id`

	qMemberForUpdate = `
SELECT m.user_id, u.email, u.name, m.role, m.joined_at
FROM workspace_members m JOIN users u ON u.id = m.user_id
WHERE m.workspace_id = $1 AND m.user_id = $2
FOR UPDATE OF m`

	// Locks every owner row of the workspace so that two concurrent demotions cannot both
	// pass the last-owner check.
	qLockOwners = `
SELECT user_id FROM workspace_members WHERE workspace_id = $1 AND role = 'OWNER' FOR UPDATE`

	qSetRole = `UPDATE workspace_members SET role = $3 WHERE workspace_id = $1 AND user_id = $2`

	qDeleteMember = `DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`

	qInsertRefresh = `
INSERT INTO refresh_tokens (id, user_id, workspace_id, family_id, token_hash, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)`

	qRefreshForUpdate = `
SELECT id, user_id, workspace_id, family_id, expires_at, revoked_at, replaced_by
FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`

	qRotateRefresh = `
UPDATE refresh_tokens SET revoked_at = now(), replaced_by = $2 WHERE id = $1`

	qRevokeFamily = `
UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`

	qRevokeRefresh = `
UPDATE refresh_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL`

	qRevokeUserWorkspace = `
UPDATE refresh_tokens SET revoked_at = now()
WHERE user_id = $1 AND workspace_id = $2 AND revoked_at IS NULL`

	qIsMemberByEmail = `
SELECT EXISTS (
  SELECT 1 FROM workspace_members m JOIN users u ON u.id = m.user_id
  WHERE m.workspace_id = $1 AND u.email = $2)`

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

	qAddMemberIfAbsent = `
INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, $3)
ON CONFLICT (workspace_id, user_id) DO NOTHING`
)

// store runs the SQL of the newer auth code (membership re-reads, e-mail tokens, pending
// invitations, token families) on a pool or a transaction.
type store struct{}

const (
	// The caller's own membership, re-read inside an owner action's transaction: FOR SHARE
	// waits for a concurrent demotion or removal (which lock the row FOR UPDATE) to commit.
	qCallerRole = `
SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2 FOR SHARE`

	qInsertEmailToken = `
INSERT INTO email_tokens (id, user_id, purpose, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)`

	// A new token of a purpose retires the user's earlier unused ones.
	qRetireEmailTokens = `
UPDATE email_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`

	qEmailTokenForUpdate = `
SELECT id, user_id, purpose, expires_at, used_at FROM email_tokens WHERE token_hash = $1 FOR UPDATE`

	qUseEmailToken = `UPDATE email_tokens SET used_at = now() WHERE id = $1`

	qMarkVerified = `UPDATE users SET email_verified = true, updated_at = now() WHERE id = $1`

	qSetPassword = `
UPDATE users SET password_hash = $2, email_verified = true, updated_at = now() WHERE id = $1`

	qRevokeUserTokens = `
UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`

	qPendingInvitations = `
SELECT i.id, i.email, i.role, i.invited_by, u.name AS inviter_name, i.expires_at, i.created_at
FROM invitations i LEFT JOIN users u ON u.id = i.invited_by
WHERE i.workspace_id = $1 AND i.accepted_at IS NULL AND i.expires_at > now()
ORDER BY i.created_at DESC, i.id`

	qDeletePendingInvitation = `
DELETE FROM invitations WHERE id = $1 AND workspace_id = $2 AND accepted_at IS NULL`

	qDeleteInvitationsBy = `
DELETE FROM invitations WHERE workspace_id = $1 AND invited_by = $2 AND accepted_at IS NULL`

	// The refresh token issued together with an access token (its jti), for the family a
	// switched or invitation session joins.
	qSessionFamily = `
SELECT family_id FROM refresh_tokens WHERE id = $1 AND user_id = $2`

	qFamilyLive = `
SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL AND expires_at > now())`
)

var errNoLongerMember = apperr.E(apperr.Forbidden, "You are no longer a member of this workspace")

// requireRole re-reads the caller's role in the workspace (locking the row FOR SHARE when q
// is a transaction) and answers 403 FORBIDDEN unless it is at least min.
func (store) requireRole(ctx context.Context, q sqlx.ExtContext, workspaceID, userID string, min authn.Role) error {
	var role string
	if err := sqlx.GetContext(ctx, q, &role, qCallerRole, workspaceID, userID); err != nil {
		if pg.IsNoRows(err) {
			return errNoLongerMember
		}
		return err
	}
	if !authn.Role(role).AtLeast(min) {
		return apperr.E(apperr.Forbidden, "This action requires the "+string(min)+" role")
	}
	return nil
}

func (store) insertEmailToken(ctx context.Context, q sqlx.ExtContext, userID, purpose, hash string, expires time.Time) error {
	if _, err := q.ExecContext(ctx, qRetireEmailTokens, userID, purpose); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, qInsertEmailToken, newID(), userID, purpose, hash, expires)
	return err
}

// useEmailToken locks and consumes a token of purpose; errBadEmailToken when it is unknown,
// of another purpose, used or expired.
func (store) useEmailToken(ctx context.Context, q sqlx.ExtContext, hash, purpose string) (emailTokenRow, error) {
	var t emailTokenRow
	if err := sqlx.GetContext(ctx, q, &t, qEmailTokenForUpdate, hash); err != nil {
		if pg.IsNoRows(err) {
			return t, errBadEmailToken
		}
		return t, err
	}
	if t.Purpose != purpose || t.UsedAt != nil || time.Now().After(t.ExpiresAt) {
		return t, errBadEmailToken
	}
	_, err := q.ExecContext(ctx, qUseEmailToken, t.ID)
	return t, err
}

func (store) pendingInvitations(ctx context.Context, q sqlx.ExtContext, workspaceID string) ([]pendingInvitationRow, error) {
	out := []pendingInvitationRow{}
	err := sqlx.SelectContext(ctx, q, &out, qPendingInvitations, workspaceID)
	return out, err
}

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

// sessionFamily is the refresh family of the session whose access token has jti tokenID;
// "" when unknown (an access token not issued with a refresh token). live is false when
// every refresh token of the family is revoked or expired.
func (store) sessionFamily(ctx context.Context, q sqlx.ExtContext, tokenID, userID string) (family string, live bool, err error) {
	if tokenID == "" || !isUUID(tokenID) {
		return "", false, nil
	}
	if err := sqlx.GetContext(ctx, q, &family, qSessionFamily, tokenID, userID); err != nil {
		if pg.IsNoRows(err) {
			return "", false, nil
		}
		return "", false, err
	}
	err = sqlx.GetContext(ctx, q, &live, qFamilyLive, family)
	return family, live, err
}
