package auth

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/pg"
)

// Refresh tokens and e-mail tokens. Only a token's sha256 (hashToken) is ever stored.

type refreshRow struct {
	ID          string     `db:"id"`
	UserID      string     `db:"user_id"`
	WorkspaceID string     `db:"workspace_id"`
	FamilyID    string     `db:"family_id"`
	ExpiresAt   time.Time  `db:"expires_at"`
	RevokedAt   *time.Time `db:"revoked_at"`
	ReplacedBy  *string    `db:"replaced_by"`
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

// Refresh tokens.
const (
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

	qRevokeUserTokens = `
UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`

	// The refresh token issued together with an access token (its jti), for the family a
	// switched or invitation session joins.
	qSessionFamily = `
SELECT family_id FROM refresh_tokens WHERE id = $1 AND user_id = $2`

	qFamilyLive = `
SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL AND expires_at > now())`
)

// insertRefresh stores a refresh token (by its hash) in family.
func (store) insertRefresh(ctx context.Context, q sqlx.ExtContext, r refreshRow, hash string) error {
	return exec(ctx, q, qInsertRefresh, r.ID, r.UserID, r.WorkspaceID, r.FamilyID, hash, r.ExpiresAt)
}

// refreshForUpdate locks the refresh token with hash; errBadRefresh when unknown.
func (store) refreshForUpdate(ctx context.Context, q sqlx.ExtContext, hash string) (refreshRow, error) {
	var r refreshRow
	err := sqlx.GetContext(ctx, q, &r, qRefreshForUpdate, hash)
	if pg.IsNoRows(err) {
		return r, errBadRefresh
	}
	return r, err
}

// rotateRefresh revokes token id, recording the token that replaced it.
func (store) rotateRefresh(ctx context.Context, q sqlx.ExtContext, id, replacedBy string) error {
	return exec(ctx, q, qRotateRefresh, id, replacedBy)
}

func (store) revokeFamily(ctx context.Context, q sqlx.ExtContext, family string) error {
	return exec(ctx, q, qRevokeFamily, family)
}

// revokeRefresh revokes the token with hash (nothing when unknown or already revoked).
func (store) revokeRefresh(ctx context.Context, q sqlx.ExtContext, hash string) error {
	return exec(ctx, q, qRevokeRefresh, hash)
}

// revokeUserWorkspace revokes the user's refresh tokens for one workspace.
func (store) revokeUserWorkspace(ctx context.Context, q sqlx.ExtContext, userID, workspaceID string) error {
	return exec(ctx, q, qRevokeUserWorkspace, userID, workspaceID)
}

// revokeUserTokens revokes every refresh token of the user.
func (store) revokeUserTokens(ctx context.Context, q sqlx.ExtContext, userID string) error {
	return exec(ctx, q, qRevokeUserTokens, userID)
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

func isUUID(s string) bool { _, err := uuid.Parse(s); return err == nil && len(s) == 36 }

// E-mail tokens.
const (
	qInsertEmailToken = `
INSERT INTO email_tokens (id, user_id, purpose, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)`

	// A new token of a purpose retires the user's earlier unused ones.
	qRetireEmailTokens = `
UPDATE email_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`

	qEmailTokenForUpdate = `
SELECT id, user_id, purpose, expires_at, used_at FROM email_tokens WHERE token_hash = $1 FOR UPDATE`

	qUseEmailToken = `UPDATE email_tokens SET used_at = now() WHERE id = $1`
)

// insertEmailToken stores a token of purpose for the user, retiring their earlier unused
// ones of that purpose.
func (st store) insertEmailToken(ctx context.Context, q sqlx.ExtContext, userID, purpose, hash string, expires time.Time) error {
	if err := st.retireEmailTokens(ctx, q, userID, purpose); err != nil {
		return err
	}
	return exec(ctx, q, qInsertEmailToken, pg.NewID(), userID, purpose, hash, expires)
}

// retireEmailTokens marks the user's unused tokens of purpose used.
func (store) retireEmailTokens(ctx context.Context, q sqlx.ExtContext, userID, purpose string) error {
	return exec(ctx, q, qRetireEmailTokens, userID, purpose)
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
