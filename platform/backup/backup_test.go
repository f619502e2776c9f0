package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/axonhq/axon/platform/storage"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

const probeRows = 1000

var probeOnce sync.Once

// sourceURL returns the package's migrated test database with a probe table of known rows
// (including a pgvector column) added once.
func sourceURL(t *testing.T) string {
	t.Helper()
	db := pgtest.DB(t)
	probeOnce.Do(func() {
		db.MustExec(`CREATE TABLE IF NOT EXISTS backup_probe (id int PRIMARY KEY, note text NOT NULL, v vector(3) NOT NULL)`)
		db.MustExec(`INSERT INTO backup_probe SELECT g, 'row ' || g, ARRAY[g, g * 2, g * 3]::vector FROM generate_series(1, $1) g ON CONFLICT DO NOTHING`, probeRows)
		// Finished River jobs, so River's tables take part in the row-count comparison.
		db.MustExec(`INSERT INTO river_job (state, args, kind, max_attempts, queue, attempt, attempted_at, finalized_at)
			SELECT 'completed', jsonb_build_object('n', g), 'backuptest.probe', 3, 'default', 1, now(), now()
			FROM generate_series(1, 300) g`)
	})
	return pgtest.URL(t)
}

func open(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// checkProbe asserts that the probe table arrived intact in the database at url.
func checkProbe(t *testing.T, url string) {
	t.Helper()
	db := open(t, url)
	var n int
	var sumID int64
	var v string
	if err := db.QueryRow(`SELECT count(*), sum(id) FROM backup_probe`).Scan(&n, &sumID); err != nil {
		t.Fatalf("probe table after restore: %v", err)
	}
	if n != probeRows || sumID != probeRows*(probeRows+1)/2 {
		t.Fatalf("probe rows after restore: count %d sum %d", n, sumID)
	}
	if err := db.QueryRow(`SELECT v::text FROM backup_probe WHERE id = 7`).Scan(&v); err != nil || v != "[7,14,21]" {
		t.Fatalf("vector after restore: %q %v", v, err)
	}
	var goose int
	if err := db.QueryRow(`SELECT count(*) FROM goose_db_version`).Scan(&goose); err != nil || goose == 0 {
		t.Fatalf("migration table after restore: %d %v", goose, err)
	}
}

// sameRowCounts compares the exact row count of every table in schema public (the app's,
// goose's and River's) between two databases, and fails naming each difference.
func sameRowCounts(t *testing.T, srcURL, dstURL string) {
	t.Helper()
	counts := func(url string) map[string]int64 {
		db := open(t, url)
		var names []string
		func() {
			rows, err := db.Query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var n string
				if err := rows.Scan(&n); err != nil {
					t.Fatal(err)
				}
				names = append(names, n)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
		}()
		out := map[string]int64{}
		for _, n := range names {
			var c int64
			if err := db.QueryRow(`SELECT count(*) FROM public."` + n + `"`).Scan(&c); err != nil {
				t.Fatal(err)
			}
			out[n] = c
		}
		return out
	}
	src, dst := counts(srcURL), counts(dstURL)
	if len(src) < 20 {
		t.Fatalf("the source has only %d tables; is it migrated?", len(src))
	}
	for n, c := range src {
		if d, ok := dst[n]; !ok || d != c {
			t.Errorf("table %s: %d rows in the source, %d after the restore (present: %v)", n, c, d, ok)
		}
	}
	for n := range dst {
		if _, ok := src[n]; !ok {
			t.Errorf("table %s appeared in the restored database", n)
		}
	}
	if src["river_job"] == 0 || src["backup_probe"] != probeRows {
		t.Errorf("source rows: river_job %d, backup_probe %d", src["river_job"], src["backup_probe"])
	}
}

func tableCount(t *testing.T, url string) int {
	t.Helper()
	var n int
	err := open(t, url).QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func fileSHA(t *testing.T, path string) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), int64(len(b))
}

// clock returns successive times an hour apart, so two runs get two names.
func clock() func() time.Time {
	t := time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Hour); return t }
}

