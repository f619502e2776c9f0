// Command backup measures `axon backup` at a realistic size and proves the round trip. It
//
//  1. creates its own database (axon_bench_backup), migrates it with the app's migrations
//     and fills it server-side (INSERT … SELECT over generate_series) with realistic rows:
//     conversations and messages over 90 days, knowledge docs and chunks with 1536-d
//     vectors (the HNSW index is built after the fill, as a bulk load would), the credit
//     ledger, handoffs and finished River jobs; about 1 GB with the defaults;
//  2. builds the axon binary and starts versitygw (the local S3 server scripts/setup.sh
//     installs) on a free port over a temporary directory;
//  3. alternates `pg_dump --format=custom > /dev/null` and the real `axon backup run`
//     (a child process: its wall time, its peak RSS from /proc/<pid>/status VmHWM and
//     wait4's Maxrss), -rounds times; the last run passes --keep so the oldest dump (a small
//     one planted beforehand) is deleted;
//  4. runs `axon backup list`, then `axon backup restore` of the newest dump into a fresh
//     empty database, and checks that a second restore without --clean is refused;
//  5. compares exact row counts of every table in schema public (River's tables included)
//     between the source and the restored database, and prints one table of the figures.
//
// It exits non-zero when a row count differs or a step fails. The databases are dropped at
// the end unless -keep is given; -reuse skips the fill when the database already holds data.
//
//	go run ./bench/backup                          # ~1 GB, about 10 min on 2 cores
//	go run ./bench/backup -messages 100000 -chunks 3000 -ledger 50000 -jobs 10000
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/lib/pq" // database/sql driver "postgres"

	"github.com/axonhq/axon/bench/internal/benchenv"
	"github.com/axonhq/axon/db"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/storage"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

type options struct {
	base       string
	name       string
	messages   int
	chunks     int
	ledger     int
	jobs       int
	rounds     int
	keep       bool
	reuse      bool
	restoreMWM string
}

const (
	bucket    = "axon-bench-backups"
	accessKey = "AKIDAXONBENCH"
	secretKey = "axon-bench-secret"
	oldDump   = "axon-20200101T000000Z.dump" // planted so --keep has an oldest dump to delete
)

