package backup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	_ "github.com/lib/pq" // the emptiness check of the restore target
)

// RestoreOptions configures Restore.
type RestoreOptions struct {
	// TargetURL is the database to restore into (postgres:// URL or libpq keyword string).
	TargetURL string
	// Clean drops the dump's objects before recreating them (pg_restore --clean --if-exists)
	// and allows a target that already has tables.
	Clean bool
	// NoVerify restores a dump that has no sha256 sidecar.
	NoVerify bool
	// Tools locates pg_restore; the zero value looks it up on PATH.
	Tools Tools
	// Progress, when set, is called after every read of the dump with the bytes so far.
	Progress func(bytes int64)
}

// ErrTargetNotEmpty is returned when the restore target has tables and Clean is not set.
var ErrTargetNotEmpty = errors.New("target database is not empty")

// ErrChecksum is returned when a dump's sha256 differs from its sidecar.
var ErrChecksum = errors.New("sha256 mismatch")

// holdBack is the size of each read of the dump. The last chunk read is only handed to
// pg_restore once the next one arrived, and the final chunk only after the sha256 has been
// verified: a custom-format archive read from a pipe is consumed to its last byte, so
// pg_restore (running in a single transaction) cannot commit before the check passed.
const holdBack = 256 << 10

// Restore streams the dump called name from s into pg_restore --no-owner --no-acl
// --single-transaction. It refuses a target that has a table in schema public unless
// Clean is set (ErrTargetNotEmpty), and fails with ErrChecksum when the dump's sha256 does
// not match its sidecar; the transaction is then rolled back, leaving the target as it was.
func Restore(ctx context.Context, s Store, name string, o RestoreOptions) (Result, error) {
	start := time.Now()
	name, err := CleanName(name)
	if err != nil {
		return Result{}, err
	}
	want := ""
	if !o.NoVerify {
		if want, err = s.Sum(ctx, name); err != nil {
			if errors.Is(err, ErrNoSum) {
				if ok, _ := s.Exists(ctx, name); !ok {
					return Result{}, fmt.Errorf("%w: %s (see `axon backup list`)", ErrNotFound, s.URL(name))
				}
				return Result{}, fmt.Errorf("%w (the backup may not have finished); pass --no-verify to restore it unchecked", err)
			}
			return Result{}, err
		}
	}
	dbname, env, err := connArgs(o.TargetURL)
	if err != nil {
		return Result{}, fmt.Errorf("--target-url: %w", err)
	}
	bin, err := o.Tools.path("pg_restore", o.Tools.PGRestore)
	if err != nil {
		return Result{}, err
	}
	if err := checkTarget(ctx, o.TargetURL, o.Clean); err != nil {
		return Result{}, err
	}
	src, size, err := s.Open(ctx, name)
	if err != nil {
		return Result{}, err
	}
	defer src.Close()

	args := []string{"--no-owner", "--no-acl", "--no-password", "--single-transaction", "--exit-on-error"}
	if o.Clean {
		args = append(args, "--clean", "--if-exists")
	}
	args = append(args, "--dbname="+dbname)
	rctx, kill := context.WithCancel(ctx)
	defer kill()
	cmd := exec.CommandContext(rctx, bin, args...)
	cmd.Env = toolEnv(env)
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("start pg_restore: %w", err)
	}

	h := sha256.New()
	var n int64
	bufs := [2][]byte{make([]byte, holdBack), make([]byte, holdBack)}
	held, hi := 0, 0 // bytes waiting in bufs[hi]
	var writeErr error
	eof := false
	for {
		cur := bufs[1-hi]
		m, rerr := io.ReadFull(src, cur)
		if m > 0 {
			h.Write(cur[:m])
			n += int64(m)
			if o.Progress != nil {
				o.Progress(n)
			}
			if held > 0 && writeErr == nil {
				_, writeErr = stdin.Write(bufs[hi][:held])
			}
			hi, held = 1-hi, m
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			eof = true
			break
		}
		if rerr != nil {
			kill()
			_ = cmd.Wait()
			return Result{}, fmt.Errorf("read %s: %w (nothing was restored)", s.URL(name), rerr)
		}
		if writeErr != nil && want == "" {
			break // pg_restore has failed and there is no checksum to finish
		}
	}

	got := hex.EncodeToString(h.Sum(nil))
	if want != "" && got != want {
		kill()
		if werr := cmd.Wait(); werr == nil {
			return Result{}, fmt.Errorf("%w for %s: sidecar says %s, the dump hashes to %s; pg_restore had already finished, so the target may hold damaged data", ErrChecksum, name, want, got)
		}
		return Result{}, fmt.Errorf("%w for %s: sidecar says %s, the dump hashes to %s (%d bytes); the dump is damaged and nothing was restored", ErrChecksum, name, want, got, n)
	}
	if writeErr == nil {
		_, writeErr = stdin.Write(bufs[hi][:held])
	}
	stdin.Close()
	if werr := cmd.Wait(); werr != nil {
		err := toolError("pg_restore", werr, stderr)
		if want != "" {
			return Result{}, fmt.Errorf("%w (the dump's sha256 matches; nothing was restored)", err)
		}
		return Result{}, fmt.Errorf("%w (nothing was restored)", err)
	}
	if writeErr != nil {
		// pg_restore exited 0 without taking the whole dump: the target may be incomplete.
		return Result{}, fmt.Errorf("write %s to pg_restore: %w (pg_restore exited without reading the whole dump; check the target)", s.URL(name), writeErr)
	}
	if eof && size > 0 && n != size {
		return Result{}, fmt.Errorf("read %d of %d bytes of %s", n, size, s.URL(name))
	}
	return Result{
		Dump:    Dump{Name: name, Size: n, SHA256: got, Location: s.URL(name)},
		Elapsed: time.Since(start),
	}, nil
}

// checkTarget connects to the target and refuses one with a table in schema public unless
// clean is set.
func checkTarget(ctx context.Context, target string, clean bool) error {
	db, err := sql.Open("postgres", pqURL(target))
	if err != nil {
		return fmt.Errorf("--target-url: %w", err)
	}
	defer db.Close()
	var tables int
	err = db.QueryRowContext(ctx, `
		SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')`).Scan(&tables)
	if err != nil {
		return fmt.Errorf("connect to the restore target %s: %w", RedactURL(target), err)
	}
	if tables > 0 && !clean {
		return fmt.Errorf("%w: %s has %d tables in schema public; pass --clean to drop and recreate the dump's objects", ErrTargetNotEmpty, RedactURL(target), tables)
	}
	return nil
}

// pqURL adapts a libpq connection string for lib/pq: it drops the pool parameters lib/pq
// would send to the server as settings, and defaults sslmode to libpq's "prefer" (lib/pq's
// own default is "require"), so the check connects wherever pg_restore will.
func pqURL(raw string) string {
	defaultSSL := os.Getenv("PGSSLMODE") == ""
	if !strings.Contains(raw, "://") {
		if defaultSSL && !strings.Contains(raw, "sslmode") {
			raw += " sslmode=prefer"
		}
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Del("connection_limit")
	q.Del("pool_timeout")
	if defaultSSL && q.Get("sslmode") == "" {
		q.Set("sslmode", "prefer")
	}
	u.RawQuery = q.Encode()
	return u.String()
}
