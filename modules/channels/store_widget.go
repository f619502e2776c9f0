package channels

import (
	"context"

	"github.com/jmoiron/sqlx"
)

// qRenameCustomer records the name a returning widget visitor gave.
const qRenameCustomer = `
UPDATE conversations SET customer_name = $3, updated_at = now()
WHERE workspace_id = $1 AND id = $2 AND customer_name IS DISTINCT FROM $3`

func (store) renameCustomer(ctx context.Context, q sqlx.ExtContext, ws, id, name string) error {
	_, err := q.ExecContext(ctx, qRenameCustomer, ws, id, name)
	return err
}
