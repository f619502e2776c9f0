package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Delivery is one stored event as subscribers receive it.
type Delivery struct {
	ID             int64
	WorkspaceID    string
	ConversationID string
	Type           string
	Payload        json.RawMessage
}

type eventRow struct {
	ID             int64  `db:"id"`
	WorkspaceID    string `db:"workspace_id"`
	ConversationID string `db:"conversation_id"`
	Type           string `db:"type"`
	Payload        []byte `db:"payload"`
}

func selectEvents(ctx context.Context, q sqlx.ExtContext, query string, args ...any) ([]*Delivery, error) {
	var rows []eventRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make([]*Delivery, len(rows))
	for i, r := range rows {
		out[i] = &Delivery{ID: r.ID, WorkspaceID: r.WorkspaceID, ConversationID: r.ConversationID, Type: r.Type, Payload: r.Payload}
	}
	return out, nil
}

// store reads realtime_events (the publisher in realtime.go writes them).
type store struct{}

const eventColumns = `id, workspace_id::text AS workspace_id, COALESCE(conversation_id::text, '') AS conversation_id, type, payload::text AS payload`

const qEventsByID = `SELECT ` + eventColumns + ` FROM realtime_events WHERE id = ANY($1) ORDER BY id`

// qEventsSince pages through every workspace's events created since $1 (the hub's catch-up).
const qEventsSince = `
SELECT ` + eventColumns + ` FROM realtime_events
WHERE created_at >= $1 AND id > $2
ORDER BY id LIMIT $3`

// qReplay pages through one workspace's (optionally one conversation's) events after $2
// within the replay window.
const qReplay = `
SELECT ` + eventColumns + ` FROM realtime_events
WHERE workspace_id = $1 AND id > $2 AND created_at > now() - make_interval(secs => $3)
  AND ($4 = '' OR conversation_id = NULLIF($4, '')::uuid)
ORDER BY id LIMIT $5`

func (store) byIDs(ctx context.Context, q sqlx.ExtContext, ids []int64) (map[int64]*Delivery, error) {
	rows, err := selectEvents(ctx, q, qEventsByID, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("realtime: read events: %w", err)
	}
	m := make(map[int64]*Delivery, len(rows))
	for _, r := range rows {
		m[r.ID] = r
	}
	return m, nil
}

func (store) since(ctx context.Context, q sqlx.ExtContext, since time.Time, after int64, limit int) ([]*Delivery, error) {
	rows, err := selectEvents(ctx, q, qEventsSince, since, after, limit)
	if err != nil {
		return nil, fmt.Errorf("realtime: catch up: %w", err)
	}
	return rows, nil
}

func (store) replay(ctx context.Context, q sqlx.ExtContext, workspaceID, conversationID string, after int64, window time.Duration, limit int) ([]*Delivery, error) {
	rows, err := selectEvents(ctx, q, qReplay, workspaceID, after, window.Seconds(), conversationID, limit)
	if err != nil {
		return nil, fmt.Errorf("realtime: replay: %w", err)
	}
	return rows, nil
}
