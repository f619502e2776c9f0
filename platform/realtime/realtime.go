// Package realtime carries dashboard events (new_message, credits_updated, knowledge_ready,
// …). Publishing writes the event to realtime_events and NOTIFYs its id on the same
// connection, so an event published inside a transaction reaches listeners only if and when
// that transaction commits. Every replica LISTENs and fans events out to its SSE clients; the
// table keeps ten minutes of history for Last-Event-ID replay.
package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// Event types (SPEC §5).
const (
	TypeNewMessage                = "new_message"
	TypeUserMessage               = "user_message"
	TypeHandoffTriggered          = "handoff_triggered"
	TypeConversationStatusChanged = "conversation_status_changed"
	TypeAgentStatusChanged        = "agent_status_changed"
	TypeCreditsUpdated            = "credits_updated"
	TypeKnowledgeReady            = "knowledge_ready"
)

// Channel is the Postgres NOTIFY channel.
const Channel = "axon_events"

// ReplayWindow is how long realtime_events keeps an event for Last-Event-ID replay; the ops
// module's prune job deletes older rows.
const ReplayWindow = 10 * time.Minute

// Event is one realtime event for a workspace (optionally about one conversation).
type Event struct {
	WorkspaceID    string
	ConversationID string
	Type           string
	Payload        any
}

// Publisher publishes events. q may be a transaction (delivery on commit) or the pool.
type Publisher interface {
	Publish(ctx context.Context, q sqlx.ExecerContext, ev Event) error
}

// PG is the Postgres publisher.
type PG struct{}

const insertEvent = `
WITH ev AS (
    INSERT INTO realtime_events (workspace_id, conversation_id, type, payload)
    VALUES ($1, NULLIF($2, '')::uuid, $3, $4)
    RETURNING id
)
SELECT pg_notify($5, (SELECT id FROM ev)::text || ':' || $1)`

// Publish stores ev and notifies listeners (on commit when q is a transaction).
func (PG) Publish(ctx context.Context, q sqlx.ExecerContext, ev Event) error {
	if ev.WorkspaceID == "" || ev.Type == "" {
		return fmt.Errorf("realtime: event needs a workspace and a type")
	}
	b, err := json.Marshal(ev.Payload)
	if err != nil {
		return fmt.Errorf("realtime: payload: %w", err)
	}
	if _, err := q.ExecContext(ctx, insertEvent, ev.WorkspaceID, ev.ConversationID, ev.Type, b, Channel); err != nil {
		return fmt.Errorf("realtime: publish %s: %w", ev.Type, err)
	}
	return nil
}

// ParseNotification splits a NOTIFY payload "<id>:<workspaceId>".
func ParseNotification(s string) (id int64, workspaceID string, err error) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			id, err = strconv.ParseInt(s[:i], 10, 64)
			return id, s[i+1:], err
		}
	}
	return 0, "", fmt.Errorf("realtime: bad notification %q", s)
}

// Recorder is a Publisher for tests of modules that only need to see what was published.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Publish records ev.
func (r *Recorder) Publish(_ context.Context, _ sqlx.ExecerContext, ev Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}

// Events returns what was published so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}
