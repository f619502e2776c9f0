package pg_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/pg"
)

// closedPortError is what lib/pq returns when nothing listens on the database's port.
func closedPortError(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	d, err := sql.Open("postgres", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/x?sslmode=disable&connect_timeout=2", addr.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = d.PingContext(ctx)
	if err == nil {
		t.Fatal("ping of a closed port succeeded")
	}
	return err
}

func TestIsUnavailable(t *testing.T) {
	refused := closedPortError(t)
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"connection refused, wrapped", apperr.Wrap(apperr.Internal, "x", fmt.Errorf("load user: %w", refused)), true},
		{"bad connection", fmt.Errorf("query: %w", driver.ErrBadConn), true},
		{"pool timeout", pg.ErrPoolTimeout, true},
		{"admin shutdown", &pq.Error{Code: "57P01"}, true},
		{"starting up", &pq.Error{Code: "57P03"}, true},
		{"too many connections", &pq.Error{Code: "53300"}, true},
		{"connection failure", &pq.Error{Code: "08006"}, true},
		{"statement timeout", &pq.Error{Code: "57014"}, false},
		{"unique violation", &pq.Error{Code: "23505"}, false},
		{"no rows", sql.ErrNoRows, false},
		{"a bug", errors.New("nil map"), false},
		{"nil", nil, false},
	} {
		if got := pg.IsUnavailable(c.err); got != c.want {
			t.Errorf("%s: IsUnavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
