package queue

import (
	"context"
	"database/sql"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

// MigrateUp applies River's own migrations, each version in its own transaction (some add
// enum values that later statements of the same version use). The caller holds the
// migration advisory lock.
func MigrateUp(ctx context.Context, db *sql.DB) (applied []int, err error) {
	m, err := rivermigrate.New(riverdatabasesql.New(db), nil)
	if err != nil {
		return nil, err
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, err
	}
	for _, v := range res.Versions {
		applied = append(applied, v.Version)
	}
	return applied, nil
}
