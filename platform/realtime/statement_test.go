package realtime_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// An event published by EventCTE inside the caller's statement is stored and notified as
// Publish's: inline when small (the notification carries the stored payload), by id alone
// when large; nothing for a statement whose source rows are empty.
func TestEventCTEPublishesLikePublish(t *testing.T) {
	db := pgtest.DB(t)
	l := listen(t)
	ws, conv := uuid.NewString(), uuid.NewString()
	q := `WITH src AS (SELECT $1::text AS ws, $2::text AS conv, $3::text AS content WHERE $4), ` +
		realtime.EventCTE("ev", "src", "src.ws", "src.conv", "'"+realtime.TypeNewMessage+"'",
			`jsonb_build_object('conversationId', src.conv, 'message', jsonb_build_object('content', src.content))`) +
		` SELECT 1`
	for _, tc := range []struct {
		name, conv, content string
		inline              bool
	}{
		{"small", conv, "hi", true},
		{"no conversation", "", "hi", true},
		{"large", conv, strings.Repeat("x", 8000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := db.Exec(q, ws, tc.conv, tc.content, true); err != nil {
				t.Fatal(err)
			}
			n := next(l, 5*time.Second)
			if n == nil {
				t.Fatal("no notification")
			}
			p, err := realtime.ParseNotification(n.Extra)
			if err != nil || p.WorkspaceID != ws || p.Inline != tc.inline {
				t.Fatalf("notification %.100q: %+v %v", n.Extra, p, err)
			}
			var row struct {
				Type    string `db:"type"`
				Payload string `db:"payload"`
				Conv    string `db:"conversation_id"`
			}
			if err := db.Get(&row, `SELECT type, payload::text AS payload, COALESCE(conversation_id::text, '') AS conversation_id FROM realtime_events WHERE id = $1`, p.ID); err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(row.Payload), &got); err != nil || got["conversationId"] != tc.conv || row.Conv != tc.conv || row.Type != realtime.TypeNewMessage {
				t.Fatalf("stored %+v (%v)", row, err)
			}
			if tc.inline && (p.Event.Type != row.Type || p.Event.ConversationID != tc.conv || string(p.Event.Payload) != row.Payload) {
				t.Fatalf("inline event %+v, stored %+v", p.Event, row)
			}
		})
	}
	if _, err := db.Exec(q, ws, conv, "none", false); err != nil {
		t.Fatal(err)
	}
	if n := next(l, 300*time.Millisecond); n != nil {
		t.Fatalf("notification without a source row: %q", n.Extra)
	}
}

// JSONTime writes a timestamp as encoding/json writes the UTC time.Time.
func TestJSONTimeMatchesEncodingJSON(t *testing.T) {
	db := pgtest.DB(t)
	for _, ts := range []time.Time{
		time.Date(2026, 11, 30, 12, 49, 46, 123456000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 10, 1000, time.FixedZone("x", 7200)),
		time.Now().Truncate(time.Microsecond),
	} {
		var got string
		if err := db.Get(&got, `SELECT (`+realtime.JSONTime("$1::timestamptz")+`)::text`, ts); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(ts.UTC())
		if got != string(want) {
			t.Errorf("%v: SQL %s, encoding/json %s", ts, got, want)
		}
	}
}
