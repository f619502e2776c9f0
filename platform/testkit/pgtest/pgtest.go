// Package pgtest gives tests a real Postgres (with pgvector) that is migrated and isolated.
// A template database is migrated once per migration set (named by a hash of the embedded
// migrations); each test process clones it into its own database, so packages run in
// parallel without seeing each other's rows, and tests inside a package isolate themselves
// by creating their own workspaces.
package pgtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/lib/pq" // the admin connection uses database/sql directly

	"github.com/axonhq/axon/db"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
)

// BaseURL is the test server: $DATABASE_URL when set, else the local axon_test database.
func BaseURL() string {
	if v := os.Getenv("DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/axon_test?sslmode=disable"
}

// WithDatabase returns base with its database name replaced and pool parameters removed.
func WithDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("connection_limit")
	q.Del("pool_timeout")
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

var (
	shared     *pg.DB
	sharedURL  string
	sharedErr  error
	sharedOnce sync.Once
)

// DB returns this test process's migrated database, shared by the package's tests.
func DB(t testing.TB) *pg.DB {
	t.Helper()
	sharedOnce.Do(func() {
		name := fmt.Sprintf("axon_t_%d_%s", os.Getpid(), strings.ReplaceAll(uuid.NewString()[:8], "-", ""))
		sharedURL, sharedErr = clone(name)
		if sharedErr == nil {
			shared, sharedErr = pg.Open(context.Background(), pg.Options{URL: sharedURL, MaxConns: 20, PoolTimeout: 30 * time.Second})
		}
	})
	if sharedErr != nil {
		t.Fatalf("pgtest: %v", sharedErr)
	}
	return shared
}

// URL returns the connection URL of DB's database (for code that opens its own pool).
func URL(t testing.TB) string {
	DB(t)
	return sharedURL
}

// Fresh creates an empty database (only the vector extension is available, nothing migrated)
// and drops it when the test ends. It returns the URL.
func Fresh(t testing.TB) string {
	t.Helper()
	admin := adminDB(t)
	name := fmt.Sprintf("axon_t_%d_f%s", os.Getpid(), strings.ReplaceAll(uuid.NewString()[:8], "-", ""))
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("pgtest: create %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
		admin.Close()
	})
	return WithDatabase(BaseURL(), name)
}

func adminDB(t testing.TB) *sql.DB {
	a, err := sql.Open("postgres", WithDatabase(BaseURL(), "postgres"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return a
}

// clone makes sure the template for the current migrations exists, then copies it.
func clone(name string) (string, error) {
	ctx := context.Background()
	admin, err := sql.Open("postgres", WithDatabase(BaseURL(), "postgres"))
	if err != nil {
		return "", err
	}
	defer admin.Close()
	dropOrphans(admin)
	tpl := "axon_tpl_" + migrationsHash()
	// One process builds the template; the others wait on the lock.
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("connect to test server %s: %w (run `make setup`)", BaseURL(), err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(4242)`); err != nil {
		return "", err
	}
	defer conn.ExecContext(ctx, `SELECT pg_advisory_unlock(4242)`) //nolint:errcheck
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, tpl).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if err := buildTemplate(ctx, conn, tpl); err != nil {
			return "", err
		}
	}
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE `+tpl); err != nil {
		return "", fmt.Errorf("clone template: %w", err)
	}
	return WithDatabase(BaseURL(), name), nil
}

func buildTemplate(ctx context.Context, conn *sql.Conn, tpl string) error {
	tmp := tpl + "_build"
	_, _ = conn.ExecContext(ctx, `DROP DATABASE IF EXISTS `+tmp+` WITH (FORCE)`)
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+tmp); err != nil {
		return err
	}
	d, err := pg.Open(ctx, pg.Options{URL: WithDatabase(BaseURL(), tmp), MaxConns: 4})
	if err != nil {
		return err
	}
	sub, _ := fs.Sub(db.Migrations, "migrations")
	err = pg.NewMigrator(d, sub, queue.MigrateUp, io.Discard).Up(ctx)
	d.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	_, err = conn.ExecContext(ctx, `ALTER DATABASE `+tmp+` RENAME TO `+tpl)
	return err
}

// orphanNames lists the test databases (axon_t_<pid>_…) that exist now.
func orphanNames(admin *sql.DB) ([]string, error) {
	rows, err := admin.Query(`SELECT datname FROM pg_database WHERE datname LIKE 'axon\_t\_%'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// dropOrphans removes databases left by test processes that no longer run.
func dropOrphans(admin *sql.DB) {
	names, err := orphanNames(admin)
	if err != nil {
		return
	}
	for _, n := range names {
		var pid int
		if _, err := fmt.Sscanf(strings.TrimPrefix(n, "axon_t_"), "%d_", &pid); err != nil || pid <= 0 {
			continue
		}
		if syscall.Kill(pid, 0) == nil {
			continue
		}
		_, _ = admin.Exec(`DROP DATABASE IF EXISTS ` + n + ` WITH (FORCE)`)
	}
}

func migrationsHash() string {
	h := sha256.New()
	entries, _ := fs.ReadDir(db.Migrations, "migrations")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		b, _ := fs.ReadFile(db.Migrations, "migrations/"+n)
		h.Write([]byte(n))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