func main() {
	var o options
	flag.StringVar(&o.base, "db", benchenv.Get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/axon_test?sslmode=disable"), "any database URL on the server; the run uses its own databases next to it")
	flag.StringVar(&o.name, "name", "axon_bench_backup", "source database name (the restore target is <name>_restored)")
	flag.IntVar(&o.messages, "messages", 1_000_000, "messages (8 per conversation)")
	flag.IntVar(&o.chunks, "chunks", 30_000, "knowledge chunks with 1536-d vectors (20 per doc)")
	flag.IntVar(&o.ledger, "ledger", 500_000, "credit ledger rows")
	flag.IntVar(&o.jobs, "jobs", 100_000, "finished River jobs in river_job")
	flag.IntVar(&o.rounds, "rounds", 2, "pg_dump / axon backup run pairs")
	flag.BoolVar(&o.keep, "keep", false, "keep both databases afterwards")
	flag.BoolVar(&o.reuse, "reuse", false, "reuse the source database when it already holds messages (skip the fill)")
	flag.StringVar(&o.restoreMWM, "restore-maintenance-work-mem", "1GB", "maintenance_work_mem of the restore session (PGOPTIONS), which builds the HNSW index; empty for the server default")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/backup:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	srcURL := pgtest.WithDatabase(o.base, o.name)
	dstURL := pgtest.WithDatabase(o.base, o.name+"_restored")
	admin, err := sql.Open("postgres", pgtest.WithDatabase(o.base, "postgres"))
	if err != nil {
		return err
	}
	defer admin.Close()

	filled := false
	if o.reuse {
		if src, err := sql.Open("postgres", srcURL); err == nil {
			var n int
			filled = src.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&n) == nil && n > 0
			src.Close()
		}
	}
	if !filled {
		if err := createDB(ctx, admin, o.name); err != nil {
			return err
		}
		if err := migrate(ctx, srcURL); err != nil {
			return err
		}
		if err := fill(ctx, srcURL, o); err != nil {
			return err
		}
	} else {
		benchenv.Logf("reusing %s", o.name)
	}
	if !o.keep {
		defer func() {
			for _, n := range []string{o.name, o.name + "_restored"} {
				_, _ = admin.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+n+` WITH (FORCE)`)
			}
		}()
	}

	src, err := sql.Open("postgres", srcURL)
	if err != nil {
		return err
	}
	defer src.Close()
	var dbSize int64
	if err := src.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&dbSize); err != nil {
		return err
	}
	benchenv.Logf("source database %s: %s", o.name, human(dbSize))

	tmp, err := os.MkdirTemp("", "axon-bench-backup")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "axon")
	benchenv.Logf("building the axon binary")
	// As the Makefile and the Dockerfile build it: static, without symbol tables.
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin+".linked", ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build (run from the repository root): %v\n%s", err, out)
	}
	// Run a copy, as a deployed binary is: the linker writes its output through a shared
	// mapping, which leaves it in the page cache in large folios (2 MiB), and a process
	// that touches one page of a large folio of its executable has the whole folio
	// counted in its RSS (+4 to +8 MiB of VmHWM for the same code, measured). A file
	// written with write(2), as cp or an image layer writes it, is cached in small folios.
	if err := copyFile(bin+".linked", bin); err != nil {
		return err
	}
	endpoint, stop, err := startVersitygw(ctx, tmp)
	if err != nil {
		return err
	}
	defer stop()
	client, err := s3Client(ctx, endpoint)
	if err != nil {
		return err
	}
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	for key, body := range map[string]string{
		"backups/" + oldDump:             "not a real dump",
		"backups/" + oldDump + ".sha256": strings.Repeat("0", 64) + "  " + oldDump + "\n",
	} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			return fmt.Errorf("plant %s: %w", key, err)
		}
	}

	axonEnv := append(os.Environ(),
		"APP_ENV=test", "LOG_LEVEL=info", "LOG_FORMAT=text", "DATABASE_URL="+srcURL,
		"S3_BUCKET="+bucket, "S3_ENDPOINT="+endpoint, "S3_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY="+secretKey,
		"AWS_CONFIG_FILE="+filepath.Join(tmp, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(tmp, "none"))

	var dumps, backups []measured
	var lastOut string
	for r := 1; r <= o.rounds; r++ {
		benchenv.Logf("round %d/%d: pg_dump > /dev/null", r, o.rounds)
		d, err := measure(ctx, nil, "pg_dump", "--format=custom", "--no-owner", "--no-acl", "--no-password", "--dbname="+srcURL)
		if err != nil {
			return err
		}
		dumps = append(dumps, d)
		args := []string{"backup", "run"}
		if r == o.rounds {
			args = append(args, "--keep", strconv.Itoa(o.rounds))
		}
		benchenv.Logf("round %d/%d: axon %s", r, o.rounds, strings.Join(args, " "))
		b, err := measure(ctx, axonEnv, bin, args...)
		if err != nil {
			return err
		}
		// The dump's size is the second field of "s3://…/name  1.23 GB  sha256 …"; the
		// exact byte count comes from the list below.
		b.out = strings.TrimSpace(b.out)
		lastOut = b.out
		backups = append(backups, b)
		benchenv.Logf("  %s", firstLine(b.out))
		benchenv.Logf("  progress lines logged: %d", strings.Count(b.stderr, "backup progress"))
	}
	if !strings.Contains(lastOut, "pruned s3://"+bucket+"/backups/"+oldDump) {
		return fmt.Errorf("--keep %d did not prune the oldest dump %s:\n%s", o.rounds, oldDump, lastOut)
	}

	list, err := measure(ctx, axonEnv, bin, "backup", "list")
	if err != nil {
		return err
	}
	fmt.Println("axon backup list:")
	fmt.Println(strings.TrimRight(list.out, "\n"))
	listed := strings.Count(list.out, "\naxon-")
	if listed != o.rounds || strings.Contains(list.out, oldDump) {
		return fmt.Errorf("backup list shows %d dumps (want %d, without %s)", listed, o.rounds, oldDump)
	}
	newest := strings.TrimPrefix(strings.Fields(lastOut)[0], "s3://"+bucket+"/backups/")
	size, err := objectSize(ctx, client, "backups/"+newest)
	if err != nil {
		return err
	}

	if err := createDB(ctx, admin, o.name+"_restored"); err != nil {
		return err
	}
	restoreEnv := axonEnv
	if o.restoreMWM != "" {
		restoreEnv = append(restoreEnv, "PGOPTIONS=-c maintenance_work_mem="+o.restoreMWM)
	}
	benchenv.Logf("axon backup restore %s into %s_restored", newest, o.name)
	rest, err := measure(ctx, restoreEnv, bin, "backup", "restore", newest, "--target-url", dstURL)
	if err != nil {
		return err
	}
	refused, rerr := measure(ctx, axonEnv, bin, "backup", "restore", newest, "--target-url", dstURL)
	if rerr == nil || !strings.Contains(refused.stderr, "--clean") {
		return fmt.Errorf("a second restore into the non-empty target was not refused naming --clean: %v\n%s", rerr, refused.stderr)
	}
	benchenv.Logf("second restore without --clean refused: %s", lastLine(refused.stderr))

	dst, err := sql.Open("postgres", dstURL)
	if err != nil {
		return err
	}
	defer dst.Close()
	mismatch, err := compareCounts(ctx, src, dst)
	if err != nil {
		return err
	}

	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tseconds\tMB/s\tpeak RSS (VmHWM)\tpeak RssAnon\tmaxrss incl. children\t")
	for i := range backups {
		d, b := dumps[i], backups[i]
		fmt.Fprintf(tw, "pg_dump > /dev/null #%d\t%.1f\t%.1f\t%s\t%s\t%s\t\n", i+1, d.elapsed.Seconds(), mbps(size, d.elapsed), human(d.hwm), human(d.anon), human(d.maxrss))
		fmt.Fprintf(tw, "axon backup run #%d\t%.1f\t%.1f\t%s\t%s\t%s\t\n", i+1, b.elapsed.Seconds(), mbps(size, b.elapsed), human(b.hwm), human(b.anon), human(b.maxrss))
	}
	fmt.Fprintf(tw, "axon backup restore\t%.1f\t%.1f\t%s\t%s\t%s\t\n", rest.elapsed.Seconds(), mbps(size, rest.elapsed), human(rest.hwm), human(rest.anon), human(rest.maxrss))
	tw.Flush()
	var dumpT, backT time.Duration
	var peak, peakAnon int64
	for i := range backups {
		dumpT += dumps[i].elapsed
		backT += backups[i].elapsed
		peak, peakAnon = max(peak, backups[i].hwm), max(peakAnon, backups[i].anon)
	}
	fmt.Printf("\ndatabase %s, dump %s (%d bytes); backup throughput %.2f× pg_dump's (sum over %d rounds); axon backup run peak RSS %s (anonymous %s); restore %.0f s\n",
		human(dbSize), human(size), size, dumpT.Seconds()/backT.Seconds(), o.rounds, human(peak), human(peakAnon), rest.elapsed.Seconds())
	if mismatch > 0 {
		return fmt.Errorf("%d tables differ after the restore", mismatch)
	}
	return nil
}

