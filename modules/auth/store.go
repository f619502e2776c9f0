package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/pg"
)

// store owns every SQL statement of the auth module and runs it on the pool or the
// transaction the service passes (q). It holds no state. Reads that find no row return
// pg.MapError's 404 (pg.IsNoRows still reports it), so a service answers 404 by passing the
// error on and checks pg.IsNoRows where a missing row means something else. Every
// workspace-scoped statement filters on the workspace id from the caller's token.
//
// The statements are grouped by table: users, workspaces and memberships here; refresh and
// e-mail tokens in store_tokens.go; invitations in store_invitations.go.
type store struct{}

// exec runs a statement whose result the caller does not need.
func exec(ctx context.Context, q sqlx.ExecerContext, query string, args ...any) error {
	_, err := q.ExecContext(ctx, query, args...)
	return err
}

// selectAll runs a query of many rows; an empty result is an empty slice, never nil.
func selectAll[T any](ctx context.Context, q sqlx.QueryerContext, query string, args ...any) ([]T, error) {
	out := []T{}
	if err := sqlx.SelectContext(ctx, q, &out, query, args...); err != nil {
		return nil, err
	}
	return out, nil
}

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

// Users.
const (
	qInsertUser = `
INSERT INTO users (id, email, password_hash, name, email_verified) VALUES ($1, $2, $3, $4, $5)
RETURNING id, email, password_hash, name, email_verified, created_at`

	qUserByEmail = `
SELECT id, email, password_hash, name, email_verified, created_at FROM users WHERE email = $1`

	qUserByID = `
SELECT id, email, password_hash, name, email_verified, created_at FROM users WHERE id = $1`

	qUserByIDForUpdate = qUserByID + ` FOR UPDATE`

	qUserEmail = `SELECT email FROM users WHERE id = $1`

	qMe = `
SELECT u.id, u.email, u.password_hash, u.name, u.email_verified, u.created_at,
       COALESCE((
         SELECT json_agg(json_build_object('workspace_id', m.workspace_id, 'name', w.name, 'slug', w.slug,
                                           'plan', w.plan, 'role', m.role, 'joined_at', m.joined_at)
                         ORDER BY m.joined_at, m.workspace_id)
         FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.user_id = u.id), '[]') AS memberships
FROM users u WHERE u.id = $1`

	qMarkVerified = `UPDATE users SET email_verified = true, updated_at = now() WHERE id = $1`

	qSetPassword = `
UPDATE users SET password_hash = $2, email_verified = true, updated_at = now() WHERE id = $1`
)

// errEmailTaken is insertUser's answer for an address that already has an account.
var errEmailTaken = apperr.E(apperr.Conflict, "An account with this email already exists")

// insertUser creates a user with a new id; errEmailTaken when the address has an account.
func (store) insertUser(ctx context.Context, q sqlx.ExtContext, email, passwordHash, name string, verified bool) (userRow, error) {
	var u userRow
	err := sqlx.GetContext(ctx, q, &u, qInsertUser, pg.NewID(), email, passwordHash, name, verified)
	if pg.IsUniqueViolation(err) {
		return u, errEmailTaken
	}
	return u, err
}

// userByEmail reads the user with the (lower-cased) address; ok is false when there is none.
func (store) userByEmail(ctx context.Context, q sqlx.ExtContext, email string) (u userRow, ok bool, err error) {
	err = sqlx.GetContext(ctx, q, &u, qUserByEmail, email)
	if pg.IsNoRows(err) {
		return u, false, nil
	}
	return u, err == nil, err
}

// userByID reads a user (404 when unknown); forUpdate locks the row.
func (store) userByID(ctx context.Context, q sqlx.ExtContext, id string, forUpdate bool) (userRow, error) {
	query := qUserByID
	if forUpdate {
		query = qUserByIDForUpdate
	}
	var u userRow
	err := sqlx.GetContext(ctx, q, &u, query, id)
	return u, pg.MapError(err)
}

// userEmail is the user's address; "" for an unknown user.
func (store) userEmail(ctx context.Context, q sqlx.QueryerContext, id string) (string, error) {
	var addr string
	err := sqlx.GetContext(ctx, q, &addr, qUserEmail, id)
	if pg.IsNoRows(err) {
		return "", nil
	}
	return addr, err
}

