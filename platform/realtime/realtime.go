// Package realtime carries dashboard events (new_message, credits_updated, knowledge_ready,
// …). Publishing writes the event to realtime_events and NOTIFYs its id on the same
// connection, so an event published inside a transaction reaches listeners only if and when
// that transaction commits. Every serve replica runs one Hub: it LISTENs and fans events out to
// its SSE clients (GET /v1/events); the table keeps ten minutes of history for Last-Event-ID
// replay and for the hub's catch-up after its LISTEN connection was lost.
package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// Event types of GET /v1/events.
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
SELECT pg_notify($5, (SELECT id FROM ev)::text || ':' || $1 || $6)`

// inlineMax bounds the part of a notification after "<id>:<workspaceId>". NOTIFY refuses
// payloads of 8,000 bytes or more; id and workspace take at most 20+1+36 bytes.
const inlineMax = 7800

// Publish stores ev and notifies listeners (on commit when q is a transaction). A small event
// travels whole in the notification ("<id>:<ws>:<conversationId>:<type>:<payload>"); a larger
// one sends only "<id>:<ws>" and listeners read the row.
func (PG) Publish(ctx context.Context, q sqlx.ExecerContext, ev Event) error {
	if ev.WorkspaceID == "" || ev.Type == "" || strings.Contains(ev.Type, ":") {
		return fmt.Errorf("realtime: event needs a workspace and a type without ':'")
	}
	b, err := json.Marshal(ev.Payload)
	if err != nil {
		return fmt.Errorf("realtime: payload: %w", err)
	}
	inline := ""
	if n := 3 + len(ev.ConversationID) + len(ev.Type) + len(b); n <= inlineMax {
		inline = ":" + ev.ConversationID + ":" + ev.Type + ":" + string(b)
	}
	if _, err := q.ExecContext(ctx, insertEvent, ev.WorkspaceID, ev.ConversationID, ev.Type, b, Channel, inline); err != nil {
		return fmt.Errorf("realtime: publish %s: %w", ev.Type, err)
	}
	return nil
}

// Notification is one parsed NOTIFY payload. Inline is false when only the id and the
// workspace travelled (the event was too large): the row must be read.
type Notification struct {
	ID          int64
	WorkspaceID string
	Inline      bool
	Event       Delivery
}

// ParseNotification splits a NOTIFY payload "<id>:<workspaceId>" or
// "<id>:<workspaceId>:<conversationId>:<type>:<payload JSON>".
func ParseNotification(s string) (Notification, error) {
	parts := strings.SplitN(s, ":", 5)
	if len(parts) != 2 && len(parts) != 5 {
		return Notification{}, fmt.Errorf("realtime: bad notification %.80q", s)
	}
	id, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || id <= 0 || parts[1] == "" {
		return Notification{}, fmt.Errorf("realtime: bad notification %.80q", s)
	}
	n := Notification{ID: id, WorkspaceID: parts[1]}
	if len(parts) == 5 {
		if parts[3] == "" || !json.Valid([]byte(parts[4])) {
			return Notification{}, fmt.Errorf("realtime: bad notification %.80q", s)
		}
		n.Inline = true
		n.Event = Delivery{ID: id, WorkspaceID: parts[1], ConversationID: parts[2], Type: parts[3], Payload: json.RawMessage(parts[4])}
	}
	return n, nil
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
