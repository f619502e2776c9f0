package queue

import (
	"context"
	"database/sql"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

// MigrateUp applies River's own migrations inside tx (the caller holds the advisory lock).
func MigrateUp(ctx context.Context, tx *sql.Tx) (applied []int, err error) {
	m, err := rivermigrate.New(riverdatabasesql.New(nil), nil)
	if err != nil {
		return nil, err
	}
	res, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, err
	}
	for _, v := range res.Versions {
		applied = append(applied, v.Version)
	}
	return applied, nil
}
