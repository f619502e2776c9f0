package pg

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/lib/pq"
)

// maxStmts bounds the prepared statements of one connection: the application's queries are
// constants, so the hot ones are prepared within the first requests; a query past the bound
// runs unprepared as before.
const maxStmts = 64

// prepared returns the connection's prepared statement of q, preparing it on first use, or
// nil to run q unprepared (no arguments: lib/pq's simple protocol is one round trip already;
// the bound is reached). A failed prepare is the query's error: the unprepared run would
// fail the same way (lib/pq parses and describes it too), and in a transaction the failure
// has already aborted it. lib/pq runs a query with arguments as Parse +
// Describe, then Bind + Execute: two round trips and a parse and analysis by Postgres every
// time; a prepared statement is one round trip (Bind + Execute) and is parsed once per
// connection. database/sql hands a connection to one goroutine at a time, so the map needs
// no lock.
func (s *slowConn) prepared(ctx context.Context, q string, args []driver.NamedValue) (driver.Stmt, error) {
	if len(args) == 0 {
		return nil, nil
	}
	if st, ok := s.stmts[q]; ok {
		return st, nil
	}
	if len(s.stmts) >= maxStmts {
		return nil, nil
	}
	st, err := s.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	_, qc := st.(driver.StmtQueryContext)
	_, ec := st.(driver.StmtExecContext)
	if !qc || !ec {
		_ = st.Close()
		return nil, nil
	}
	if s.stmts == nil {
		s.stmts = map[string]driver.Stmt{}
	}
	s.stmts[q] = st
	return st, nil
}

// stale reports whether err says the statement's plan no longer fits its tables (a schema
// change while the connection lived, "cached plan must not change result type"): the
// statement is forgotten, and outside a transaction the caller runs q unprepared; inside
// one the error stands (the transaction is aborted; the caller retries it whole).
func (s *slowConn) stale(q string, err error) bool {
	var pe *pq.Error
	if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "cached plan") {
		return false
	}
	if st, ok := s.stmts[q]; ok {
		delete(s.stmts, q)
		if !s.inTx {
			_ = st.Close() // in an aborted transaction it stays until the connection closes
		}
	}
	return !s.inTx
}