// measured is one child process's run.
type measured struct {
	elapsed time.Duration
	hwm     int64 // bytes: the last VmHWM read from /proc while it ran (the process alone)
	anon    int64 // bytes: the largest RssAnon seen (its heap and stacks, without the mapped binary)
	maxrss  int64 // bytes: wait4's ru_maxrss (the largest of it and its waited-for children)
	out     string
	stderr  string
}

// measure runs name with args (stdout to memory, or to /dev/null for pg_dump), polling
// /proc/<pid>/status for VmHWM every 50 ms.
func measure(ctx context.Context, env []string, name string, args ...string) (measured, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	if name == "pg_dump" {
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return measured{}, err
		}
		defer devnull.Close()
		cmd.Stdout = devnull
	} else {
		cmd.Stdout = &out
	}
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measured{}, err
	}
	var hwm, anon int64
	done := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			h, a := procMem(cmd.Process.Pid)
			hwm, anon = max(hwm, h), max(anon, a)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	elapsed := time.Since(start)
	close(done)
	<-polled
	m := measured{elapsed: elapsed, hwm: hwm, anon: anon, out: out.String(), stderr: errb.String()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.maxrss = ru.Maxrss * 1024
	}
	if err != nil {
		return m, fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, lastLine(errb.String()))
	}
	return m, nil
}

