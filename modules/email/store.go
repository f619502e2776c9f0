package email

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jmoiron/sqlx"
)

const (
	qInsertEmail = `
INSERT INTO emails (id, workspace_id, "to", subject, template, data, secret, secret_key_version)
VALUES ($1, NULLIF($2, '')::uuid, $3, $4, $5, $6, $7, $8)`

	qEmail = `SELECT id, "to", template, data, status, secret, secret_key_version FROM emails WHERE id = $1`

	// Sent or failed for good: the sealed secret (a token link) is of no further use.
	qMarkSent = `
UPDATE emails SET status = 'SENT', provider_id = $2, sent_at = now(), error = NULL, secret = NULL, secret_key_version = NULL
WHERE id = $1 AND status <> 'SENT'`
	qMarkFailed = `
UPDATE emails SET status = 'FAILED', error = $2, secret = NULL, secret_key_version = NULL
WHERE id = $1 AND status = 'QUEUED'`
	qNoteError = `UPDATE emails SET error = $2 WHERE id = $1`
)

type emailRow struct {
	ID            string `db:"id"`
	To            string `db:"to"`
	Template      string `db:"template"`
	Data          []byte `db:"data"`
	Status        string `db:"status"`
	Secret        []byte `db:"secret"`
	SecretVersion *int   `db:"secret_key_version"`
}

// newEmail is one e-mail to store as QUEUED.
type newEmail struct {
	id, workspaceID, to, subject, template string
	data                                   []byte
	secret                                 []byte
	secretVersion                          *int
}

// store runs the module's SQL on the pool or the caller's transaction.
type store struct{}

// insert stores e as QUEUED.
func (store) insert(ctx context.Context, e sqlx.ExecerContext, m newEmail) error {
	_, err := e.ExecContext(ctx, qInsertEmail, m.id, m.workspaceID, m.to, m.subject, m.template, m.data, m.secret, m.secretVersion)
	return err
}

// get reads one e-mail; found is false when the id is not stored.
func (store) get(ctx context.Context, q sqlx.QueryerContext, id string) (row emailRow, found bool, err error) {
	err = sqlx.GetContext(ctx, q, &row, qEmail, id)
	if errors.Is(err, sql.ErrNoRows) {
		return row, false, nil
	}
	return row, err == nil, err
}

// markSent records the provider's id and wipes the sealed secret.
func (store) markSent(ctx context.Context, e sqlx.ExecerContext, id, providerID string) error {
	_, err := e.ExecContext(ctx, qMarkSent, id, providerID)
	return err
}

// markFailed records a failure for good (a QUEUED e-mail only) and wipes the sealed secret.
func (store) markFailed(ctx context.Context, e sqlx.ExecerContext, id, reason string) error {
	_, err := e.ExecContext(ctx, qMarkFailed, id, reason)
	return err
}

// noteError records the last attempt's error; the e-mail stays QUEUED.
func (store) noteError(ctx context.Context, e sqlx.ExecerContext, id, reason string) error {
	_, err := e.ExecContext(ctx, qNoteError, id, reason)
	return err
}
