package pg_test

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axonhq/axon/db"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/testkit/pgtest"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
)

func migrations(t *testing.T) fs.FS {
	t.Helper()
	sub, err := fs.Sub(db.Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// versions returns the embedded migration versions in order, with their file names.
func versions(t *testing.T) ([]int64, []string) {
	t.Helper()
	entries, err := fs.ReadDir(migrations(t), ".")
	if err != nil {
		t.Fatal(err)
	}
	var vs []int64
	var names []string
	for _, e := range entries {
		var v int64
		for _, r := range e.Name() {
			if r < '0' || r > '9' {
				break
			}
			v = v*10 + int64(r-'0')
		}
		vs = append(vs, v)
		names = append(names, e.Name())
	}
	return vs, names
}

// latest returns the newest embedded migration version and its file name.
func latest(t *testing.T) (int64, string) {
	t.Helper()
	vs, names := versions(t)
	return vs[len(vs)-1], names[len(names)-1]
}

func open(t *testing.T, url string) *pg.DB {
	t.Helper()
	d, err := pg.Open(context.Background(), pg.Options{URL: url, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// versionRows counts goose_db_version rows per applied version.
func versionRows(t *testing.T, d *pg.DB) map[int64]int {
	t.Helper()
	rows, err := d.Query(`SELECT version_id, count(*) FROM goose_db_version WHERE version_id > 0 GROUP BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var v int64
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		out[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func tableExists(t *testing.T, d *pg.DB, name string) bool {
	t.Helper()
	var ok bool
	if err := d.Get(&ok, `SELECT to_regclass($1) IS NOT NULL`, name); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestMigratorUpStatusRollbackResolve(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A pool of one connection (connection_limit=1) must not deadlock the migrator, which
	// holds its advisory lock on a connection of its own.
	d, err := pg.Open(ctx, pg.Options{URL: pgtest.Fresh(t), MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out syncbuf.Buffer
	m := pg.NewMigrator(d, migrations(t), queue.MigrateUp, &out)

	if err := m.Up(ctx); err != nil {
		t.Fatalf("first Up: %v\n%s", err, out.String())
	}
	first := out.String()
	if !strings.Contains(first, "00001_platform_extensions.sql") || !strings.Contains(first, "river migrations applied") {
		t.Errorf("first Up printed %q", first)
	}
	applied := versionRows(t, d)
	top, topName := latest(t)
	all, _ := versions(t)
	for _, v := range all {
		if applied[v] != 1 {
			t.Fatalf("applied versions %v, want each of %v once", applied, all)
		}
	}

	out.Reset()
	if err := m.Up(ctx); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if !strings.Contains(out.String(), "schema up to date") || strings.Contains(out.String(), "river migrations applied") {
		t.Errorf("second Up is not a no-op: %q", out.String())
	}
	if again := versionRows(t, d); len(again) != len(applied) {
		t.Errorf("second Up changed goose_db_version: %v → %v", applied, again)
	}

	out.Reset()
	if err := m.Status(ctx); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.Contains(line, " applied ") {
			t.Errorf("status line not applied: %q", line)
		}
	}
	if !strings.Contains(out.String(), topName) {
		t.Errorf("status lacks %s: %s", topName, out.String())
	}

	// Mark the newest migration as not applied: only its row goes, no SQL runs.
	out.Reset()
	if err := m.RollbackResolve(ctx, top, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "marked "+topName+" as not applied") || !strings.Contains(out.String(), "removed 1 row") {
		t.Errorf("RollbackResolve printed %q", out.String())
	}
	after := versionRows(t, d)
	if after[top] != 0 || len(after) != len(applied)-1 {
		t.Errorf("goose_db_version after resolve: %v (before %v)", after, applied)
	}
	if !tableExists(t, d, "realtime_events") {
		t.Error("RollbackResolve without --run-down ran SQL")
	}
	out.Reset()
	if err := m.RollbackResolve(ctx, top, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nothing changed") {
		t.Errorf("second RollbackResolve printed %q", out.String())
	}
	out.Reset()
	if err := m.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), topName) || !strings.Contains(out.String(), "pending") {
		t.Errorf("status after resolve: %s", out.String())
	}

	if err := m.RollbackResolve(ctx, 99999, false); err == nil || !strings.Contains(err.Error(), "no migration with version 99999") {
		t.Errorf("unknown version: %v", err)
	}
	if err := m.RollbackResolve(ctx, 99999, true); err == nil {
		t.Error("unknown version with run-down: no error")
	}
}

func TestMigratorConcurrentUpAndRunDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.Fresh(t)
	dbs := []*pg.DB{open(t, url), open(t, url)}
	outs := []*syncbuf.Buffer{{}, {}}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pg.NewMigrator(dbs[i], migrations(t), queue.MigrateUp, outs[i]).Up(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrator %d: %v\n%s", i, err, outs[i].String())
		}
	}
	applied := versionRows(t, dbs[0])
	all, _ := versions(t)
	for _, v := range all {
		if applied[v] != 1 {
			t.Errorf("version %d applied %d times", v, applied[v])
		}
	}
	if len(applied) != len(all) {
		t.Errorf("%d versions applied, %d embedded", len(applied), len(all))
	}
	var riverVersions, riverDistinct int
	if err := dbs[0].QueryRow(`SELECT count(*), count(DISTINCT version) FROM river_migration`).Scan(&riverVersions, &riverDistinct); err != nil {
		t.Fatal(err)
	}
	if riverVersions == 0 || riverVersions != riverDistinct {
		t.Errorf("river_migration rows %d, distinct %d", riverVersions, riverDistinct)
	}
	both := outs[0].String() + outs[1].String()
	if strings.Count(both, "up 00001_platform_extensions.sql") != 1 {
		t.Errorf("00001 applied by both migrators:\n%s", both)
	}

	// --run-down runs the down SQL of an applied version.
	var out syncbuf.Buffer
	m := pg.NewMigrator(dbs[0], migrations(t), queue.MigrateUp, &out)
	if err := m.RollbackResolve(ctx, 9, true); err != nil {
		t.Fatal(err)
	}
	if tableExists(t, dbs[0], "realtime_events") {
		t.Error("the down migration of 00009 did not drop realtime_events")
	}
	if !strings.Contains(out.String(), "ran the down migration of 00009_realtime_events.sql") {
		t.Errorf("RollbackResolve --run-down printed %q", out.String())
	}
	if versionRows(t, dbs[0])[9] != 0 {
		t.Error("version 9 still marked applied")
	}
	out.Reset()
	if err := m.RollbackResolve(ctx, 9, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nothing changed") {
		t.Errorf("second --run-down printed %q", out.String())
	}
}
