// Package httpbench runs the HTTP scenarios of the benchmark suite against a real `axon serve`
// process and, in the same run, a baseline server (bench/authme/bare) that does only the
// work the route cannot avoid. Env builds both binaries, creates and migrates a database of
// its own (dropped by Close) and starts both servers; Auth and Webhook are the scenarios.
package httpbench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"time"

	_ "github.com/lib/pq" // database/sql driver "postgres"

	"github.com/axonhq/axon/bench/internal/benchenv"
	"github.com/axonhq/axon/bench/internal/load"
)

// Options configures Start.
type Options struct {
	// DatabaseURL is any URL on the Postgres server (DATABASE_URL); the run creates its own
	// database next to it.
	DatabaseURL string
	RedisURL    string
	// Conns is axon's pool size (connection_limit) and the baseline's; default 20.
	Conns int
	// Profile builds axon with -tags pprof so that Auth can take a CPU profile.
	Profile bool
	// Log receives progress lines and the servers' stderr; nil discards them.
	Log io.Writer
}

// FromEnv is the Options of a command-line run: DATABASE_URL and REDIS_URL (the test
// database and Redis of `make setup` when unset), a profiling build when profile, progress
// and the servers' output on stderr when verbose.
func FromEnv(profile, verbose bool) Options {
	o := Options{
		DatabaseURL: benchenv.Get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/axon_test?sslmode=disable"),
		RedisURL:    benchenv.Get("REDIS_URL", "redis://127.0.0.1:6379/0"),
		Profile:     profile,
	}
	if verbose {
		o.Log = os.Stderr
	}
	return o
}

// Env is a running pair of servers on a database of their own.
type Env struct {
	o         Options
	dir       string
	admin     *sql.DB
	dbName    string
	DBURL     string // the run's database, with connection_limit
	ServeURL  string
	BareURL   string
	pprofAddr string
	serve     *exec.Cmd
	bare      *exec.Cmd
}

// Start builds axon and the baseline, creates and migrates the run's database and starts
// both servers. Close undoes all of it.
func Start(o Options) (_ *Env, err error) {
	if o.Conns <= 0 {
		o.Conns = 20
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	e := &Env{o: o}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "axon-bench"); err != nil {
		return nil, err
	}
	fmt.Fprintln(o.Log, "building axon and the baseline server...")
	var tags []string
	if o.Profile {
		tags = append(tags, "pprof")
	}
	axon, err := load.Build(e.dir, ".", "axon", tags...)
	if err != nil {
		return nil, fmt.Errorf("build axon: %w", err)
	}
	bare, err := load.Build(e.dir, "./bench/authme/bare", "bare")
	if err != nil {
		return nil, fmt.Errorf("build baseline: %w", err)
	}

	if e.admin, err = sql.Open("postgres", withDB(o.DatabaseURL, "postgres", false)); err != nil {
		return nil, err
	}
	e.dbName = fmt.Sprintf("axon_bench_http_%d", os.Getpid())
	if _, err := e.admin.Exec(`CREATE DATABASE ` + e.dbName); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	e.DBURL = withDB(o.DatabaseURL, e.dbName, true) + "&connection_limit=" + strconv.Itoa(o.Conns) + "&pool_timeout=10"
	env := append(os.Environ(),
		"APP_ENV=test", "BCRYPT_COST=4", "LOG_LEVEL=error",
		"DATABASE_URL="+e.DBURL, "REDIS_URL="+o.RedisURL,
		// The real limits: the load spreads over many users and addresses instead.
		"RATE_LIMIT_SCALE=1",
	)
	mig := exec.Command(axon, "migrate")
	mig.Env = env
	if out, err := mig.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("migrate: %v: %s", err, out)
	}

	servePort, barePort, pprofPort := freePort(), freePort(), freePort()
	e.ServeURL = "http://127.0.0.1:" + strconv.Itoa(servePort)
	e.BareURL = "http://127.0.0.1:" + strconv.Itoa(barePort)
	e.serve = exec.Command(axon, "serve")
	e.serve.Env = append(env, "PORT="+strconv.Itoa(servePort))
	if o.Profile {
		e.pprofAddr = "127.0.0.1:" + strconv.Itoa(pprofPort)
		e.serve.Env = append(e.serve.Env, "AXON_PPROF_ADDR="+e.pprofAddr)
	}
	e.serve.Stderr, e.serve.Stdout = o.Log, o.Log
	if err := e.serve.Start(); err != nil {
		return nil, err
	}
	e.bare = exec.Command(bare)
	e.bare.Env = append(os.Environ(), "DATABASE_URL="+e.DBURL, "PORT="+strconv.Itoa(barePort))
	e.bare.Stderr, e.bare.Stdout = o.Log, o.Log
	if err := e.bare.Start(); err != nil {
		return nil, err
	}
	if err := load.WaitHTTP(e.ServeURL+"/health", 30*time.Second); err != nil {
		return nil, err
	}
	if err := load.WaitHTTP(e.BareURL+"/ping", 30*time.Second); err != nil {
		return nil, err
	}
	return e, nil
}

// ServePID and BarePID are the servers' process ids (for their peak RSS).
func (e *Env) ServePID() int { return e.serve.Process.Pid }

// BarePID is the baseline server's process id.
func (e *Env) BarePID() int { return e.bare.Process.Pid }

// Close stops both servers and drops the run's database and build directory.
func (e *Env) Close() {
	for _, c := range []*exec.Cmd{e.serve, e.bare} {
		if c != nil && c.Process != nil {
			_ = c.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = c.Process.Kill()
			}
		}
	}
	if e.admin != nil {
		if e.dbName != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, _ = e.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+e.dbName+` WITH (FORCE)`)
			cancel()
		}
		_ = e.admin.Close()
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

// withDB points base at database name, without axon's pool parameters (lib/pq rejects
// them); keepQuery false also drops every other parameter but sslmode.
func withDB(base, name string, keepQuery bool) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + name
	q := u.Query()
	if !keepQuery {
		q = url.Values{"sslmode": q["sslmode"]}
	}
	q.Del("connection_limit")
	q.Del("pool_timeout")
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
