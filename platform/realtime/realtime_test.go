package realtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

func listen(t *testing.T) *pq.Listener {
	t.Helper()
	l := pq.NewListener(pgtest.URL(t), 10*time.Millisecond, time.Second, nil)
	if err := l.Listen(realtime.Channel); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func next(l *pq.Listener, wait time.Duration) *pq.Notification {
	select {
	case n := <-l.Notify:
		return n
	case <-time.After(wait):
		return nil
	}
}

func TestPublishDeliversOnCommitOnly(t *testing.T) {
	db := pgtest.DB(t)
	l := listen(t)
	ws := uuid.NewString()
	ctx := context.Background()

	// Rolled back: neither a row nor a notification.
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := (realtime.PG{}).Publish(ctx, tx, realtime.Event{WorkspaceID: ws, Type: realtime.TypeCreditsUpdated, Payload: map[string]int{"balance": 1}}); err != nil {
			return err
		}
		return errors.New("rollback")
	})
	if err == nil {
		t.Fatal("want the rollback error")
	}
	if n := next(l, 300*time.Millisecond); n != nil {
		t.Fatalf("notification from a rolled-back transaction: %v", n.Extra)
	}

	// Committed: the row exists and its id arrives with the workspace.
	conv := uuid.NewString()
	err = db.InTx(ctx, func(tx *sqlx.Tx) error {
		return (realtime.PG{}).Publish(ctx, tx, realtime.Event{WorkspaceID: ws, ConversationID: conv, Type: realtime.TypeNewMessage, Payload: map[string]string{"content": "hi"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	n := next(l, 5*time.Second)
	if n == nil {
		t.Fatal("no notification after commit")
	}
	parsed, err := realtime.ParseNotification(n.Extra)
	if err != nil || parsed.WorkspaceID != ws || !parsed.Inline || parsed.Event.Type != realtime.TypeNewMessage || parsed.Event.ConversationID != conv {
		t.Fatalf("notification %q: %+v err %v", n.Extra, parsed, err)
	}
	id := parsed.ID
	var row struct {
		Type    string `db:"type"`
		Payload string `db:"payload"`
		Conv    string `db:"conversation_id"`
	}
	if err := db.Get(&row, `SELECT type, payload::text AS payload, conversation_id::text AS conversation_id FROM realtime_events WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if row.Type != realtime.TypeNewMessage || row.Payload != `{"content": "hi"}` || row.Conv != conv {
		t.Errorf("stored event = %+v", row)
	}
}

func TestPublishRejectsIncompleteEvents(t *testing.T) {
	db := pgtest.DB(t)
	if err := (realtime.PG{}).Publish(context.Background(), db, realtime.Event{Type: "x"}); err == nil {
		t.Error("an event without a workspace was accepted")
	}
	for _, bad := range []string{"garbage", "12", "x:ws", "0:ws", "12:", "12:ws:c:type:{not json", "12:ws:c::{}"} {
		if _, err := realtime.ParseNotification(bad); err == nil {
			t.Errorf("bad notification %q parsed", bad)
		}
	}
}