// me reads the user and their memberships, oldest first (404 for an unknown user).
func (store) me(ctx context.Context, q sqlx.ExtContext, userID string) (userRow, []membershipRow, error) {
	var row meRow
	if err := sqlx.GetContext(ctx, q, &row, qMe, userID); err != nil {
		return row.userRow, nil, pg.MapError(err)
	}
	var ms []membershipRow
	if err := json.Unmarshal(row.Memberships, &ms); err != nil {
		return row.userRow, nil, fmt.Errorf("auth: memberships: %w", err)
	}
	return row.userRow, ms, nil
}

func (store) markVerified(ctx context.Context, q sqlx.ExtContext, userID string) error {
	return exec(ctx, q, qMarkVerified, userID)
}

// setPassword stores a new password hash and marks the address verified.
func (store) setPassword(ctx context.Context, q sqlx.ExtContext, userID, passwordHash string) error {
	return exec(ctx, q, qSetPassword, userID, passwordHash)
}

// Workspaces.
const (
	qInsertWorkspace = `
INSERT INTO workspaces (id, name, slug) VALUES ($1, $2, $3)
RETURNING id, name, slug, plan, credit_balance, created_at`

	qWorkspace = `
SELECT id, name, slug, plan, credit_balance, created_at FROM workspaces WHERE id = $1`

	qRenameWorkspace = `
UPDATE workspaces SET name = $2, updated_at = now() WHERE id = $1
RETURNING id, name, slug, plan, credit_balance, created_at`

	qMemberCount = `SELECT count(*) FROM workspace_members WHERE workspace_id = $1`
)

// insertWorkspace creates a workspace with a new id (plan and credits take their defaults).
func (store) insertWorkspace(ctx context.Context, q sqlx.ExtContext, name, slug string) (workspaceRow, error) {
	var w workspaceRow
	err := sqlx.GetContext(ctx, q, &w, qInsertWorkspace, pg.NewID(), name, slug)
	return w, err
}

// workspace reads a workspace (404 when unknown).
func (store) workspace(ctx context.Context, q sqlx.ExtContext, id string) (workspaceRow, error) {
	var w workspaceRow
	err := sqlx.GetContext(ctx, q, &w, qWorkspace, id)
	return w, pg.MapError(err)
}

// renameWorkspace sets the name and returns the row (404 when unknown).
func (store) renameWorkspace(ctx context.Context, q sqlx.ExtContext, id, name string) (workspaceRow, error) {
	var w workspaceRow
	err := sqlx.GetContext(ctx, q, &w, qRenameWorkspace, id, name)
	return w, pg.MapError(err)
}

func (store) memberCount(ctx context.Context, q sqlx.ExtContext, workspaceID string) (int, error) {
	var n int
	err := sqlx.GetContext(ctx, q, &n, qMemberCount, workspaceID)
	return n, err
}

// Memberships.
const (
	qInsertMember = `
INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, $3)`

	qAddMemberIfAbsent = qInsertMember + `
ON CONFLICT (workspace_id, user_id) DO NOTHING`

	qMemberships = `
SELECT m.workspace_id, w.name, w.slug, w.plan, m.role, m.joined_at
FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
WHERE m.user_id = $1
ORDER BY m.joined_at, m.workspace_id`

	qMembership = `
SELECT m.workspace_id, w.name, w.slug, w.plan, m.role, m.joined_at
FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
WHERE m.user_id = $1 AND m.workspace_id = $2`

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

	qIsMemberByEmail = `
SELECT EXISTS (
  SELECT 1 FROM workspace_members m JOIN users u ON u.id = m.user_id
  WHERE m.workspace_id = $1 AND u.email = $2)`

	// Locks every owner row of the workspace so that two concurrent demotions cannot both
	// pass the last-owner check.
	qLockOwners = `
SELECT user_id FROM workspace_members WHERE workspace_id = $1 AND role = 'OWNER' FOR UPDATE`

	// The caller's own membership, re-read inside an owner action's transaction: FOR SHARE
	// waits for a concurrent demotion or removal (which lock the row FOR UPDATE) to commit.
	qCallerRole = `
SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2 FOR SHARE`

	qSetRole = `UPDATE workspace_members SET role = $3 WHERE workspace_id = $1 AND user_id = $2`

	qDeleteMember = `DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`

	// The addresses told about handoffs: the workspace's owners and admins.
	qNotifyAddresses = `
SELECT u.email FROM workspace_members m JOIN users u ON u.id = m.user_id
WHERE m.workspace_id = $1 AND m.role IN ('OWNER', 'ADMIN')
ORDER BY m.joined_at, m.user_id`

	// The addresses of billing notices: the workspace's owners.
	qOwnerAddresses = `
SELECT u.email FROM workspace_members m JOIN users u ON u.id = m.user_id
WHERE m.workspace_id = $1 AND m.role = 'OWNER'
ORDER BY m.joined_at, m.user_id`
)

