// Package pg opens the Postgres pool (sqlx over lib/pq), owns transactions (InTx), maps
// Postgres errors to application errors and reports slow queries.
package pg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Options configures the pool.
type Options struct {
	URL           string        // without connection_limit / pool_timeout
	MaxConns      int           // connection_limit
	PoolTimeout   time.Duration // pool_timeout: the wait for a free connection in InTx
	SlowThreshold time.Duration // default 500 ms
	Logger        *slog.Logger
	// OnSlow is called for every statement slower than SlowThreshold (after the log line);
	// main wires it to Sentry. Optional.
	OnSlow func(ctx context.Context, query string, d time.Duration)
}

// DB is the application's pool. It embeds *sqlx.DB, so stores take it as sqlx.ExtContext.
type DB struct {
	*sqlx.DB
	poolTimeout time.Duration
}

// Open connects, sizes the pool and checks the connection with a ping.
func Open(ctx context.Context, o Options) (*DB, error) {
	conn, err := pq.NewConnector(o.URL)
	if err != nil {
		return nil, fmt.Errorf("pg: DATABASE_URL: %w", err)
	}
	if o.SlowThreshold == 0 {
		o.SlowThreshold = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	sqlDB := sql.OpenDB(&slowConnector{Connector: conn, threshold: o.SlowThreshold, log: o.Logger, onSlow: o.OnSlow})
	if o.MaxConns <= 0 {
		o.MaxConns = 10
	}
	sqlDB.SetMaxOpenConns(o.MaxConns)
	sqlDB.SetMaxIdleConns(o.MaxConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	sqlDB.SetConnMaxLifetime(time.Hour)
	db := &DB{DB: sqlx.NewDb(sqlDB, "postgres"), poolTimeout: o.PoolTimeout}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("pg: cannot reach the database: %w", err)
	}
	return db, nil
}

// ErrPoolTimeout is returned by InTx when no connection became free within pool_timeout.
var ErrPoolTimeout = errors.New("pg: timed out waiting for a free database connection (pool_timeout)")

// InTx runs fn in a transaction, committing when it returns nil and rolling back otherwise
// (also on panic, which is re-raised). The wait for a free connection is bounded by the
// pool_timeout of DATABASE_URL. A commit failure is returned as an error: the caller must
// never assume the work is stored when InTx fails.
func (db *DB) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return InTxOpts(ctx, db, nil, fn)
}

// InTxOpts is InTx with transaction options (isolation, read-only).
func InTxOpts(ctx context.Context, db *DB, opts *sql.TxOptions, fn func(tx *sqlx.Tx) error) (err error) {
	conn, err := db.acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("pg: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("pg: rollback: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("pg: commit: %w", MapError(err))
	}
	return nil
}

// acquire takes a connection from the pool, waiting at most pool_timeout.
func (db *DB) acquire(ctx context.Context) (*sqlx.Conn, error) {
	if db.poolTimeout <= 0 {
		return db.Connx(ctx)
	}
	wctx, cancel := context.WithTimeout(ctx, db.poolTimeout)
	defer cancel()
	conn, err := db.Connx(wctx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, ErrPoolTimeout
		}
		return nil, err
	}
	return conn, nil
}
