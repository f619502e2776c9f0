package channels

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/platform/apperr"
)

func webIn(ws, agent, customer, content string) Inbound {
	return Inbound{WorkspaceID: ws, AgentID: agent, ChannelType: ChannelWeb, CustomerID: customer, CustomerName: "Ada", Content: content}
}

// An answer is stored with confidence, latency and sources, charged once and published.
func TestRespondStoresChargesAndResolves(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, nil)

	rep := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Where is my order?"))
	if rep.Message == nil || rep.Message.Role != RoleAssistant || rep.Message.Content != "Answer to: Where is my order?" {
		t.Fatalf("reply = %+v", rep.Message)
	}
	if rep.Message.Confidence == nil || *rep.Message.Confidence != 0.9 || rep.Message.LatencyMs == nil || len(rep.Message.Sources) != 1 {
		t.Fatalf("reply lacks confidence/latency/sources: %+v", rep.Message)
	}
	if got := ce.balance(t, w.ID); got != 9 {
		t.Fatalf("balance = %d, want 9", got)
	}
	if n := ce.count(t, `SELECT count(*) FROM credit_ledger WHERE idempotency_key = $1`, "reply:"+rep.Message.ID); n != 1 {
		t.Fatalf("ledger rows for the reply = %d", n)
	}
	// The same customer's next message lands in the same conversation, with the history.
	rep2 := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Thanks"))
	if rep2.ConversationID != rep.ConversationID {
		t.Fatalf("second message opened another conversation")
	}
	// Another customer gets another conversation.
	if rep3 := ce.respond(t, webIn(w.ID, ag, "visitor-2", "Hi")); rep3.ConversationID == rep.ConversationID {
		t.Fatalf("another customer shares the conversation")
	}
	if got := ce.roles(t, rep.ConversationID); !slices.Equal(got, []string{"USER", "ASSISTANT", "USER", "ASSISTANT"}) {
		t.Fatalf("roles = %v", got)
	}
	for _, typ := range []string{"user_message", "new_message", "credits_updated"} {
		if ce.count(t, `SELECT count(*) FROM realtime_events WHERE workspace_id = $1 AND type = $2`, w.ID, typ) == 0 {
			t.Fatalf("no %s event", typ)
		}
	}
	// A RESOLVED conversation is not resumed: the customer's next message opens a new one.
	if res := ce.Do(reqPatch("/v1/conversations/"+rep.ConversationID, w.Token, map[string]any{"status": "RESOLVED"})); res.Status != 200 {
		t.Fatalf("resolve: %d %s", res.Status, res.Body)
	}
	if rep4 := ce.respond(t, webIn(w.ID, ag, "visitor-1", "One more thing")); rep4.ConversationID == rep.ConversationID {
		t.Fatalf("a resolved conversation was resumed by the resolver")
	}
}

