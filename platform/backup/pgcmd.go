package backup

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Tools names the PostgreSQL client programs. Empty fields are looked up on PATH. Their
// major version must be at least the server's, or pg_dump refuses to run.
type Tools struct {
	PGDump    string
	PGRestore string
}

func (t Tools) path(name, set string) (string, error) {
	if set != "" {
		return set, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH: install the PostgreSQL client tools (postgresql-client) of the server's major version or newer", name)
	}
	return p, nil
}

// libpqOnly are lib/pq connection parameters that libpq (and so pg_dump) rejects as
// invalid URI query parameters.
var libpqOnly = []string{"binary_parameters", "disable_prepared_binary_result", "connection_limit", "pool_timeout"}

// connArgs turns a connection URL into the --dbname argument and extra environment for
// pg_dump or pg_restore. The password moves to PGPASSWORD so it never appears in the
// process list (argv is world-readable through /proc), and parameters only lib/pq knows
// are dropped. A keyword/value string ("host=… dbname=…") passes through unchanged.
func connArgs(raw string) (dbname string, env []string, err error) {
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		if strings.Contains(raw, "://") {
			return "", nil, fmt.Errorf("a database URL must start with postgres:// or postgresql:// (got %q)", RedactURL(raw))
		}
		return raw, nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, fmt.Errorf("unparseable database URL %q", RedactURL(raw))
	}
	if pw, ok := u.User.Password(); ok {
		env = append(env, "PGPASSWORD="+pw)
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	for _, k := range libpqOnly {
		q.Del(k)
	}
	u.RawQuery = q.Encode()
	return u.String(), env, nil
}

// RedactURL hides the password of a connection URL, for messages.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	if i := strings.LastIndex(raw, "@"); i > 0 {
		return "…" + raw[i:]
	}
	return raw
}

// toolEnv is the environment of a child pg_dump/pg_restore: ours plus extra. PGAPPNAME
// makes the session recognisable in pg_stat_activity.
func toolEnv(extra []string) []string {
	return append(append(os.Environ(), "PGAPPNAME=axon-backup"), extra...)
}

// tailBuffer keeps the last max bytes written to it: a child's stderr, which is only
// needed for the error message and must not grow without bound.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// Line returns the captured text as one line: lines joined with "; ".
func (t *tailBuffer) Line() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	for _, l := range bytes.Split(t.b, []byte("\n")) {
		if s := strings.TrimSpace(string(l)); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

// toolError describes a failed child process with its stderr.
func toolError(name string, err error, stderr *tailBuffer) error {
	msg := stderr.Line()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if msg == "" {
			return fmt.Errorf("%s failed (%s)", name, exit.ProcessState)
		}
		return fmt.Errorf("%s failed (%s): %s", name, exit.ProcessState, msg)
	}
	if msg != "" {
		return fmt.Errorf("%s: %v: %s", name, err, msg)
	}
	return fmt.Errorf("%s: %w", name, err)
}
