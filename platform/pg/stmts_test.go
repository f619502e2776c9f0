package pg_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

func oneConn(t *testing.T) *pg.DB {
	t.Helper()
	db, err := pg.Open(context.Background(), pg.Options{URL: pgtest.URL(t), MaxConns: 1, PoolTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func preparedCount(t *testing.T, db *pg.DB, like string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE $1`, like); err != nil {
		t.Fatal(err)
	}
	return n
}

// A query with arguments is prepared once per connection and reused; one without arguments
// is never prepared.
func TestQueriesWithArgumentsArePreparedOnce(t *testing.T) {
	t.Parallel()
	db, ctx := oneConn(t), context.Background()
	for i := range 5 {
		var got int
		if err := db.GetContext(ctx, &got, `SELECT $1::int + 1 /* stmt-reuse */`, i); err != nil || got != i+1 {
			t.Fatalf("query %d: %d %v", i, got, err)
		}
		if _, err := db.ExecContext(ctx, `SELECT $1::int /* stmt-exec */`, i); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `SELECT 1 /* stmt-noargs */`); err != nil {
			t.Fatal(err)
		}
	}
	// The count's own query is prepared too, hence the narrow patterns.
	if n := preparedCount(t, db, "%stmt-reuse */"); n != 1 {
		t.Fatalf("%d prepared statements of the query, want 1", n)
	}
	if n := preparedCount(t, db, "%stmt-exec */"); n != 1 {
		t.Fatalf("%d prepared statements of the exec, want 1", n)
	}
	if n := preparedCount(t, db, "%stmt-noargs */"); n != 0 {
		t.Fatalf("a query without arguments was prepared (%d)", n)
	}
}

// A schema change that alters a prepared query's result type: outside a transaction the
// query runs again unprepared and succeeds; inside one the error stands.
func TestStalePreparedStatement(t *testing.T) {
	t.Parallel()
	db, ctx := oneConn(t), context.Background()
	table := "stale_" + strings.ReplaceAll(t.Name(), "/", "_")
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+table+` (id int PRIMARY KEY, v text)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), `DROP TABLE `+table) })
	if _, err := db.ExecContext(ctx, `INSERT INTO `+table+` VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	q := `SELECT * FROM ` + table + ` WHERE id = $1`
	var first struct {
		ID int
		V  string
	}
	if err := db.GetContext(ctx, &first, q, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN w int`); err != nil {
		t.Fatal(err)
	}
	cols, err := columns(ctx, db, q)
	if err != nil {
		t.Fatalf("after ALTER TABLE, outside a transaction: %v", err)
	}
	if len(cols) != 3 {
		t.Fatalf("columns %v, want the new three", cols)
	}
	// Prepared again (the stale one was forgotten), then made stale again.
	if _, err := columns(ctx, db, q); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN x int`); err != nil {
		t.Fatal(err)
	}
	err = db.InTx(ctx, func(tx *sqlx.Tx) error {
		var v struct {
			ID   int
			V    string
			W, X *int
		}
		return tx.GetContext(ctx, &v, q, 1)
	})
	if err == nil || !strings.Contains(err.Error(), "cached plan") {
		t.Fatalf("stale statement in a transaction: %v, want the cached-plan error", err)
	}
	// The statement was forgotten: the next use prepares it afresh.
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM `+table+` WHERE id = $1`, 1); err != nil || n != 1 {
		t.Fatalf("after the failed transaction: %d %v", n, err)
	}
	if _, err := columns(ctx, db, q); err != nil {
		t.Fatalf("the stale statement again: %v", err)
	}
}

// columns runs q with the argument 1 and returns its result's columns.
func columns(ctx context.Context, db *pg.DB, q string) ([]string, error) {
	rows, err := db.QueryxContext(ctx, q, 1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rows.Columns()
}

// In a transaction, a query that cannot be prepared reports its own error, not "current
// transaction is aborted".
func TestPrepareErrorInTransaction(t *testing.T) {
	t.Parallel()
	db, ctx := oneConn(t), context.Background()
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `SELECT no_such_column FROM pg_class WHERE oid = $1`, 1)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "no_such_column") {
		t.Fatalf("error %v, want the undefined column", err)
	}
}
