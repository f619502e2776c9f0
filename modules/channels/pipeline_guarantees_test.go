package channels

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/platform/apperr"
)

// Every way out of Respond leaves the conversation's lease free: the reply's (or fallback's)
// statement releases it, the other paths release it afterwards.
func TestRespondLeavesNoLease(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("BUILDER", 10)
	member := ce.AddMember(w, "MEMBER")
	ag := ce.agent(t, w, nil)
	leased := func(t *testing.T, ws string) {
		t.Helper()
		if n := ce.count(t, `SELECT count(*) FROM conversations WHERE workspace_id = $1 AND (lease_owner IS NOT NULL OR lease_until IS NOT NULL)`, ws); n != 0 {
			t.Fatalf("%d conversations still leased", n)
		}
	}

	first := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Hello"))
	if first.Message == nil || first.Message.Role != RoleAssistant {
		t.Fatalf("reply = %+v", first.Message)
	}
	leased(t, w.ID)

	in := webIn(w.ID, ag, "visitor-1", "Again")
	in.ChannelMsgID = "m-1"
	ce.respond(t, in)
	if rep := ce.respond(t, in); !rep.Duplicate {
		t.Fatalf("not a duplicate: %+v", rep)
	}
	leased(t, w.ID)

	ce.resp.setAnswer(func(context.Context, agents.AnswerRequest) (agents.Answer, error) {
		return agents.Answer{}, errProvider
	})
	if rep := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Broken?")); rep.Message == nil || rep.Message.Content != TextProviderError {
		t.Fatalf("fallback = %+v", rep.Message)
	}
	leased(t, w.ID)
	ce.resp.setAnswer(nil)

	inactive := ce.agent(t, w, map[string]any{"status": "INACTIVE"})
	if rep := ce.respond(t, webIn(w.ID, inactive, "visitor-1", "Hi")); rep.Message == nil || rep.Message.Role != RoleSystem {
		t.Fatalf("canned = %+v", rep.Message)
	}
	leased(t, w.ID)

	// A human has the conversation: silence, and the lease is still released.
	if res := ce.Post("/v1/conversations/"+first.ConversationID+"/messages", member.Token, map[string]any{"content": "Sam here"}); res.Status != 201 {
		t.Fatalf("human reply: %d %s", res.Status, res.Body)
	}
	if rep := ce.respond(t, webIn(w.ID, ag, "visitor-1", "ok")); rep.Message != nil {
		t.Fatalf("AI answered a handed-off conversation: %+v", rep.Message)
	}
	leased(t, w.ID)

	// Too few credits: the fallback text, and the dashboard's 402.
	poor := ce.NewWorkspace("STARTER", 0)
	pag := ce.agent(t, poor, nil)
	if rep := ce.respond(t, webIn(poor.ID, pag, "visitor-2", "Hi")); rep.Message == nil || rep.Message.Content != TextNoCredits {
		t.Fatalf("no-credit fallback = %+v", rep.Message)
	}
	strict := webIn(poor.ID, pag, "visitor-3", "Hi")
	strict.Strict = true
	if _, err := ce.mod.svc.Respond(context.Background(), strict, nil); apperr.CodeOf(err) != apperr.InsufficientCredits {
		t.Fatalf("strict err = %v", err)
	}
	leased(t, poor.ID)
}

// A conversation named by the caller must be the agent's on the channel: anything else is
// NOT_FOUND, and nothing is stored.
func TestRespondNamedConversationMustMatch(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("BUILDER", 10)
	ag := ce.agent(t, w, nil)
	other := ce.agent(t, w, nil)
	rep := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Hello"))
	stranger := ce.NewWorkspace("STARTER", 10)
	sag := ce.agent(t, stranger, nil)

	for name, in := range map[string]Inbound{
		"other agent":     {WorkspaceID: w.ID, AgentID: other, ChannelType: ChannelWeb, ConversationID: rep.ConversationID, Content: "x"},
		"other channel":   {WorkspaceID: w.ID, AgentID: ag, ChannelType: "SMS", ConversationID: rep.ConversationID, Content: "x"},
		"other workspace": {WorkspaceID: stranger.ID, AgentID: sag, ChannelType: ChannelWeb, ConversationID: rep.ConversationID, Content: "x"},
		"unknown":         {WorkspaceID: w.ID, AgentID: ag, ChannelType: ChannelWeb, ConversationID: "0190b0a0-0000-7000-8000-0000000000ff", Content: "x"},
		"malformed":       {WorkspaceID: w.ID, AgentID: ag, ChannelType: ChannelWeb, ConversationID: "not-a-uuid", Content: "x"},
	} {
		if _, err := ce.mod.svc.Respond(context.Background(), in, nil); !errors.Is(err, ErrConversationNotFound) {
			t.Errorf("%s: err = %v, want NOT_FOUND", name, err)
		}
	}
	if got := ce.roles(t, rep.ConversationID); len(got) != 2 {
		t.Fatalf("roles = %v, want the first USER and ASSISTANT only", got)
	}
	// Named in upper case, it is found.
	in := webIn(w.ID, ag, "visitor-1", "Named")
	in.ConversationID = strings.ToUpper(rep.ConversationID)
	if again := ce.respond(t, in); again.ConversationID != rep.ConversationID || again.Message == nil {
		t.Fatalf("named conversation: %+v", again)
	}
}

