package channels

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// The USER message's one-statement path (store.leaseStoreUser) writes nothing when the
// conversation changed while it waited for the row's lock (its snapshot would miss the
// message the lock holder stored, for the history and the order); the pipeline's attempt
// (leaseAndStoreUser) then stores the message in the lease's transaction, after the lock
// holder's message and with it in the history; last_message_at is the USER message's
// created_at and user_message is published. (Not parallel: it watches pg_stat_activity for
// the statement's lock wait.)
func TestUserMessageAfterALockHoldersMessage(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, nil)
	first := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Hello"))
	ctx := context.Background()
	svc := ce.mod.svc
	c, err := svc.st.getConversation(ctx, svc.db, w.ID, first.ConversationID, false)
	if err != nil {
		t.Fatal(err)
	}

	_, taken, _ := holdLock(t, ce, c, `%lease_owner = $3%`, "first under the lock", func() (leasedUser, bool, error) {
		return svc.st.leaseStoreUser(ctx, svc.db, c, newID(), leaseTTL, newMsg{Content: "declined"}, historyTurns)
	})
	if taken || ce.count(t, `SELECT count(*) FROM messages WHERE content = 'declined'`) != 0 ||
		ce.count(t, `SELECT count(*) FROM conversations WHERE id = $1 AND lease_owner IS NULL`, c.ID) != 1 {
		t.Fatal("the one-statement path wrote after the conversation changed under it")
	}

	u, taken, held := holdLock(t, ce, c, `%lease_owner = $3%`, "second under the lock", func() (userStored, bool, error) {
		return svc.leaseAndStoreUser(ctx, c, Inbound{Content: "while locked"}, newID())
	})
	if !taken || u.dup || !u.msg.CreatedAt.After(held.CreatedAt) {
		t.Fatalf("taken %v, USER message at %v, the lock holder's at %v", taken, u.msg.CreatedAt, held.CreatedAt)
	}
	if n := len(u.history); n == 0 || u.history[n-1].Content != "second under the lock" {
		t.Fatalf("history = %+v, want the lock holder's message last", u.history)
	}
	if n := ce.count(t, `SELECT count(*) FROM conversations c JOIN messages m ON m.id = $2
		WHERE c.id = $1 AND c.last_message_at = m.created_at AND c.lease_owner IS NOT NULL`, c.ID, u.msg.ID); n != 1 {
		t.Fatal("last_message_at is not the USER message's created_at, or the lease was not taken")
	}
	if n := ce.count(t, `SELECT count(*) FROM realtime_events WHERE type = 'user_message' AND payload->'message'->>'id' = $1
		AND payload->>'conversationId' = $2 AND payload->'message'->>'content' = 'while locked'`, u.msg.ID, c.ID); n != 1 {
		t.Fatalf("user_message events for the message = %d", n)
	}
}

// The reply's one-statement path (store.insertIfOurs) cannot see a human reply committed
// while it waited for the conversation's lock (its snapshot is older): it stores nothing and
// reports the conversation changed, and storeIfOurs checks again with fresh statements, which
// drop the reply. (Not parallel: it watches pg_stat_activity for the statement's lock wait.)
func TestReplyDroppedForAHumanReplyWhileLocked(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, nil)
	first := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Hello"))
	ctx := context.Background()
	svc := ce.mod.svc
	c, err := svc.st.getConversation(ctx, svc.db, w.ID, first.ConversationID, false)
	if err != nil {
		t.Fatal(err)
	}
	user, err := svc.st.getMessage(ctx, svc.db, w.ID, first.UserMessageID, false)
	if err != nil {
		t.Fatal(err)
	}
	reply := func(content string) newMsg {
		return newMsg{Role: RoleAssistant, Content: content, UnlessHumanAfter: &user}
	}

	stale, fresh, _ := holdLock(t, ce, c, `%AS locked FROM conversations%`, "Sam here.", func() (*msgRow, bool, error) {
		var m *msgRow
		var fresh bool
		err := svc.db.InTx(ctx, func(tx *sqlx.Tx) error {
			var err error
			_, m, fresh, err = svc.st.insertIfOurs(ctx, tx, outgoing(c, reply("stale answer")))
			return err
		})
		return m, fresh, err
	})
	if fresh || stale != nil {
		t.Fatalf("insertIfOurs after a change under it: fresh %v, stored %+v", fresh, stale)
	}

	dropped, _, _ := holdLock(t, ce, c, `%AS locked FROM conversations%`, "Sam again.", func() (*msgRow, bool, error) {
		var m *msgRow
		err := svc.db.InTx(ctx, func(tx *sqlx.Tx) error {
			var err error
			_, m, err = svc.storeIfOurs(ctx, tx, c, user, reply("late answer"))
			return err
		})
		return m, true, err
	})
	if dropped != nil {
		t.Fatalf("reply stored after a human replied: %+v", dropped)
	}
	if n := ce.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND content IN ('stale answer', 'late answer')`, c.ID); n != 0 {
		t.Fatalf("%d AI replies stored after a human replied", n)
	}
}

// holdLock runs store while another transaction holds the conversation c's row lock and,
// once a statement whose text is like waiting waits for that lock, stores a HUMAN_AGENT
// message with content in that transaction and commits. It returns store's results and the
// HUMAN_AGENT message.
func holdLock[T any](t *testing.T, ce *coreEnv, c convRow, waiting, content string, store func() (T, bool, error)) (T, bool, msgRow) {
	t.Helper()
	ctx := context.Background()
	svc := ce.mod.svc
	tx, err := svc.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := svc.st.getConversation(ctx, tx, c.WorkspaceID, c.ID, true); err != nil {
		t.Fatal(err)
	}
	type result struct {
		v   T
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, ok, err := store()
		done <- result{v, ok, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for ce.count(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`, waiting) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the statement never waited for the conversation's lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	held, err := svc.storeOut(ctx, tx, c, newMsg{Role: RoleHumanAgent, Content: content})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v, r.ok, held
}
