package pg

import (
	"context"
	"database/sql/driver"
	"log/slog"
	"time"
)

// slowConnector wraps lib/pq's connector so that every statement is timed at the driver,
// whatever issued it (sqlx, River through database/sql, COPY).
type slowConnector struct {
	driver.Connector
	threshold time.Duration
	log       *slog.Logger
	onSlow    func(ctx context.Context, query string, d time.Duration)
}

func (c *slowConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &slowConn{Conn: conn, c: c}, nil
}

func (c *slowConnector) observe(ctx context.Context, query string, start time.Time) {
	d := time.Since(start)
	if d < c.threshold {
		return
	}
	if len(query) > 500 {
		query = query[:500] + "…"
	}
	c.log.WarnContext(ctx, "slow query", "durationMs", d.Milliseconds(), "query", query)
	if c.onSlow != nil {
		c.onSlow(ctx, query, d)
	}
}

// slowConn forwards every optional interface lib/pq's conn implements.
type slowConn struct {
	driver.Conn
	c *slowConnector
	// stmts are this connection's prepared statements of queries with arguments (stmts.go).
	stmts map[string]driver.Stmt
	inTx  bool
}

var (
	_ driver.QueryerContext     = (*slowConn)(nil)
	_ driver.ExecerContext      = (*slowConn)(nil)
	_ driver.ConnBeginTx        = (*slowConn)(nil)
	_ driver.ConnPrepareContext = (*slowConn)(nil)
	_ driver.Pinger             = (*slowConn)(nil)
	_ driver.SessionResetter    = (*slowConn)(nil)
	_ driver.Validator          = (*slowConn)(nil)
	_ driver.NamedValueChecker  = (*slowConn)(nil)
)

func (s *slowConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	defer s.c.observe(ctx, q, time.Now())
	st, err := s.prepared(ctx, q, args)
	if err != nil {
		return nil, err
	}
	if st != nil {
		rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
		if err == nil || !s.stale(q, err) {
			return rows, err
		}
	}
	return s.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (s *slowConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	defer s.c.observe(ctx, q, time.Now())
	st, err := s.prepared(ctx, q, args)
	if err != nil {
		return nil, err
	}
	if st != nil {
		res, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
		if err == nil || !s.stale(q, err) {
			return res, err
		}
	}
	return s.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (s *slowConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := s.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	s.inTx = true
	return connTx{Tx: tx, conn: s}, nil
}

// connTx notes the end of the connection's transaction (stmts.go: a stale statement is
// retried unprepared only outside one).
type connTx struct {
	driver.Tx
	conn *slowConn
}

func (t connTx) Commit() error {
	t.conn.inTx = false
	return t.Tx.Commit()
}

func (t connTx) Rollback() error {
	t.conn.inTx = false
	return t.Tx.Rollback()
}

func (s *slowConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := s.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &slowStmt{Stmt: st, q: q, c: s.c, conn: s}, nil
}

func (s *slowConn) Ping(ctx context.Context) error { return s.Conn.(driver.Pinger).Ping(ctx) }

func (s *slowConn) ResetSession(ctx context.Context) error {
	return s.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (s *slowConn) IsValid() bool { return s.Conn.(driver.Validator).IsValid() }

func (s *slowConn) CheckNamedValue(nv *driver.NamedValue) error {
	return s.Conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

// slowStmt times prepared statements, which is how COPY and some drivers' paths run.
type slowStmt struct {
	driver.Stmt
	q    string
	c    *slowConnector
	conn *slowConn
}

func (s *slowStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	defer s.c.observe(ctx, s.q, time.Now())
	if ec, ok := s.Stmt.(driver.StmtExecContext); ok {
		return ec.ExecContext(ctx, args)
	}
	vals, err := namedToValues(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Exec(vals) //nolint:staticcheck // fallback for statements without context support
}

func (s *slowStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	defer s.c.observe(ctx, s.q, time.Now())
	if qc, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return qc.QueryContext(ctx, args)
	}
	vals, err := namedToValues(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Query(vals) //nolint:staticcheck // fallback for statements without context support
}

func (s *slowStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if c, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(nv)
	}
	return s.conn.CheckNamedValue(nv)
}

func namedToValues(args []driver.NamedValue) ([]driver.Value, error) {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out, nil
}