// A redelivered channel message is stored once and answered once.
func TestRespondDedupesChannelMessageID(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, nil)
	in := webIn(w.ID, ag, "visitor-1", "Hello")
	in.ChannelMsgID = "wamid.123"
	first := ce.respond(t, in)
	again := ce.respond(t, in)
	if first.Duplicate || !again.Duplicate || again.UserMessageID != first.UserMessageID || again.Message != nil {
		t.Fatalf("first %+v, again %+v", first, again)
	}
	if ce.resp.answerCalls() != 1 || ce.balance(t, w.ID) != 9 {
		t.Fatalf("answered %d times, balance %d", ce.resp.answerCalls(), ce.balance(t, w.ID))
	}
	if n := ce.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND role = 'USER'`, first.ConversationID); n != 1 {
		t.Fatalf("USER messages = %d", n)
	}
}

// Credits are checked before any AI call: customers get the fallback text, the dashboard
// chat (Strict) a 402.
func TestRespondWithoutCreditsMakesNoAICall(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 0)
	ag := ce.agent(t, w, nil)

	rep := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Hello?"))
	if rep.Message == nil || rep.Message.Role != RoleSystem || rep.Message.Content != TextNoCredits {
		t.Fatalf("reply = %+v", rep.Message)
	}
	in := webIn(w.ID, ag, "dashboard-user", "Hello?")
	in.Strict = true
	_, err := ce.mod.svc.Respond(context.Background(), in, nil)
	if apperr.CodeOf(err) != apperr.InsufficientCredits {
		t.Fatalf("strict err = %v, want INSUFFICIENT_CREDITS", err)
	}
	if ce.resp.answerCalls() != 0 {
		t.Fatalf("the responder was called %d times at 0 credits", ce.resp.answerCalls())
	}
	if ce.balance(t, w.ID) != 0 {
		t.Fatal("balance moved")
	}
}

// A provider error or timeout gives the customer the fallback text and charges nothing.
func TestRespondProviderErrorFallsBack(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, nil)
	for name, perr := range map[string]error{"error": errProvider, "timeout": context.DeadlineExceeded} {
		t.Run(name, func(t *testing.T) {
			ce.resp.setAnswer(func(context.Context, agents.AnswerRequest) (agents.Answer, error) { return agents.Answer{}, perr })
			rep := ce.respond(t, webIn(w.ID, ag, "visitor-"+name, "Hello"))
			if rep.Message == nil || rep.Message.Content != TextProviderError || rep.Message.Role != RoleSystem {
				t.Fatalf("reply = %+v", rep.Message)
			}
		})
	}
	if ce.balance(t, w.ID) != 10 {
		t.Fatalf("charged for failed answers: balance %d", ce.balance(t, w.ID))
	}
}

// An inactive agent answers with its canned text, without an AI call or a charge.
func TestRespondInactiveAgentCannedReply(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, map[string]any{"status": "INACTIVE"})
	rep := ce.respond(t, webIn(w.ID, ag, "v", "Hi"))
	if rep.Message == nil || rep.Message.Content != "This assistant is offline right now." || ce.resp.answerCalls() != 0 || ce.balance(t, w.ID) != 10 {
		t.Fatalf("reply %+v, calls %d, balance %d", rep.Message, ce.resp.answerCalls(), ce.balance(t, w.ID))
	}
}

// Two messages at the same moment into one conversation: each gets its own answer, the
// turns do not interleave, and exactly two credits are taken.
func TestRespondConcurrentMessagesAreSerialised(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, nil)
	first := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Start"))
	// Each answer waits (up to 500 ms) for the other to arrive: unserialised answers would
	// then overlap for certain; serialised ones wait out the window alone.
	arrived := make(chan struct{}, 2)
	ce.resp.setAnswer(func(_ context.Context, req agents.AnswerRequest) (agents.Answer, error) {
		arrived <- struct{}{}
		deadline := time.After(500 * time.Millisecond)
		for len(arrived) < 2 {
			select {
			case <-deadline:
				return agents.Answer{Content: "Answer to: " + req.Message, Scores: agents.Scores{Composite: 0.9}, Scored: true}, nil
			case <-time.After(5 * time.Millisecond):
			}
		}
		time.Sleep(20 * time.Millisecond)
		return agents.Answer{Content: "Answer to: " + req.Message, Scores: agents.Scores{Composite: 0.9}, Scored: true}, nil
	})

	var wg sync.WaitGroup
	reps := make([]Reply, 2)
	errs := make([]error, 2)
	start := make(chan struct{})
	for i, text := range []string{"first question", "second question"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			in := webIn(w.ID, ag, "visitor-1", text)
			in.ConversationID = first.ConversationID
			reps[i], errs[i] = ce.mod.svc.Respond(context.Background(), in, nil)
		}()
	}
	close(start)
	wg.Wait()
	for i := range reps {
		if errs[i] != nil || reps[i].Message == nil || reps[i].Message.Role != RoleAssistant {
			t.Fatalf("reply %d: %+v, %v", i, reps[i].Message, errs[i])
		}
	}
	if reps[0].Message.Content == reps[1].Message.Content {
		t.Fatalf("both got the same answer %q", reps[0].Message.Content)
	}
	if ce.resp.maxIn != 1 {
		t.Fatalf("%d answers were generated at once for one conversation", ce.resp.maxIn)
	}
	if got := ce.roles(t, first.ConversationID); !slices.Equal(got, []string{"USER", "ASSISTANT", "USER", "ASSISTANT", "USER", "ASSISTANT"}) {
		t.Fatalf("turns interleaved: %v", got)
	}
	// Each answer follows its own question.
	var contents []string
	if err := ce.DB.SelectContext(context.Background(), &contents, `SELECT content FROM messages WHERE conversation_id = $1 ORDER BY created_at, id`, first.ConversationID); err != nil {
		t.Fatal(err)
	}
	for i := 2; i < len(contents); i += 2 {
		if contents[i+1] != "Answer to: "+contents[i] {
			t.Fatalf("answer %q follows question %q", contents[i+1], contents[i])
		}
	}
	if ce.balance(t, w.ID) != 7 {
		t.Fatalf("balance = %d, want 7 (three replies)", ce.balance(t, w.ID))
	}
}

// A human reply while the AI is answering wins: the conversation is HANDED_OFF, the AI's
// answer is not stored and not charged, and the AI stays silent until re-opened.
func TestHumanReplyRacesAIReply(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	member := ce.AddMember(w, "MEMBER")
	ag := ce.agent(t, w, nil)
	first := ce.respond(t, webIn(w.ID, ag, "visitor-1", "Hello"))

	entered, release := make(chan struct{}), make(chan struct{})
	ce.resp.setAnswer(func(_ context.Context, req agents.AnswerRequest) (agents.Answer, error) {
		close(entered)
		<-release
		return agents.Answer{Content: "late AI answer", Scores: agents.Scores{Composite: 0.9, Factual: 0.9, Intent: 0.9, Emotional: 0.9}, Scored: true}, nil
	})
	done := make(chan Reply)
	go func() {
		in := webIn(w.ID, ag, "visitor-1", "Are you there?")
		rep, err := ce.mod.svc.Respond(context.Background(), in, nil)
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	<-entered
	res := ce.Post("/v1/conversations/"+first.ConversationID+"/messages", member.Token, map[string]any{"content": "Hi, I'm Sam from support."})
	if res.Status != http.StatusCreated || res.Map(t)["role"] != RoleHumanAgent {
		t.Fatalf("human reply: %d %s", res.Status, res.Body)
	}
	close(release)
	rep := <-done
	if rep.Message != nil {
		t.Fatalf("AI reply stored after a human took over: %+v", rep.Message)
	}
	if n := ce.count(t, `SELECT count(*) FROM messages WHERE content = 'late AI answer'`); n != 0 {
		t.Fatal("the late AI answer is stored")
	}
	if ce.balance(t, w.ID) != 9 {
		t.Fatalf("balance = %d, want 9 (only the first reply)", ce.balance(t, w.ID))
	}
	if st := ce.str(t, `SELECT status FROM conversations WHERE id = $1`, first.ConversationID); st != StatusHandedOff {
		t.Fatalf("status = %s", st)
	}

	// The AI stays silent while a human has the conversation…
	calls := ce.resp.answerCalls()
	if rep := ce.respond(t, webIn(w.ID, ag, "visitor-1", "ok")); rep.Message != nil || rep.ConversationID != first.ConversationID {
		t.Fatalf("AI answered a handed-off conversation: %+v", rep)
	}
	if ce.resp.answerCalls() != calls {
		t.Fatal("responder called for a handed-off conversation")
	}
	// …and answers again once re-opened.
	ce.resp.setAnswer(nil)
	if res := ce.Do(reqPatch("/v1/conversations/"+first.ConversationID, member.Token, map[string]any{"status": "OPEN"})); res.Status != 200 || res.Map(t)["status"] != "OPEN" {
		t.Fatalf("re-open: %d %s", res.Status, res.Body)
	}
	if rep := ce.respond(t, webIn(w.ID, ag, "visitor-1", "back again")); rep.Message == nil || rep.Message.Role != RoleAssistant {
		t.Fatalf("AI silent after re-open: %+v", rep)
	}
}

// A non-WEB reply is enqueued for delivery; when it cannot be delivered at all (here: no
// outbound senders configured) the job marks the message FAILED with the reason.
func TestSendJobWithoutSenderFailsClearly(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, nil)
	in := webIn(w.ID, ag, "+15550001111", "Hi by SMS")
	in.ChannelType = "SMS"
	rep := ce.respond(t, in)
	if rep.Message == nil || rep.Message.DeliveryStatus == nil || *rep.Message.DeliveryStatus != deliveryPending {
		t.Fatalf("reply = %+v", rep.Message)
	}
	if n := ce.count(t, `SELECT count(*) FROM river_job WHERE kind = 'channels.send_message' AND args->>'messageId' = $1`, rep.Message.ID); n != 1 {
		t.Fatalf("send jobs = %d", n)
	}
	err := ce.mod.svc.deliver(context.Background(), w.ID, rep.Message.ID, false)
	var p errPermanent
	if !errors.As(err, &p) {
		t.Fatalf("deliver err = %v, want permanent", err)
	}
	if st := ce.str(t, `SELECT delivery_status FROM messages WHERE id = $1`, rep.Message.ID); st != deliveryFailed {
		t.Fatalf("delivery_status = %s", st)
	}
	if why := ce.str(t, `SELECT metadata->>'deliveryError' FROM messages WHERE id = $1`, rep.Message.ID); why == "" {
		t.Fatal("no deliveryError reason")
	}
}
