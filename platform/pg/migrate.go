package pg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/pressly/goose/v3"
)

// migrateLockKey is the advisory lock every `axon migrate` and `rollback-resolve` takes, so
// that two replicas starting at once run one after the other instead of racing.
const migrateLockKey int64 = 0x6178_6f6e_6d69_67 // "axonmig"

// Migrator runs the goose migrations embedded from db/migrations plus River's own
// migrations (Extra), under a Postgres session advisory lock.
type Migrator struct {
	db    *DB
	fsys  fs.FS
	extra func(ctx context.Context, db *sql.DB) ([]int, error)
	out   io.Writer
}

// NewMigrator builds a migrator. fsys holds the .sql files at its root. extra runs after the
// goose migrations (River's migrations); it may be nil.
func NewMigrator(db *DB, fsys fs.FS, extra func(context.Context, *sql.DB) ([]int, error), out io.Writer) *Migrator {
	return &Migrator{db: db, fsys: fsys, extra: extra, out: out}
}

func (m *Migrator) provider() (*goose.Provider, error) {
	return goose.NewProvider(goose.DialectPostgres, m.db.DB.DB, m.fsys, goose.WithDisableGlobalRegistry(true))
}

// withLock runs fn while holding the migration advisory lock on a dedicated connection.
func (m *Migrator) withLock(ctx context.Context, fn func(p *goose.Provider) error) error {
	// The lock holds one connection while goose and River migrate on others, so a pool of
	// one (connection_limit=1) would wait for itself forever.
	if m.db.Stats().MaxOpenConnections == 1 {
		m.db.SetMaxOpenConns(2)
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Poll with pg_try_advisory_lock instead of blocking in pg_advisory_lock: a session
	// blocked inside a statement holds a snapshot, and CREATE INDEX CONCURRENTLY in the
	// lock holder's migration would wait for that snapshot forever (a deadlock).
	waited := false
	for {
		var got bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, migrateLockKey).Scan(&got); err != nil {
			return fmt.Errorf("migrate: advisory lock: %w", err)
		}
		if got {
			break
		}
		if !waited {
			fmt.Fprintln(m.out, "migrate: another migration holds the lock; waiting")
			waited = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockKey)
	}()
	p, err := m.provider()
	if err != nil {
		return err
	}
	return fn(p)
}

// Up applies every pending migration, then River's.
func (m *Migrator) Up(ctx context.Context) error {
	return m.withLock(ctx, func(p *goose.Provider) error {
		res, err := p.Up(ctx)
		m.report(res)
		if err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		if len(res) == 0 {
			fmt.Fprintln(m.out, "migrate: schema up to date")
		}
		if m.extra == nil {
			return nil
		}
		versions, err := m.extra(ctx, m.db.DB.DB)
		if err != nil {
			return fmt.Errorf("migrate up (river): %w", err)
		}
		if len(versions) > 0 {
			fmt.Fprintf(m.out, "migrate: river migrations applied: %v\n", versions)
		}
		return nil
	})
}

// Down rolls back the newest goose migration.
func (m *Migrator) Down(ctx context.Context) error {
	return m.withLock(ctx, func(p *goose.Provider) error {
		r, err := p.Down(ctx)
		if r != nil {
			m.report([]*goose.MigrationResult{r})
		}
		if errors.Is(err, goose.ErrNoNextVersion) {
			fmt.Fprintln(m.out, "migrate: nothing to roll back")
			return nil
		}
		return err
	})
}

// Redo rolls back the newest migration and applies it again.
func (m *Migrator) Redo(ctx context.Context) error {
	return m.withLock(ctx, func(p *goose.Provider) error {
		r, err := p.Down(ctx)
		if err != nil {
			return err
		}
		m.report([]*goose.MigrationResult{r})
		r, err = p.UpByOne(ctx)
		if r != nil {
			m.report([]*goose.MigrationResult{r})
		}
		return err
	})
}

// Status prints every migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) error {
	p, err := m.provider()
	if err != nil {
		return err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return err
	}
	for _, s := range st {
		when := "pending"
		if s.State == goose.StateApplied {
			when = "applied " + s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(m.out, "%-50s %s\n", path.Base(s.Source.Path), when)
	}
	return nil
}

// RollbackResolve marks version as not applied without running SQL (after a failed or
// manually reverted migration), or with runDown runs its down migration. It prints what it
// changed and returns an error when the version is unknown.
func (m *Migrator) RollbackResolve(ctx context.Context, version int64, runDown bool) error {
	return m.withLock(ctx, func(p *goose.Provider) error {
		var src *goose.Source
		for _, s := range p.ListSources() {
			if s.Version == version {
				src = s
			}
		}
		if src == nil {
			return fmt.Errorf("rollback-resolve: no migration with version %d", version)
		}
		name := path.Base(src.Path)
		if runDown {
			r, err := p.ApplyVersion(ctx, version, false)
			if errors.Is(err, goose.ErrNotApplied) {
				fmt.Fprintf(m.out, "rollback-resolve: %s is not applied; nothing changed\n", name)
				return nil
			}
			if err != nil {
				return fmt.Errorf("rollback-resolve: down %s: %w", name, err)
			}
			fmt.Fprintf(m.out, "rollback-resolve: ran the down migration of %s in %s and marked it not applied\n", name, r.Duration.Round(1e6))
			return nil
		}
		res, err := m.db.ExecContext(ctx, `DELETE FROM goose_db_version WHERE version_id = $1`, version)
		if err != nil {
			return fmt.Errorf("rollback-resolve: %w", err)
		}
		n, _ := res.RowsAffected()
		if n == 0 {
			fmt.Fprintf(m.out, "rollback-resolve: %s is not applied; nothing changed\n", name)
			return nil
		}
		fmt.Fprintf(m.out, "rollback-resolve: marked %s as not applied (removed %d row(s) from goose_db_version; no SQL run)\n", name, n)
		return nil
	})
}

func (m *Migrator) report(res []*goose.MigrationResult) {
	for _, r := range res {
		if r == nil || r.Source == nil {
			continue
		}
		status := "ok"
		if r.Error != nil {
			status = "FAILED: " + r.Error.Error()
		}
		fmt.Fprintf(m.out, "migrate: %s %s (%s) %s\n", r.Direction, path.Base(r.Source.Path), r.Duration.Round(1e6), status)
	}
}