// insertMember adds userID to the workspace with role (a unique violation when present).
func (store) insertMember(ctx context.Context, q sqlx.ExtContext, workspaceID, userID string, role authn.Role) error {
	return exec(ctx, q, qInsertMember, workspaceID, userID, string(role))
}

// addMemberIfAbsent adds userID with role unless already a member (whose role then stays).
func (store) addMemberIfAbsent(ctx context.Context, q sqlx.ExtContext, workspaceID, userID, role string) error {
	return exec(ctx, q, qAddMemberIfAbsent, workspaceID, userID, role)
}

// memberships are the user's workspaces, oldest membership first.
func (store) memberships(ctx context.Context, q sqlx.ExtContext, userID string) ([]membershipRow, error) {
	return selectAll[membershipRow](ctx, q, qMemberships, userID)
}

// membership is the user's membership of the workspace (404, pg.IsNoRows, when none).
func (store) membership(ctx context.Context, q sqlx.ExtContext, userID, workspaceID string) (membershipRow, error) {
	var m membershipRow
	err := sqlx.GetContext(ctx, q, &m, qMembership, userID, workspaceID)
	return m, pg.MapError(err)
}

// members lists the workspace's members, oldest first.
func (store) members(ctx context.Context, q sqlx.ExtContext, workspaceID string) ([]memberRow, error) {
	return selectAll[memberRow](ctx, q, qMembers, workspaceID)
}

// memberForUpdate locks and reads a member of the workspace (404 "Member not found").
func (store) memberForUpdate(ctx context.Context, q sqlx.ExtContext, workspaceID, userID string) (memberRow, error) {
	var m memberRow
	err := sqlx.GetContext(ctx, q, &m, qMemberForUpdate, workspaceID, userID)
	if pg.IsNoRows(err) {
		return m, apperr.NotFoundf("Member")
	}
	return m, err
}

func (store) isMemberByEmail(ctx context.Context, q sqlx.ExtContext, workspaceID, email string) (bool, error) {
	var ok bool
	err := sqlx.GetContext(ctx, q, &ok, qIsMemberByEmail, workspaceID, email)
	return ok, err
}

// lockOwners locks the workspace's OWNER rows, always in the same order, and returns their
// user ids.
func (store) lockOwners(ctx context.Context, q sqlx.ExtContext, workspaceID string) ([]string, error) {
	return selectAll[string](ctx, q, qLockOwners, workspaceID)
}

func (store) setRole(ctx context.Context, q sqlx.ExtContext, workspaceID, userID string, role authn.Role) error {
	return exec(ctx, q, qSetRole, workspaceID, userID, string(role))
}

func (store) deleteMember(ctx context.Context, q sqlx.ExtContext, workspaceID, userID string) error {
	return exec(ctx, q, qDeleteMember, workspaceID, userID)
}

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

// notifyAddresses are the e-mail addresses of the workspace's owners and admins, oldest
// membership first; never nil.
func (store) notifyAddresses(ctx context.Context, q sqlx.QueryerContext, workspaceID string) ([]string, error) {
	return selectAll[string](ctx, q, qNotifyAddresses, workspaceID)
}

// ownerAddresses are the e-mail addresses of the workspace's owners, oldest membership
// first; never nil.
func (store) ownerAddresses(ctx context.Context, q sqlx.QueryerContext, workspaceID string) ([]string, error) {
	return selectAll[string](ctx, q, qOwnerAddresses, workspaceID)
}