// The USER message is stored under the lease: while another holder's lease is live nothing
// is stored (the caller gives up with its context here), and once it is free the message
// goes through.
func TestRespondStoresUserMessageOnlyUnderTheLease(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, nil)
	rep := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Hello"))
	ctx := context.Background()
	if _, err := ce.DB.ExecContext(ctx, `UPDATE conversations SET lease_owner = $2, lease_until = now() + interval '1 hour' WHERE id = $1`,
		rep.ConversationID, newID()); err != nil {
		t.Fatal(err)
	}
	in := webIn(w.ID, ag, "visitor-1", "Waiting")
	in.ConversationID = rep.ConversationID
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := ce.mod.svc.Respond(wctx, in, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's deadline", err)
	}
	if n := ce.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND content = 'Waiting'`, rep.ConversationID); n != 0 {
		t.Fatal("the USER message was stored without the lease")
	}
	if n := ce.count(t, `SELECT count(*) FROM conversations WHERE id = $1 AND lease_owner IS NOT NULL`, rep.ConversationID); n != 1 {
		t.Fatal("the other holder's lease was released")
	}
	// An expired lease is taken over.
	if _, err := ce.DB.ExecContext(ctx, `UPDATE conversations SET lease_until = now() - interval '1 second' WHERE id = $1`, rep.ConversationID); err != nil {
		t.Fatal(err)
	}
	if got := ce.respond(t, in); got.Message == nil || got.Message.Role != RoleAssistant {
		t.Fatalf("reply after the lease expired = %+v", got.Message)
	}
}

// A message's insert releases only its owner's lease (a reply that outlived its lease
// does not free a newer holder's).
func TestInsertReleasesOnlyItsOwnersLease(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, nil)
	rep := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Hello"))
	ctx := context.Background()
	svc := ce.mod.svc
	holder, stale := newID(), newID()
	c := convRow{ID: rep.ConversationID, WorkspaceID: w.ID, AgentID: ag, ChannelType: ChannelWeb}
	if err := svc.db.InTx(ctx, func(tx *sqlx.Tx) error {
		_, ok, err := svc.st.takeLease(ctx, tx, w.ID, c.ID, ag, ChannelWeb, holder, leaseTTL)
		if err == nil && !ok {
			err = errors.New("lease not taken")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	owner := func() string {
		return ce.str(t, `SELECT lease_owner::text FROM conversations WHERE id = $1`, c.ID)
	}
	for _, tc := range []struct {
		release, want string
	}{{"", holder}, {stale, holder}, {holder, ""}} {
		if err := svc.db.InTx(ctx, func(tx *sqlx.Tx) error {
			_, err := svc.storeOut(ctx, tx, c, newMsg{Role: RoleSystem, Content: "note", ReleaseLease: tc.release})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got := owner(); got != tc.want {
			t.Fatalf("release %q: lease owner %q, want %q", tc.release, got, tc.want)
		}
	}
	if n := ce.count(t, `SELECT count(*) FROM conversations WHERE id = $1 AND lease_until IS NULL
		AND last_message_at = (SELECT max(created_at) FROM messages WHERE conversation_id = $1)`, c.ID); n != 1 {
		t.Fatal("the insert did not touch the conversation or left lease_until set")
	}
}

// A human who replied while the AI was answering, and then handed the conversation back
// (PATCH status OPEN), still wins over that answer: the conversation is OPEN again, but the
// reply's insert sees the newer HUMAN_AGENT message and stores and charges nothing.
func TestHumanReplyThenReopenDropsTheAIAnswer(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	member := ce.AddMember(w, "MEMBER")
	ag := ce.agent(t, w, nil)
	first := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Hello"))

	entered, release := make(chan struct{}), make(chan struct{})
	ce.resp.setAnswer(func(_ context.Context, req agents.AnswerRequest) (agents.Answer, error) {
		close(entered)
		<-release
		return agents.Answer{Content: "late AI answer", Scores: agents.Scores{Composite: 0.9}, Scored: true}, nil
	})
	done := make(chan Reply)
	go func() {
		rep, err := ce.mod.svc.Respond(context.Background(), webIn(w.ID, ag, "visitor-1", "Are you there?"), nil)
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	<-entered
	if res := ce.Post("/v1/conversations/"+first.ConversationID+"/messages", member.Token, map[string]any{"content": "Sam here."}); res.Status != 201 {
		t.Fatalf("human reply: %d %s", res.Status, res.Body)
	}
	if res := ce.Do(reqPatch("/v1/conversations/"+first.ConversationID, member.Token, map[string]any{"status": "OPEN"})); res.Status != 200 {
		t.Fatalf("re-open: %d %s", res.Status, res.Body)
	}
	close(release)
	if rep := <-done; rep.Message != nil {
		t.Fatalf("AI reply stored after a human replied: %+v", rep.Message)
	}
	if n := ce.count(t, `SELECT count(*) FROM messages WHERE content = 'late AI answer'`); n != 0 {
		t.Fatal("the late AI answer is stored")
	}
	if ce.balance(t, w.ID) != 9 {
		t.Fatalf("balance = %d, want 9 (only the first reply)", ce.balance(t, w.ID))
	}
	if n := ce.count(t, `SELECT count(*) FROM conversations WHERE id = $1 AND lease_owner IS NULL`, first.ConversationID); n != 1 {
		t.Fatal("the lease is still held")
	}
}

// A message answered on a re-run (stored by an attempt that died before answering) gets the
// turns before it, not the ones after.
func TestRerunAnswersWithTheTurnsBeforeTheMessage(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, nil)
	ce.respond(t, webIn(w.ID, ag, "visitor-1", "First"))
	in := webIn(w.ID, ag, "visitor-1", "Second")
	in.ChannelMsgID = "m-2"
	// The first attempt stores the message and dies (the caller goes away) before answering.
	ctx, cancel := context.WithCancel(context.Background())
	ce.resp.setAnswer(func(context.Context, agents.AnswerRequest) (agents.Answer, error) {
		cancel()
		return agents.Answer{}, context.Canceled
	})
	if _, err := ce.mod.svc.Respond(ctx, in, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt: %v", err)
	}
	var got []agents.Turn
	ce.resp.setAnswer(func(_ context.Context, req agents.AnswerRequest) (agents.Answer, error) {
		got = req.History
		return agents.Answer{Content: "Answer to: " + req.Message, Scores: agents.Scores{Composite: 0.9}, Scored: true}, nil
	})
	rep := ce.respond(t, in)
	if rep.Duplicate || rep.Message == nil {
		t.Fatalf("re-run: %+v", rep)
	}
	want := []agents.Turn{{Role: RoleUser, Content: "First"}, {Role: RoleAssistant, Content: "Answer to: First"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("history = %+v, want %+v", got, want)
	}
	// A fresh message gets every turn before it, its own excluded.
	ce.respond(t, webIn(w.ID, ag, "visitor-1", "Third"))
	if len(got) != 4 || got[2].Content != "Second" || got[3].Content != "Answer to: Second" {
		t.Fatalf("history of the third message = %+v", got)
	}
}

// A responder that takes long keeps its lease alive (renewed while it answers), so the
// short leaseTTL only frees the conversations of responders that died.
func TestLeaseRenewedWhileAnswering(t *testing.T) {
	t.Parallel()
	ce := newCoreEnv(t, coreOptions{})
	ce.mod.svc.leaseRenew = 50 * time.Millisecond
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, nil)
	first := ce.respond(t, webIn(w.ID, ag, "visitor-renew", "hello"))
	release := make(chan struct{})
	ce.resp.setAnswer(func(ctx context.Context, req agents.AnswerRequest) (agents.Answer, error) {
		<-release
		return agents.Answer{Content: "late answer", Scores: agents.Scores{Factual: 0.9, Intent: 0.9, Emotional: 0.9, Composite: 0.9}, Scored: true}, nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := ce.mod.svc.Respond(context.Background(), webIn(w.ID, ag, "visitor-renew", "slow one"), nil)
		done <- err
	}()
	// Wait until the slow answer holds the lease, then shorten it to one second: the
	// renewal must push it out again to a full leaseTTL.
	deadline := time.Now().Add(10 * time.Second)
	for ce.count(t, `SELECT count(*) FROM conversations WHERE id = $1 AND lease_owner IS NOT NULL`, first.ConversationID) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow answer never took the lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := ce.DB.Exec(`UPDATE conversations SET lease_until = now() + interval '1 second' WHERE id = $1`, first.ConversationID); err != nil {
		t.Fatal(err)
	}
	for ce.count(t, `SELECT count(*) FROM conversations WHERE id = $1 AND lease_until > now() + interval '10 seconds'`, first.ConversationID) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the lease was not renewed while the answer was being made")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := ce.count(t, `SELECT count(*) FROM conversations WHERE id = $1 AND lease_owner IS NOT NULL`, first.ConversationID); n != 0 {
		t.Fatal("the lease outlived the answer")
	}
}