// procMem reads the peak resident set size (VmHWM) and the current anonymous resident
// memory (RssAnon) of pid in bytes; zeros once it has exited. RssFile, the rest of VmRSS,
// is the executable's pages mapped from the page cache (about 30 MiB of axon's ~70 MB
// binary), shared and reclaimable.
func procMem(pid int) (hwm, anon int64) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	kb := func(v string) int64 {
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		return n * 1024
	}
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			hwm = kb(v)
		} else if v, ok := strings.CutPrefix(s.Text(), "RssAnon:"); ok {
			anon = kb(v)
		}
	}
	return hwm, anon
}

// copyFile copies src to a new executable dst with plain writes.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o700)
	if err != nil {
		return err
	}
	if _, err := io.Copy(struct{ io.Writer }{out}, in); err != nil { // no copy_file_range: plain writes
		out.Close()
		return err
	}
	return out.Close()
}

func createDB(ctx context.Context, admin *sql.DB, name string) error {
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return err
	}
	_, err := admin.ExecContext(ctx, `CREATE DATABASE `+name)
	return err
}

func migrate(ctx context.Context, url string) error {
	benchenv.Logf("migrating")
	d, err := pg.Open(ctx, pg.Options{URL: url, MaxConns: 4})
	if err != nil {
		return err
	}
	defer d.Close()
	sub, err := fs.Sub(db.Migrations, "migrations")
	if err != nil {
		return err
	}
	return pg.NewMigrator(d, sub, queue.MigrateUp, io.Discard).Up(ctx)
}

// startVersitygw runs versitygw over a directory in tmp on a free port.
func startVersitygw(ctx context.Context, tmp string) (string, func(), error) {
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
		if _, err := os.Stat(bin); err != nil {
			return "", nil, errors.New("versitygw is not installed: run scripts/test-tools.sh")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	// Apart: versitygw compares the paths as strings, so "s3" and "s3meta" would clash.
	root, sidecar := filepath.Join(tmp, "bucket-data"), filepath.Join(tmp, "sidecar")
	for _, d := range []string{root, sidecar} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", nil, err
		}
	}
	cmd := exec.CommandContext(ctx, bin, "--access", accessKey, "--secret", secretKey, "--region", "us-east-1",
		"--port", addr, "--quiet", "posix", "--sidecar", sidecar, root)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start versitygw: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() { _ = cmd.Process.Kill(); <-exited }
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + addr, stop, nil
		}
		select {
		case <-exited:
			return "", nil, fmt.Errorf("versitygw exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("versitygw did not listen on %s: %s", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func s3Client(ctx context.Context, endpoint string) (*s3.Client, error) {
	st, err := storage.NewS3(ctx, storage.S3Config{
		Bucket: bucket, Region: "us-east-1", Endpoint: endpoint, AccessKeyID: accessKey, SecretAccessKey: secretKey,
	})
	if err != nil {
		return nil, err
	}
	return st.Client(), nil
}

func objectSize(ctx context.Context, c *s3.Client, key string) (int64, error) {
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return 0, fmt.Errorf("head %s: %w", key, err)
	}
	return aws.ToInt64(h.ContentLength), nil
}

// compareCounts prints the exact row count of every table in schema public of both
// databases and returns how many differ.
func compareCounts(ctx context.Context, src, dst *sql.DB) (int, error) {
	tables := map[string]bool{}
	list := func(d *sql.DB) error {
		rows, err := d.QueryContext(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				return err
			}
			tables[t] = true
		}
		return rows.Err()
	}
	for _, d := range []*sql.DB{src, dst} {
		if err := list(d); err != nil {
			return 0, err
		}
	}
	names := make([]string, 0, len(tables))
	for t := range tables {
		names = append(names, t)
	}
	slices.Sort(names)
	count := func(d *sql.DB, t string) (int64, error) {
		var n int64
		err := d.QueryRowContext(ctx, `SELECT count(*) FROM public.`+quoteIdent(t)).Scan(&n)
		return n, err
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "table\tsource rows\trestored rows\t")
	mismatch := 0
	var total int64
	for _, t := range names {
		a, aerr := count(src, t)
		b, berr := count(dst, t)
		status := ""
		if aerr != nil || berr != nil || a != b {
			mismatch++
			status = "DIFFERS"
			if aerr != nil || berr != nil {
				status = fmt.Sprintf("DIFFERS (%v %v)", aerr, berr)
			}
		}
		total += a
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", t, a, b, status)
	}
	fmt.Fprintf(tw, "%d tables\t%d\t\t%d differ\n", len(names), total, mismatch)
	return mismatch, tw.Flush()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}
