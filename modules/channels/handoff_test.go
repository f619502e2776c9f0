package channels

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// fakeTicketing records requests and answers like Zendesk or Freshdesk.
type fakeTicketing struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []ticketReq
	fail bool
}

type ticketReq struct {
	Path, Auth, IdemKey string
	Body                map[string]any
}

func newFakeTicketing(t *testing.T, answer string) *fakeTicketing {
	f := &fakeTicketing{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		f.mu.Lock()
		f.reqs = append(f.reqs, ticketReq{Path: r.URL.Path, Auth: r.Header.Get("Authorization"), IdemKey: r.Header.Get("Idempotency-Key"), Body: m})
		fail := f.fail
		f.mu.Unlock()
		if fail {
			http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTicketing) requests() []ticketReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ticketReq(nil), f.reqs...)
}

func basic(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }

func explicitHandoff(ce *coreEnv) {
	ce.resp.setAnswer(func(context.Context, agents.AnswerRequest) (agents.Answer, error) {
		return agents.Answer{Content: "draft", Scores: agents.Scores{Composite: 0.8}, Handoff: &agents.HandoffDecision{Trigger: TriggerExplicitRequest}}, nil
	})
}

// "I want to talk to a real person": handoff row, SYSTEM text, HANDED_OFF, events, no
// charge; the job summarises and e-mails the owner (NONE destination) once.
func TestExplicitHandoffEmailsOwner(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	admin := ce.AddMember(w, "ADMIN")
	ce.AddMember(w, "MEMBER")
	ag := ce.agent(t, w, nil) // handoff enabled, destination NONE by default
	explicitHandoff(ce)

	rep := ce.respond(t, webIn(w.ID, ag, "visitor-1", "I want to talk to a real person"))
	if rep.Handoff == nil || rep.Handoff.Trigger != TriggerExplicitRequest || rep.Handoff.Destination != DestNone {
		t.Fatalf("handoff = %+v", rep.Handoff)
	}
	want := "Of course! I'm connecting you with a human agent now. They'll be with you shortly."
	if rep.Message == nil || rep.Message.Role != RoleSystem || rep.Message.Content != want {
		t.Fatalf("message = %+v", rep.Message)
	}
	if st := ce.str(t, `SELECT status FROM conversations WHERE id = $1`, rep.ConversationID); st != StatusHandedOff {
		t.Fatalf("status = %s", st)
	}
	if ce.balance(t, w.ID) != 10 {
		t.Fatal("a handoff was charged")
	}
	for _, typ := range []string{"handoff_triggered", "conversation_status_changed"} {
		if ce.count(t, `SELECT count(*) FROM realtime_events WHERE conversation_id = $1 AND type = $2`, rep.ConversationID, typ) != 1 {
			t.Fatalf("no %s event", typ)
		}
	}
	if ce.count(t, `SELECT count(*) FROM river_job WHERE kind = 'channels.handoff' AND args->>'handoffId' = $1`, rep.Handoff.ID) != 1 {
		t.Fatal("no channels.handoff job")
	}
	for range 2 { // a re-run is a no-op
		if err := ce.mod.svc.runHandoff(context.Background(), w.ID, rep.Handoff.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got := ce.str(t, `SELECT summary FROM handoffs WHERE id = $1`, rep.Handoff.ID); got != ce.resp.summary {
		t.Fatalf("summary = %q", got)
	}
	var mails []struct {
		To      string `db:"to"`
		Subject string `db:"subject"`
	}
	if err := ce.DB.SelectContext(context.Background(), &mails, `SELECT "to", subject FROM emails WHERE workspace_id = $1 AND template = 'handoff' ORDER BY "to"`, w.ID); err != nil {
		t.Fatal(err)
	}
	if len(mails) != 2 || (mails[0].To != w.Email && mails[1].To != w.Email) || (mails[0].To != admin.Email && mails[1].To != admin.Email) {
		t.Fatalf("handoff e-mails = %+v, want owner %s and admin %s", mails, w.Email, admin.Email)
	}
	if mails[0].Subject != "[Handoff Required] Customer Ada" {
		t.Fatalf("subject = %q", mails[0].Subject)
	}
	// The AI stays silent afterwards.
	ce.resp.setAnswer(nil)
	if r := ce.respond(t, webIn(w.ID, ag, "visitor-1", "hello?")); r.Message != nil {
		t.Fatalf("AI answered after the handoff: %+v", r.Message)
	}
}

// Zendesk and Freshdesk receive the exact requests; the ticket id is stored; a re-run does
// not open a second ticket; a failing destination falls back to e-mail.
func TestHandoffTickets(t *testing.T) {
	zd := newFakeTicketing(t, `{"ticket":{"id":35436,"status":"new"}}`)
	fd := newFakeTicketing(t, `{"id":1,"status":2,"priority":2}`)
	ce := newCoreEnv(t, coreOptions{zendeskBase: zd.URL, freshdeskBase: fd.URL})
	ctx := context.Background()

	t.Run("zendesk", func(t *testing.T) {
		w := ce.NewWorkspace("STARTER", 10)
		if err := ce.mod.svc.SaveIntegration(ctx, w.ID, DestZendesk, map[string]string{"subdomain": "acme", "email": "agent@acme.test", "apiToken": "zd-token"}); err != nil {
			t.Fatal(err)
		}
		ag := ce.agent(t, w, map[string]any{"handoffDest": "ZENDESK"})
		explicitHandoff(ce)
		rep := ce.respond(t, webIn(w.ID, ag, "visitor-z", "speak to a human please"))
		for range 2 {
			if err := ce.mod.svc.runHandoff(ctx, w.ID, rep.Handoff.ID); err != nil {
				t.Fatal(err)
			}
		}
		reqs := zd.requests()
		if len(reqs) != 1 {
			t.Fatalf("zendesk got %d requests", len(reqs))
		}
		r := reqs[0]
		if r.Path != "/api/v2/tickets.json" || r.Auth != basic("agent@acme.test/token:zd-token") || r.IdemKey == "" {
			t.Fatalf("request = %+v", r)
		}
		tk := r.Body["ticket"].(map[string]any)
		if tk["subject"] != "AI Handoff: Ada" || tk["priority"] != "normal" ||
			tk["comment"].(map[string]any)["body"] != ce.resp.summary ||
			tk["requester"].(map[string]any)["name"] != "Ada" {
			t.Fatalf("ticket = %v", tk)
		}
		if tags, _ := json.Marshal(tk["tags"]); string(tags) != `["axon-ai-handoff","web"]` {
			t.Fatalf("tags = %s", tags)
		}
		if id := ce.str(t, `SELECT external_ticket_id FROM handoffs WHERE id = $1`, rep.Handoff.ID); id != "35436" {
			t.Fatalf("external_ticket_id = %q", id)
		}
		if ce.count(t, `SELECT count(*) FROM emails WHERE workspace_id = $1`, w.ID) != 0 {
			t.Fatal("e-mailed although the ticket was created")
		}
	})

	t.Run("freshdesk", func(t *testing.T) {
		w := ce.NewWorkspace("STARTER", 10)
		if err := ce.mod.svc.SaveIntegration(ctx, w.ID, DestFreshdesk, map[string]string{"domain": "acme", "apiKey": "fd-key"}); err != nil {
			t.Fatal(err)
		}
		ag := ce.agent(t, w, map[string]any{"handoffDest": "FRESHDESK"})
		explicitHandoff(ce)
		in := webIn(w.ID, ag, "ada@customer.test", "escalate this")
		rep := ce.respond(t, in)
		if err := ce.mod.svc.runHandoff(ctx, w.ID, rep.Handoff.ID); err != nil {
			t.Fatal(err)
		}
		reqs := fd.requests()
		if len(reqs) != 1 {
			t.Fatalf("freshdesk got %d requests", len(reqs))
		}
		r := reqs[0]
		if r.Path != "/api/v2/tickets" || r.Auth != basic("fd-key:X") {
			t.Fatalf("request = %+v", r)
		}
		b := r.Body
		if b["subject"] != "AI Handoff: Ada" || b["description"] != ce.resp.summary || b["email"] != "ada@customer.test" ||
			b["priority"] != float64(2) || b["status"] != float64(2) {
			t.Fatalf("body = %v", b)
		}
		if tags, _ := json.Marshal(b["tags"]); string(tags) != `["axon-ai"]` {
			t.Fatalf("tags = %s", tags)
		}
		if id := ce.str(t, `SELECT external_ticket_id FROM handoffs WHERE id = $1`, rep.Handoff.ID); id != "1" {
			t.Fatalf("external_ticket_id = %q", id)
		}
	})

	t.Run("failure falls back to e-mail", func(t *testing.T) {
		zd.mu.Lock()
		zd.fail = true
		zd.mu.Unlock()
		w := ce.NewWorkspace("STARTER", 10)
		if err := ce.mod.svc.SaveIntegration(ctx, w.ID, DestZendesk, map[string]string{"subdomain": "acme", "email": "a@acme.test", "apiToken": "t"}); err != nil {
			t.Fatal(err)
		}
		ag := ce.agent(t, w, map[string]any{"handoffDest": "ZENDESK"})
		explicitHandoff(ce)
		rep := ce.respond(t, webIn(w.ID, ag, "visitor-f", "human please"))
		if err := ce.mod.svc.runHandoff(ctx, w.ID, rep.Handoff.ID); err != nil {
			t.Fatal(err)
		}
		if via := ce.str(t, `SELECT routed_via FROM handoffs WHERE id = $1`, rep.Handoff.ID); via != routedEmailFallback {
			t.Fatalf("routed_via = %q", via)
		}
		if n := ce.count(t, `SELECT count(*) FROM emails WHERE workspace_id = $1 AND "to" = $2 AND template = 'handoff'`, w.ID, w.Email); n != 1 {
			t.Fatalf("fallback e-mails to the owner = %d", n)
		}
	})

	t.Run("no integration falls back to e-mail", func(t *testing.T) {
		w := ce.NewWorkspace("STARTER", 10)
		ag := ce.agent(t, w, map[string]any{"handoffDest": "FRESHDESK"})
		explicitHandoff(ce)
		rep := ce.respond(t, webIn(w.ID, ag, "visitor-n", "human please"))
		if err := ce.mod.svc.runHandoff(ctx, w.ID, rep.Handoff.ID); err != nil {
			t.Fatal(err)
		}
		if ce.count(t, `SELECT count(*) FROM emails WHERE workspace_id = $1`, w.ID) != 1 {
			t.Fatal("no fallback e-mail")
		}
	})
}

// The handoff job runs through River end to end (5 attempts, default queue).
func TestHandoffJobRunsInWorker(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	ce.StartWorker()
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, map[string]any{"handoffDest": "EMAIL_QUEUE"})
	explicitHandoff(ce)
	rep := ce.respond(t, webIn(w.ID, ag, "visitor-1", "connect me to an agent"))
	if rep.Message.Content != "Of course! I'm connecting you with a team member via email now. They'll be with you shortly." {
		t.Fatalf("text = %q", rep.Message.Content)
	}
	apitest.Eventually(t, 15*time.Second, func() bool {
		return ce.count(t, `SELECT count(*) FROM emails WHERE workspace_id = $1 AND template = 'handoff'`, w.ID) == 1
	}, "handoff e-mail enqueued by the worker")
	if n := ce.count(t, `SELECT max_attempts FROM river_job WHERE kind = 'channels.handoff'  AND args->>'handoffId' = $1`, rep.Handoff.ID); n != 5 {
		t.Fatalf("max_attempts = %d", n)
	}
}

func TestHandoffTexts(t *testing.T) {
	cases := map[[2]string]string{
		{TriggerLowConfidence, DestZendesk}:    "This seems like something our support team can better help you with. I've sent them a summary of our conversation.",
		{TriggerAngerDetected, DestLiveAgent}:  "I'm sorry for the frustration. I'm connecting you with a live agent right away.",
		{TriggerBusinessHours, DestEmailQueue}: "I'm currently outside of business hours. I've created a ticket and a team member via email will follow up with you.",
		{TriggerPolicyRule, DestNone}:          "I'm passing you over to a human agent who can help you further.",
	}
	for in, want := range cases {
		if got := HandoffText(in[0], in[1]); got != want {
			t.Errorf("HandoffText%v = %q, want %q", in, got, want)
		}
	}
}
