package backup_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/backup"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/testkit/apitest"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

func TestBackupJobWritesAndPrunes(t *testing.T) {
	dir := t.TempDir()
	// Two older dumps: Keep 2 leaves the new one and the newer of these.
	for _, n := range []string{"axon-20200101T000000Z.dump", "axon-20200102T000000Z.dump"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := apitest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		m, err := backup.NewModule(backup.ModuleDeps{
			Cron: "0 3 * * *", Store: backup.NewDir(dir), DatabaseURL: pgtest.URL(t), Keep: 2, Log: d.Log,
		})
		return []kernel.Module{m}, err
	})
	if n := len(env.Registry.PeriodicJobs()); n != 1 {
		t.Fatalf("%d periodic jobs, want ops.backup", n)
	}
	env.StartWorker()
	err := env.DB.InTx(context.Background(), func(tx *sqlx.Tx) error {
		_, err := env.Deps.Queue.InsertTx(context.Background(), tx.Tx, backup.JobArgs{}, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	apitest.Eventually(t, 30*time.Second, func() bool {
		ds, err := backup.List(context.Background(), backup.NewDir(dir))
		names = names[:0]
		for _, d := range ds {
			names = append(names, d.Name)
		}
		return err == nil && len(ds) == 2 && ds[0].SHA256 != "" && ds[1].Name == "axon-20200102T000000Z.dump"
	}, "the job writes a dump and prunes to 2")
	if !strings.Contains(env.LogText(), `"msg":"backup written"`) {
		t.Fatalf("no log line for the backup:\n%s", env.LogText())
	}
}

func TestBackupCronValidation(t *testing.T) {
	d := backup.ModuleDeps{Store: backup.NewDir(t.TempDir()), DatabaseURL: "postgres://x@y/z", Log: slog.New(slog.DiscardHandler)}
	for _, bad := range []string{"", "every day", "61 * * * *", "* * *"} {
		d.Cron = bad
		if _, err := backup.NewModule(d); err == nil || !strings.Contains(err.Error(), "BACKUP_CRON") {
			t.Errorf("cron %q: want an error naming BACKUP_CRON, got %v", bad, err)
		}
	}
	d.Cron = "0 3 * * *"
	m, err := backup.NewModule(d)
	if err != nil {
		t.Fatal(err)
	}
	// The schedule is UTC whatever the zone of the time River passes.
	local, _ := time.LoadLocation("America/New_York")
	now := time.Date(2025, 1, 1, 5, 0, 0, 0, time.UTC).In(local)
	if got := m.Next(now); !got.Equal(time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("next run after %s = %s, want 2025-01-02 03:00 UTC", now, got)
	}
}
