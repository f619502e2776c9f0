package backup

import (
	"context"
	"database/sql"
	"time"

	"github.com/lib/pq"
)

// qDatabaseSize is the on-disk size of the connected database, tables, indexes and TOAST
// included: an upper estimate of its custom-format dump.
const qDatabaseSize = `SELECT pg_database_size(current_database())`

// databaseSize returns the size of the database at url in bytes (qDatabaseSize) over one
// short-lived connection, or 0 when it cannot be had within 10 s: the caller then sizes
// the upload without it, and pg_dump reports any real connection problem.
func databaseSize(ctx context.Context, url string) int64 {
	conn, err := pq.NewConnector(url)
	if err != nil {
		return 0
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var n int64
	if err := db.QueryRowContext(ctx, qDatabaseSize).Scan(&n); err != nil {
		return 0
	}
	return n
}
