package cli

import (
	"bytes"
	"context"
	"database/sql"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/axonhq/axon/platform/storage"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// axon runs the command tree with env as the whole environment and returns stdout.
func axon(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Execute(context.Background(), Options{
		Args: args, Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errOut,
	})
	return out.String(), err
}

func backupEnv(t *testing.T) map[string]string {
	return map[string]string{"APP_ENV": "test", "DATABASE_URL": pgtest.URL(t)}
}

func TestBackupNeedsALocation(t *testing.T) {
	_, err := axon(t, backupEnv(t), "backup", "run")
	if err == nil || !strings.Contains(err.Error(), "S3_BUCKET") || !strings.Contains(err.Error(), "--to") {
		t.Fatalf("want an error naming S3_BUCKET and --to, got %v", err)
	}
	if _, err := axon(t, backupEnv(t), "backup", "run", "--to", "/relative/or/plain"); err == nil || !strings.Contains(err.Error(), "file:///") {
		t.Fatalf("want an error showing file:///, got %v", err)
	}
	if _, err := axon(t, backupEnv(t), "backup", "restore", "axon-20250101T000000Z.dump"); err == nil || !strings.Contains(err.Error(), "target-url") {
		t.Fatalf("want an error naming --target-url, got %v", err)
	}
}

func TestBackupHelpHasExamples(t *testing.T) {
	for _, sub := range []string{"run", "list", "restore"} {
		out, err := axon(t, nil, "backup", sub, "--help")
		if err != nil || !strings.Contains(out, "Examples:\n  axon backup "+sub) {
			t.Errorf("backup %s --help lacks examples (%v):\n%s", sub, err, out)
		}
	}
}

func TestBackupToDirKeepAndRestore(t *testing.T) {
	env := backupEnv(t)
	dir := t.TempDir()
	// An older backup that --keep 1 must delete.
	old := filepath.Join(dir, "axon-20200101T000000Z.dump")
	for f, content := range map[string]string{old: "old", old + ".sha256": strings.Repeat("0", 64) + "  axon-20200101T000000Z.dump\n"} {
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	out, err := axon(t, env, "backup", "run", "--to", "file://"+dir, "--keep", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "pruned file://"+old) {
		t.Fatalf("run output lacks the pruned dump:\n%s", out)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("--keep 1 left the old dump: %v", err)
	}
	location := strings.Fields(out)[0]
	if !strings.HasPrefix(location, "file://"+dir+"/axon-") {
		t.Fatalf("run printed %q", out)
	}

	target := pgtest.Fresh(t)
	out, err = axon(t, env, "backup", "restore", location, "--target-url", target)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "sha256 verified") {
		t.Fatalf("restore printed %q", out)
	}
	db, err := sql.Open("postgres", target)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM goose_db_version`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("restored migrations table: %d %v", n, err)
	}
	_, err = axon(t, env, "backup", "restore", location, "--target-url", target)
	if err == nil || !strings.Contains(err.Error(), "--clean") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want a one-line refusal naming --clean, got %v", err)
	}
}

func TestBackupS3RunListRestore(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", missing)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", missing)
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer srv.Close()
	env := backupEnv(t)
	env["S3_BUCKET"], env["S3_ENDPOINT"] = "axon-cli-backups", srv.URL
	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "AKIDAXONTEST", "axon-test-secret"
	st, err := storage.NewS3(context.Background(), storage.S3Config{
		Bucket: env["S3_BUCKET"], Endpoint: srv.URL, AccessKeyID: "AKIDAXONTEST", SecretAccessKey: "axon-test-secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(env["S3_BUCKET"])}); err != nil {
		t.Fatal(err)
	}

	out, err := axon(t, env, "backup")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	if len(f) < 5 || !strings.HasPrefix(f[0], "s3://axon-cli-backups/backups/axon-") {
		t.Fatalf("run printed %q", out)
	}
	name := strings.TrimPrefix(f[0], "s3://axon-cli-backups/backups/")
	size, sum := f[1]+" "+f[2], f[4]

	out, err = axon(t, env, "backup", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[1], name) ||
		!strings.Contains(lines[1], size) || !strings.Contains(lines[1], sum) {
		t.Fatalf("list printed:\n%s\nwant %s %s %s", out, name, size, sum)
	}

	target := pgtest.Fresh(t)
	if out, err = axon(t, env, "backup", "restore", name, "--target-url", target); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "restored s3://axon-cli-backups/backups/"+name) {
		t.Fatalf("restore printed %q", out)
	}
}
