// Command bare is the baseline server of the HTTP benchmarks: echo with no middleware,
// answering what the measured routes do at their core, on the same Postgres, so that a
// ratio says what Axon's own stack costs on top of the work it cannot avoid.
//
//   - GET /me: the read of GET /v1/auth/me (the user and their workspaces in one query, the
//     same SQL as modules/auth's qMe) for the user id in X-Bench-User, encoded as JSON. The
//     pool has the size of axon's (connection_limit of DATABASE_URL, default 20).
//   - POST /webhook: a bare INSERT of the raw body into a scratch table plus a River insert
//     of a job, in one transaction: the floor of an inbound webhook (verify, store,
//     enqueue). The jobs go to a queue no worker serves and are deleted at exit.
//   - GET /ping: a fixed body, for checking the server is up.
//
// It reads DATABASE_URL and PORT.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	_ "github.com/lib/pq" // database/sql driver "postgres"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/queue"
)

// qMe is modules/auth's qMe (store.go), copied: the baseline must run the same read.
const qMe = `
SELECT u.id, u.email, u.password_hash, u.name, u.email_verified, u.created_at,
       COALESCE((
         SELECT json_agg(json_build_object('workspace_id', m.workspace_id, 'name', w.name, 'slug', w.slug,
                                           'plan', w.plan, 'role', m.role, 'joined_at', m.joined_at)
                         ORDER BY m.joined_at, m.workspace_id)
         FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.user_id = u.id), '[]') AS memberships
FROM users u WHERE u.id = $1`

// Queue is the queue of the baseline's jobs; nothing works it.
const Queue = "bench_baseline"

type baselineArgs struct {
	Event string `json:"event"`
}

func (baselineArgs) Kind() string { return "bench.baseline_inbound" }

func (baselineArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: Queue} }

func main() {
	if err := run(); err != nil {
		slog.Error("bare", "err", err)
		os.Exit(1)
	}
}

func run() error {
	dsn, conns := poolURL(os.Getenv("DATABASE_URL"))
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE UNLOGGED TABLE IF NOT EXISTS bench_inbound (id uuid PRIMARY KEY, body jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	defer func() {
		_, _ = db.ExecContext(context.Background(), `DROP TABLE IF EXISTS bench_inbound`)
		_, _ = db.ExecContext(context.Background(), `DELETE FROM river_job WHERE queue = $1`, Queue)
	}()
	jobs, err := queue.NewInsertOnly(db, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/ping", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/me", func(c echo.Context) error { return me(c, db) })
	e.POST("/webhook", func(c echo.Context) error { return webhook(c, db, jobs) })

	sig, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- e.Start("127.0.0.1:" + os.Getenv("PORT")) }()
	select {
	case <-sig.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return e.Shutdown(sctx)
	case err := <-errc:
		if err == http.ErrServerClosed {
			return nil
		}
		return err
	}
}

type membership struct {
	WorkspaceID string    `json:"workspace_id"`
	Name        string    `json:"name"`
	Slug        string    `json:"slug"`
	Plan        string    `json:"plan"`
	Role        string    `json:"role"`
	JoinedAt    time.Time `json:"joined_at"`
}

func me(c echo.Context, db *sql.DB) error {
	var (
		id, email, hash, name string
		verified              bool
		created               time.Time
		raw                   []byte
	)
	err := db.QueryRowContext(c.Request().Context(), qMe, c.Request().Header.Get("X-Bench-User")).
		Scan(&id, &email, &hash, &name, &verified, &created, &raw)
	if err != nil {
		return c.NoContent(http.StatusNotFound)
	}
	var ms []membership
	if err := json.Unmarshal(raw, &ms); err != nil {
		return err
	}
	type workspace struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Slug string `json:"slug"`
		Plan string `json:"plan"`
		Role string `json:"role"`
	}
	out := struct {
		User struct {
			ID            string    `json:"id"`
			Email         string    `json:"email"`
			Name          string    `json:"name"`
			EmailVerified bool      `json:"emailVerified"`
			CreatedAt     time.Time `json:"createdAt"`
		} `json:"user"`
		Workspaces []workspace `json:"workspaces"`
	}{}
	out.User.ID, out.User.Email, out.User.Name, out.User.EmailVerified, out.User.CreatedAt = id, email, name, verified, created
	for _, m := range ms {
		out.Workspaces = append(out.Workspaces, workspace{m.WorkspaceID, m.Name, m.Slug, m.Plan, m.Role})
	}
	return c.JSON(http.StatusOK, out)
}

func webhook(c echo.Context, db *sql.DB, jobs *queue.Client) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 1<<20))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	id := uuid.Must(uuid.NewV7()).String()
	if _, err := tx.ExecContext(ctx, `INSERT INTO bench_inbound (id, body) VALUES ($1, $2)`, id, body); err != nil {
		return err
	}
	if _, err := jobs.InsertTx(ctx, tx, baselineArgs{Event: id}, nil); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return c.String(http.StatusOK, "ok")
}

// poolURL drops connection_limit/pool_timeout (lib/pq rejects them) and returns the pool
// size axon would use.
func poolURL(raw string) (string, int) {
	u, err := url.Parse(raw)
	if err != nil {
		return raw, 20
	}
	q := u.Query()
	n, err := strconv.Atoi(q.Get("connection_limit"))
	if err != nil || n <= 0 {
		n = 20
	}
	q.Del("connection_limit")
	q.Del("pool_timeout")
	u.RawQuery = q.Encode()
	return u.String(), n
}