var (
	shared     struct{ dir, name string }
	sharedErr  error
	sharedOnce sync.Once
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// dumpCopy gives a test its own directory holding a copy of one dump (and sidecar) of
// the source database, taken once per package run.
func dumpCopy(t *testing.T) (*Dir, string) {
	t.Helper()
	src := sourceURL(t)
	sharedOnce.Do(func() {
		if shared.dir, sharedErr = os.MkdirTemp("", "axon-backup-test"); sharedErr != nil {
			return
		}
		var res Result
		res, sharedErr = Run(context.Background(), NewDir(shared.dir), RunOptions{DatabaseURL: src})
		shared.name = res.Name
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	dir := t.TempDir()
	for _, f := range []string{shared.name, shared.name + SumSuffix} {
		b, err := os.ReadFile(filepath.Join(shared.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return NewDir(dir), shared.name
}

func TestRunToDirAndRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "dumps") // created by Run
	s := NewDir(dir)
	var progressed int64
	res, err := Run(ctx, s, RunOptions{DatabaseURL: sourceURL(t), Now: clock(), Progress: func(n int64) { progressed = n }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "axon-20250301T030000Z.dump" || !strings.HasPrefix(res.Location, "file:///") {
		t.Fatalf("result %+v", res)
	}
	sum, size := fileSHA(t, filepath.Join(dir, res.Name))
	if res.SHA256 != sum || res.Size != size || progressed != size {
		t.Fatalf("result sha %s size %d progress %d, file sha %s size %d", res.SHA256, res.Size, progressed, sum, size)
	}
	side, err := os.ReadFile(filepath.Join(dir, res.Name+".sha256"))
	if err != nil || string(side) != sum+"  "+res.Name+"\n" {
		t.Fatalf("sidecar %q %v", side, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("directory holds %d entries, want the dump and its sidecar", len(entries))
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", st.Mode().Perm())
	}
	if st, _ := os.Stat(filepath.Join(dir, res.Name)); st.Mode().Perm() != 0o600 {
		t.Errorf("dump mode %v, want 0600", st.Mode().Perm())
	}

	target := pgtest.Fresh(t)
	if _, err := Restore(ctx, s, res.Name, RestoreOptions{TargetURL: target}); err != nil {
		t.Fatal(err)
	}
	checkProbe(t, target)
	sameRowCounts(t, sourceURL(t), target)

	// A non-empty target is refused without --clean and replaced with it.
	_, err = Restore(ctx, s, res.Name, RestoreOptions{TargetURL: target})
	if !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "--clean") {
		t.Fatalf("restore into a non-empty target: %v", err)
	}
	if _, err := Restore(ctx, s, res.Name, RestoreOptions{TargetURL: target, Clean: true}); err != nil {
		t.Fatalf("restore --clean: %v", err)
	}
	checkProbe(t, target)
}

func TestRestoreRefusesAnyTableInPublic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, name := dumpCopy(t)
	target := pgtest.Fresh(t)
	if _, err := open(t, target).Exec(`CREATE TABLE unrelated (id int)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, s, name, RestoreOptions{TargetURL: target}); !errors.Is(err, ErrTargetNotEmpty) {
		t.Fatalf("want ErrTargetNotEmpty, got %v", err)
	}
	if n := tableCount(t, target); n != 1 {
		t.Fatalf("refused restore changed the target: %d tables", n)
	}
}

func TestCorruptDumpFailsChecksum(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, name := dumpCopy(t)
	dir := s.dir
	path := filepath.Join(dir, name)
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	target := pgtest.Fresh(t)
	_, err := Restore(ctx, s, name, RestoreOptions{TargetURL: target})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "nothing was restored") {
		t.Fatalf("want a checksum failure, got %v", err)
	}
	if n := tableCount(t, target); n != 0 {
		t.Fatalf("a corrupt dump left %d tables in the target", n)
	}
}

// TestChecksumMismatchRollsBack proves the final bytes are withheld until the sha256 is
// checked: the dump itself is sound (pg_restore would succeed), only the sidecar disagrees,
// and the target must still be empty afterwards.
func TestChecksumMismatchRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, name := dumpCopy(t)
	dir := s.dir
	wrong := strings.Repeat("ab", 32)
	if err := os.WriteFile(filepath.Join(dir, name+".sha256"), []byte(wrong+"  "+name+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := pgtest.Fresh(t)
	_, err := Restore(ctx, s, name, RestoreOptions{TargetURL: target})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), wrong) {
		t.Fatalf("want a checksum failure, got %v", err)
	}
	if n := tableCount(t, target); n != 0 {
		t.Fatalf("the restore committed %d tables despite the mismatch", n)
	}
}

func TestRestoreWithoutSidecar(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, name := dumpCopy(t)
	dir := s.dir
	if err := os.Remove(filepath.Join(dir, name+".sha256")); err != nil {
		t.Fatal(err)
	}
	target := pgtest.Fresh(t)
	_, err := Restore(ctx, s, name, RestoreOptions{TargetURL: target})
	if !errors.Is(err, ErrNoSum) || !strings.Contains(err.Error(), "--no-verify") {
		t.Fatalf("want ErrNoSum naming --no-verify, got %v", err)
	}
	if _, err := Restore(ctx, s, name, RestoreOptions{TargetURL: target, NoVerify: true}); err != nil {
		t.Fatal(err)
	}
	checkProbe(t, target)

	if _, err := Restore(ctx, s, "axon-20990101T000000Z.dump", RestoreOptions{TargetURL: target}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing dump: %v", err)
	}
}

func TestPgDumpFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	missing := pgtest.WithDatabase(pgtest.BaseURL(), "axon_no_such_database")
	_, err := Run(ctx, NewDir(dir), RunOptions{DatabaseURL: missing})
	if err == nil || !strings.Contains(err.Error(), "pg_dump failed") || !strings.Contains(err.Error(), "axon_no_such_database") {
		t.Fatalf("want pg_dump's error, got %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed run left %d files", len(entries))
	}

	st := newFakeS3(t)
	if _, err := Run(ctx, st, RunOptions{DatabaseURL: missing}); err == nil || !strings.Contains(err.Error(), "pg_dump failed") {
		t.Fatalf("want pg_dump's error, got %v", err)
	}
	if ds, err := st.List(ctx); err != nil || len(ds) != 0 {
		t.Fatalf("a failed run left %v (%v)", ds, err)
	}
}

func TestKeepPrunesOlderOwnDumps(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := NewDir(dir)
	now := clock()
	src := sourceURL(t)
	var names []string
	for range 3 {
		res, err := Run(ctx, s, RunOptions{DatabaseURL: src, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, res.Name)
	}
	// A hand-made dump is listed but never pruned.
	writeFile(t, filepath.Join(dir, "before-upgrade.dump"), "x")

	deleted, err := Prune(ctx, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 || deleted[0].Name != names[1] || deleted[1].Name != names[0] {
		t.Fatalf("deleted %+v, want the two older of %v", deleted, names)
	}
	ds, err := List(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{names[2], "before-upgrade.dump"}) {
		t.Fatalf("left %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, names[0]+".sha256")); !os.IsNotExist(err) {
		t.Fatalf("sidecar of a pruned dump remains: %v", err)
	}
	if _, err := Prune(ctx, s, 0); err == nil {
		t.Fatal("keep 0 must be refused")
	}
}

// uploadedParts counts UploadPart requests to the fake S3 servers; partsInFlight and
// maxPartsInFlight count the ones being served at once, and partDelay slows each down.
var (
	uploadedParts, partsInFlight, maxPartsInFlight atomic.Int64
	partDelay                                      atomic.Int64 // time.Duration
)

// newFakeS3 serves an in-memory S3 (gofakes3) and returns a store on a fresh bucket.
func newFakeS3(t *testing.T) *S3 {
	t.Helper()
	testkit.IsolateAWSEnv(t)
	faker := gofakes3.New(s3mem.New()).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "" {
			uploadedParts.Add(1)
			n := partsInFlight.Add(1)
			defer partsInFlight.Add(-1)
			for m := maxPartsInFlight.Load(); n > m && !maxPartsInFlight.CompareAndSwap(m, n); m = maxPartsInFlight.Load() {
			}
			time.Sleep(time.Duration(partDelay.Load()))
		}
		faker.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	st, err := storage.NewS3(context.Background(), storage.S3Config{
		Bucket: "axon-backups", Region: "us-east-1", Endpoint: srv.URL,
		AccessKeyID: "AKIDAXONTEST", SecretAccessKey: "axon-test-secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("axon-backups")}); err != nil {
		t.Fatal(err)
	}
	return NewS3(st.Client(), st.Bucket())
}

func TestS3RunListRestore(t *testing.T) {
	ctx := context.Background()
	s := newFakeS3(t)
	now := clock()
	src := sourceURL(t)
	first, err := Run(ctx, s, RunOptions{DatabaseURL: src, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Run(ctx, s, RunOptions{DatabaseURL: src, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if second.Location != "s3://axon-backups/backups/"+second.Name {
		t.Fatalf("location %q", second.Location)
	}
	ds, err := List(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].Name != second.Name || ds[1].Name != first.Name {
		t.Fatalf("list %+v", ds)
	}
	if ds[0].Size != second.Size || ds[0].SHA256 != second.SHA256 || ds[0].Created != second.Created {
		t.Fatalf("listed %+v, ran %+v", ds[0], second.Dump)
	}
	// The object's bytes are the ones hashed.
	body, size, err := s.Open(ctx, second.Name)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(body)
	body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(buf.Bytes()); hex.EncodeToString(sum[:]) != second.SHA256 || size != second.Size {
		t.Fatalf("stored object differs from the run's sha256/size")
	}

	target := pgtest.Fresh(t)
	if _, err := Restore(ctx, s, "backups/"+second.Name, RestoreOptions{TargetURL: target}); err != nil {
		t.Fatal(err)
	}
	checkProbe(t, target)
	sameRowCounts(t, src, target)

	if _, err := Prune(ctx, s, 1); err != nil {
		t.Fatal(err)
	}
	if ds, _ := List(ctx, s); len(ds) != 1 || ds[0].Name != second.Name {
		t.Fatalf("after keep 1: %+v", ds)
	}
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("axon-backups")})
	if err != nil || len(out.Contents) != 2 {
		t.Fatalf("bucket holds %d objects after keep 1 (want the dump and its sidecar): %v", len(out.Contents), err)
	}
}

// TestS3MultipartUpload streams a dump in parts smaller than the dump, so the upload is
// multipart with several parts in flight, never more than Concurrency (each holds a part
// buffer: the memory bound). The fake takes 20 ms per part so that they overlap.
func TestS3MultipartUpload(t *testing.T) {
	ctx := context.Background()
	fake := newFakeS3(t)
	s := newS3(fake.client, fake.bucket, 16<<10)
	uploadedParts.Store(0)
	maxPartsInFlight.Store(0)
	partDelay.Store(int64(20 * time.Millisecond))
	defer partDelay.Store(0)
	res, err := Run(ctx, s, RunOptions{DatabaseURL: sourceURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Size <= 4*16<<10 {
		t.Fatalf("dump is %d bytes, want more than four parts", res.Size)
	}
	if want := (res.Size + 16<<10 - 1) / (16 << 10); uploadedParts.Load() != want {
		t.Fatalf("%d parts uploaded, want %d", uploadedParts.Load(), want)
	}
	if n := maxPartsInFlight.Load(); n > Concurrency {
		t.Fatalf("%d parts in flight at once, want at most %d", n, Concurrency)
	}
	t.Logf("%d parts, at most %d in flight", uploadedParts.Load(), maxPartsInFlight.Load())
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("axon-backups"), Key: aws.String(Prefix + res.Name)})
	if err != nil || aws.ToInt64(head.ContentLength) != res.Size {
		t.Fatalf("head: %v %v", head.ContentLength, err)
	}
	target := pgtest.Fresh(t)
	if _, err := Restore(ctx, s, res.Name, RestoreOptions{TargetURL: target}); err != nil {
		t.Fatal(err)
	}
	checkProbe(t, target)
}

// TestS3UploadPartBoundaries streams dumps around the part size (16 KiB here) from a
// stand-in pg_dump: below one part (one PutObject), exactly one, exactly four and four
// and a byte. Each is stored whole, with the size and sha256 Run reports.
func TestS3UploadPartBoundaries(t *testing.T) {
	ctx := context.Background()
	fake := newFakeS3(t)
	s := newS3(fake.client, fake.bucket, 16<<10)
	dir := t.TempDir()
	for i, tt := range []struct{ size, parts int64 }{{1000, 0}, {16 << 10, 1}, {64 << 10, 4}, {64<<10 + 1, 5}} {
		script := filepath.Join(dir, fmt.Sprintf("pg_dump%d", i))
		writeFile(t, script, fmt.Sprintf("#!/bin/sh\nhead -c %d /dev/urandom\n", tt.size))
		if err := os.Chmod(script, 0o700); err != nil {
			t.Fatal(err)
		}
		uploadedParts.Store(0)
		at := time.Date(2024, 1, 1, 0, 0, i, 0, time.UTC)
		res, err := Run(ctx, s, RunOptions{DatabaseURL: "postgres://x@127.0.0.1:1/x", Tools: Tools{PGDump: script}, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatalf("%d bytes: %v", tt.size, err)
		}
		if res.Size != tt.size || uploadedParts.Load() != tt.parts {
			t.Errorf("%d bytes: size %d in %d parts, want %d parts", tt.size, res.Size, uploadedParts.Load(), tt.parts)
		}
		body, _, err := s.Open(ctx, res.Name)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, body)
		body.Close()
		if err != nil || n != tt.size || hex.EncodeToString(h.Sum(nil)) != res.SHA256 {
			t.Errorf("%d bytes: stored %d bytes (%v), sha256 match %v", tt.size, n, err, hex.EncodeToString(h.Sum(nil)) == res.SHA256)
		}
	}
}

// TestS3FailedDumpAbortsUpload makes pg_dump fail after several parts were uploaded: the
// error carries its stderr and the multipart upload is aborted, leaving no object.
func TestS3FailedDumpAbortsUpload(t *testing.T) {
	ctx := context.Background()
	fake := newFakeS3(t)
	s := newS3(fake.client, fake.bucket, 16<<10)
	script := filepath.Join(t.TempDir(), "pg_dump")
	writeFile(t, script, "#!/bin/sh\nhead -c 200000 /dev/urandom\necho 'pg_dump: error: connection to server lost' >&2\nexit 1\n")
	if err := os.Chmod(script, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Run(ctx, s, RunOptions{DatabaseURL: "postgres://x@127.0.0.1/x", Tools: Tools{PGDump: script}})
	if err == nil || !strings.Contains(err.Error(), "pg_dump failed (exit status 1): pg_dump: error: connection to server lost") {
		t.Fatalf("want pg_dump's stderr, got %v", err)
	}
	objs, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("axon-backups")})
	if err != nil || len(objs.Contents) != 0 {
		t.Fatalf("objects after a failed run: %d %v", len(objs.Contents), err)
	}
	mpu, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("axon-backups")})
	if err != nil || len(mpu.Uploads) != 0 {
		t.Fatalf("multipart uploads left open: %d %v", len(mpu.Uploads), err)
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"axon-20250301T020000Z.dump":                     "axon-20250301T020000Z.dump",
		"backups/axon-20250301T020000Z.dump":             "axon-20250301T020000Z.dump",
		"s3://bucket/backups/axon-20250301T020000Z.dump": "axon-20250301T020000Z.dump",
		"before-upgrade.dump":                            "before-upgrade.dump",
		"../etc/passwd":                                  "",
		"backups/../x.dump":                              "",
		"axon.sql":                                       "",
		".hidden.dump":                                   "",
		"":                                               "",
	} {
		got, err := CleanName(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("CleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestConnArgsMovesPasswordToEnv(t *testing.T) {
	dbname, env, err := connArgs("postgres://axon:s3cret@db:5432/axon?sslmode=disable&connection_limit=5&pool_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dbname, "s3cret") || strings.Contains(dbname, "connection_limit") || !strings.Contains(dbname, "sslmode=disable") {
		t.Fatalf("dbname %q", dbname)
	}
	if !slices.Equal(env, []string{"PGPASSWORD=s3cret"}) {
		t.Fatalf("env %v", env)
	}
	if _, _, err := connArgs("mysql://x@y/z"); err == nil {
		t.Fatal("a non-postgres URL must be refused")
	}
	if r := RedactURL("postgres://axon:s3cret@db/axon"); strings.Contains(r, "s3cret") || !strings.Contains(r, "axon@db") && !strings.Contains(r, "axon:xxxxx@db") {
		t.Fatalf("RedactURL = %q", r)
	}
	if kv, env, _ := connArgs("host=/tmp dbname=axon"); kv != "host=/tmp dbname=axon" || env != nil {
		t.Fatalf("keyword string changed: %q %v", kv, env)
	}
}
