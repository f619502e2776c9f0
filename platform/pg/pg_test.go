package pg_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/testkit/pgtest"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
)

// table creates a uniquely named table for one test and drops it afterwards.
func table(t *testing.T, db *pg.DB, columns string) string {
	t.Helper()
	name := "t_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if _, err := db.Exec(`CREATE TABLE ` + name + ` (` + columns + `)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec(`DROP TABLE IF EXISTS ` + name) })
	return name
}

func count(t *testing.T, db *pg.DB, table string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM `+table); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInTxCommits(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	tb := table(t, db, `k int PRIMARY KEY`)
	err := db.InTx(context.Background(), func(tx *sqlx.Tx) error {
		_, err := tx.Exec(`INSERT INTO ` + tb + ` VALUES (1), (2)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, tb); n != 2 {
		t.Fatalf("stored %d rows, want 2", n)
	}
}

func TestInTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	tb := table(t, db, `k int PRIMARY KEY`)
	boom := errors.New("boom")
	err := db.InTx(context.Background(), func(tx *sqlx.Tx) error {
		if _, err := tx.Exec(`INSERT INTO ` + tb + ` VALUES (1)`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want the callback's error", err)
	}
	if n := count(t, db, tb); n != 0 {
		t.Fatalf("stored %d rows after a rollback", n)
	}
}

func TestInTxRollsBackAndRepanics(t *testing.T) {
	t.Parallel()
	// One connection only: a leaked connection or open transaction would block the next InTx.
	db, err := pg.Open(context.Background(), pg.Options{URL: pgtest.URL(t), MaxConns: 1, PoolTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tb := table(t, db, `k int PRIMARY KEY`)
	func() {
		defer func() {
			if p := recover(); p != "kaboom" {
				t.Errorf("recovered %v, want the original panic value", p)
			}
		}()
		_ = db.InTx(context.Background(), func(tx *sqlx.Tx) error {
			if _, err := tx.Exec(`INSERT INTO ` + tb + ` VALUES (1)`); err != nil {
				return err
			}
			panic("kaboom")
		})
		t.Error("InTx returned instead of re-panicking")
	}()
	if n := count(t, db, tb); n != 0 {
		t.Fatalf("stored %d rows after a panic", n)
	}
	if err := db.InTx(context.Background(), func(tx *sqlx.Tx) error { return nil }); err != nil {
		t.Fatalf("the pool's only connection was not released after the panic: %v", err)
	}
}

// TestInTxCommitFailure is the path a caller must never mistake for success: every statement
// succeeds, then COMMIT fails on a deferred constraint.
func TestInTxCommitFailure(t *testing.T) {
	db := pgtest.DB(t)
	parent := table(t, db, `id int PRIMARY KEY`)
	uniq := table(t, db, `k int, CONSTRAINT `+"u_"+parent+` UNIQUE (k) DEFERRABLE INITIALLY DEFERRED`)
	child := table(t, db, `parent_id int REFERENCES `+parent+`(id) DEFERRABLE INITIALLY DEFERRED`)

	t.Run("deferred unique", func(t *testing.T) {
		ran := false
		err := db.InTx(context.Background(), func(tx *sqlx.Tx) error {
			if _, err := tx.Exec(`INSERT INTO ` + uniq + ` VALUES (1), (1)`); err != nil {
				return fmt.Errorf("insert should only fail at commit: %w", err)
			}
			ran = true
			return nil
		})
		if !ran {
			t.Fatal("the statements failed before COMMIT; the test does not reach the commit path")
		}
		if err == nil {
			t.Fatal("InTx returned nil although COMMIT failed")
		}
		if !pg.IsUniqueViolation(err) || apperr.CodeOf(err) != apperr.Conflict {
			t.Errorf("commit error = %v (code %s), want a mapped unique violation", err, apperr.CodeOf(err))
		}
		if n := count(t, db, uniq); n != 0 {
			t.Errorf("stored %d rows although the commit failed", n)
		}
	})
	t.Run("deferred foreign key", func(t *testing.T) {
		err := db.InTx(context.Background(), func(tx *sqlx.Tx) error {
			_, err := tx.Exec(`INSERT INTO ` + child + ` VALUES (42)`)
			return err
		})
		if err == nil || pg.Code(err) != pg.CodeForeignKeyViolation {
			t.Fatalf("InTx = %v, want the deferred FK violation from COMMIT", err)
		}
		if n := count(t, db, child); n != 0 {
			t.Errorf("stored %d rows although the commit failed", n)
		}
	})
}

func TestInTxPoolTimeout(t *testing.T) {
	db, err := pg.Open(context.Background(), pg.Options{URL: pgtest.URL(t), MaxConns: 1, PoolTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	held, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	called := false
	err = db.InTx(context.Background(), func(tx *sqlx.Tx) error { called = true; return nil })
	waited := time.Since(start)
	if !errors.Is(err, pg.ErrPoolTimeout) {
		t.Fatalf("InTx = %v, want ErrPoolTimeout", err)
	}
	if called {
		t.Error("the callback ran without a connection")
	}
	if waited < 150*time.Millisecond {
		t.Errorf("gave up after %s, before pool_timeout", waited)
	}
	held.Close()
	if err := db.InTx(context.Background(), func(tx *sqlx.Tx) error { return nil }); err != nil {
		t.Fatalf("InTx after the connection came back: %v", err)
	}
	// A caller's own cancellation is not reported as a pool timeout.
	held, _ = db.Conn(context.Background())
	defer held.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := db.InTx(ctx, func(tx *sqlx.Tx) error { return nil }); errors.Is(err, pg.ErrPoolTimeout) || err == nil {
		t.Errorf("InTx with the caller's deadline = %v, want the context error", err)
	}
}

type slowRecorder struct {
	mu      sync.Mutex
	queries []string
}

func (r *slowRecorder) record(_ context.Context, q string, _ time.Duration) {
	r.mu.Lock()
	r.queries = append(r.queries, q)
	r.mu.Unlock()
}

func (r *slowRecorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.queries...)
}

func TestSlowQueryHook(t *testing.T) {
	t.Parallel()
	rec := &slowRecorder{}
	var logs syncbuf.Buffer
	db, err := pg.Open(context.Background(), pg.Options{
		URL: pgtest.URL(t), MaxConns: 2, SlowThreshold: 50 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), OnSlow: rec.record,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var one int
	if err := db.Get(&one, `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	if q := rec.get(); len(q) != 0 {
		t.Fatalf("fast query recorded as slow: %q", q)
	}
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"query without args", func() error { _, err := db.Exec(`SELECT pg_sleep(0.1)`); return err }, "SELECT pg_sleep(0.1)"},
		{"select rows without args", func() error {
			var s string
			return db.Get(&s, `SELECT pg_sleep(0.1)::text`)
		}, "SELECT pg_sleep(0.1)::text"},
		{"select rows with args", func() error {
			var s string
			return db.Get(&s, `SELECT pg_sleep($1)::text`, 0.1)
		}, "SELECT pg_sleep($1)::text"},
		{"in a transaction", func() error {
			return db.InTx(context.Background(), func(tx *sqlx.Tx) error {
				_, err := tx.Exec(`SELECT pg_sleep(0.1) /* tx */`)
				return err
			})
		}, "SELECT pg_sleep(0.1) /* tx */"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.get())
			if err := tc.run(); err != nil {
				t.Fatal(err)
			}
			got := rec.get()[before:]
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("recorded %q, want [%q]", got, tc.want)
			}
		})
	}
	if !strings.Contains(logs.String(), `"msg":"slow query"`) || !strings.Contains(logs.String(), "pg_sleep") {
		t.Errorf("no slow-query log line: %s", logs.String())
	}
}

func TestCopyInThroughWrappedDriver(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	tb := table(t, db, `id int, name text`)
	err := db.InTx(context.Background(), func(tx *sqlx.Tx) error {
		st, err := tx.Prepare(`COPY ` + tb + ` (id, name) FROM STDIN`)
		if err != nil {
			return err
		}
		defer st.Close() // a no-op after the checked Close below
		for i, n := range []string{"a", "b", "c"} {
			if _, err := st.Exec(i+1, n); err != nil {
				return err
			}
		}
		if _, err := st.Exec(); err != nil {
			return err
		}
		return st.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := db.Select(&names, `SELECT name FROM `+tb+` ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Fatalf("copied %v", names)
	}
}

func TestMapError(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	tb := table(t, db, `k int PRIMARY KEY, n int CHECK (n > 0)`)
	if _, err := db.Exec(`INSERT INTO ` + tb + ` VALUES (1, 1)`); err != nil {
		t.Fatal(err)
	}
	_, dup := db.Exec(`INSERT INTO ` + tb + ` VALUES (1, 1)`)
	_, check := db.Exec(`INSERT INTO ` + tb + ` VALUES (2, -1)`)
	_, badText := db.Exec(`SELECT 'not-a-uuid'::uuid`)
	var x int
	noRows := db.Get(&x, `SELECT k FROM `+tb+` WHERE k = 99`)
	other := errors.New("plain")

	cases := []struct {
		name string
		err  error
		want apperr.Code
	}{
		{"unique violation", dup, apperr.Conflict},
		{"check violation", check, apperr.Validation},
		{"invalid text", badText, apperr.Validation},
		{"no rows", noRows, apperr.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := pg.MapError(tc.err)
			if apperr.CodeOf(m) != tc.want {
				t.Fatalf("MapError(%v) = %v, want %s", tc.err, m, tc.want)
			}
			if !errors.Is(m, tc.err) {
				t.Errorf("the cause is not kept for the log")
			}
		})
	}
	if !pg.IsUniqueViolation(dup, tb+"_pkey") || pg.IsUniqueViolation(dup, "other") || !pg.IsNoRows(noRows) {
		t.Error("IsUniqueViolation/IsNoRows helpers disagree with the error")
	}
	if pg.MapError(other) != other || pg.MapError(nil) != nil {
		t.Error("MapError must pass unknown errors and nil through")
	}
	already := apperr.E(apperr.Forbidden, "x")
	if pg.MapError(already) != error(already) {
		t.Error("MapError must keep application errors")
	}
	if !errors.Is(pg.MapError(sql.ErrNoRows), sql.ErrNoRows) {
		t.Error("no rows cause lost")
	}
}
