// Package backup takes, lists, prunes and restores logical backups of the database.
//
// A backup is `pg_dump --format=custom --no-owner --no-acl` streamed, without ever holding
// the dump in memory, into a Store: an S3 bucket (multipart upload, parts sized from the
// database's size, 5 MiB up to 24 GiB, 2 in flight) or a local directory. Its sha256 and size are computed while it streams; the
// sha256 is written beside it as a sidecar (<name>.sha256, sha256sum format) because S3
// metadata must be set before the body is known. Restore streams a dump into pg_restore in
// one transaction and verifies the sha256 before pg_restore can commit.
//
// The `axon backup` command (platform/cli) drives Run, List, Prune and Restore; Module
// runs Run (and Prune) as the periodic ops.backup job when BACKUP_CRON is set.
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os/exec"
	"time"
)

// RunOptions configures Run.
type RunOptions struct {
	// DatabaseURL is the database to dump (a postgres:// URL or libpq keyword string).
	DatabaseURL string
	// Tools locates pg_dump; the zero value looks it up on PATH.
	Tools Tools
	// Now names the dump; time.Now when nil.
	Now func() time.Time
	// ExpectedSize is an upper estimate of the dump's size in bytes, from which the store
	// sizes its writes (S3: the part size); 0 asks the database (pg_database_size).
	ExpectedSize int64
	// Progress, when set, is called after every read from pg_dump with the bytes so far.
	// It runs on the reading goroutine and must be quick.
	Progress func(bytes int64)
}

// Result describes a finished backup.
type Result struct {
	Dump
	Elapsed time.Duration
}

// MBps is the average throughput in megabytes (10^6 bytes) per second.
func (r Result) MBps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Size) / 1e6 / r.Elapsed.Seconds()
}

// Run dumps the database into s under a new name (axon-<UTC timestamp>.dump). It fails,
// leaving nothing behind, when the name is taken, pg_dump fails (its stderr is in the
// error) or the store fails.
func Run(ctx context.Context, s Store, o RunOptions) (Result, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	start := time.Now()
	created := now().UTC().Truncate(time.Second)
	name := NameAt(created)
	if ok, err := s.Exists(ctx, name); err != nil {
		return Result{}, err
	} else if ok {
		return Result{}, fmt.Errorf("%s already exists (one backup per second at most)", s.URL(name))
	}
	dbname, env, err := connArgs(o.DatabaseURL)
	if err != nil {
		return Result{}, fmt.Errorf("DATABASE_URL: %w", err)
	}
	bin, err := o.Tools.path("pg_dump", o.Tools.PGDump)
	if err != nil {
		return Result{}, err
	}
	expect := o.ExpectedSize
	if expect == 0 {
		expect = databaseSize(ctx, o.DatabaseURL)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--format=custom", "--no-owner", "--no-acl", "--no-password", "--dbname="+dbname)
	cmd.Env = toolEnv(env)
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("start pg_dump: %w", err)
	}
	src := &dumpReader{r: stdout, h: sha256.New(), cmd: cmd, stderr: stderr, progress: o.Progress}
	sum := func() string { return hex.EncodeToString(src.h.Sum(nil)) }
	err = s.Write(ctx, name, src, sum, expect)
	if !src.waited {
		// The store stopped reading early (its own failure): stop pg_dump and reap it.
		cancel()
		_ = cmd.Wait()
		if err == nil {
			_ = s.Delete(context.WithoutCancel(ctx), name)
			err = errors.New("the store finished before pg_dump's output ended")
		}
	}
	if err != nil {
		var re *readError
		if errors.As(err, &re) {
			err = re.err
		}
		return Result{}, err
	}
	return Result{
		Dump:    Dump{Name: name, Size: src.n, Created: created, SHA256: sum(), Location: s.URL(name)},
		Elapsed: time.Since(start),
	}, nil
}

// dumpReader reads pg_dump's stdout, hashing and counting it. At the end of the output it
// waits for pg_dump and turns a failed exit into a read error, so the store aborts the
// upload instead of completing a truncated dump.
type dumpReader struct {
	r        io.Reader
	h        hash.Hash
	n        int64
	cmd      *exec.Cmd
	stderr   *tailBuffer
	progress func(int64)
	waited   bool
}

// readError marks an error that came from the source (pg_dump), not from the store.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

func (d *dumpReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if n > 0 {
		d.h.Write(p[:n])
		d.n += int64(n)
		if d.progress != nil {
			d.progress(d.n)
		}
	}
	if err == io.EOF && !d.waited {
		d.waited = true
		if werr := d.cmd.Wait(); werr != nil {
			return n, &readError{toolError("pg_dump", werr, d.stderr)}
		}
	} else if err != nil && err != io.EOF {
		return n, &readError{fmt.Errorf("read pg_dump output: %w", err)}
	}
	return n, err
}
