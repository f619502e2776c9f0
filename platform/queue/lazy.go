package queue

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Lazy is the Inserter handed to modules before the River client exists (the client needs
// the modules' workers first). Set installs the client; inserting before that is an error.
type Lazy struct {
	c atomic.Pointer[Client]
}

// ErrNoClient is returned when a job is inserted before the client was installed.
var ErrNoClient = errors.New("queue: no river client installed yet")

// Set installs the client.
func (l *Lazy) Set(c *Client) { l.c.Store(c) }

// InsertTx inserts one job in tx.
func (l *Lazy) InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	c := l.c.Load()
	if c == nil {
		return nil, ErrNoClient
	}
	return c.InsertTx(ctx, tx, args, opts)
}

// InsertManyTx inserts several jobs in tx.
func (l *Lazy) InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	c := l.c.Load()
	if c == nil {
		return nil, ErrNoClient
	}
	return c.InsertManyTx(ctx, tx, params)
}
