package channels

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/ai"
	"github.com/axonhq/axon/platform/testkit/fakeopenai"
)

// These tests run the whole pipeline (Service.Respond) with the real agents responder
// against the fake OpenAI server, whose chat answers are scripted per call kind.

// scriptedOpenAI routes the fake's chat completions by their system prompt: the answer, the
// scorer (scores set per test), the tagger and the summary.
type scriptedOpenAI struct {
	mu                  sync.Mutex
	factual, intent, em float64
	tags                []string
	calls               map[string]int
}

func newScriptedOpenAI(se *surfEnv) *scriptedOpenAI {
	s := &scriptedOpenAI{factual: 0.9, intent: 0.9, em: 0.9, calls: map[string]int{}}
	se.fake.SetChatHandler(func(req fakeopenai.ChatCompletionRequest) string {
		s.mu.Lock()
		defer s.mu.Unlock()
		sys := ""
		if len(req.Messages) > 0 {
			sys = req.Messages[0].Content
		}
		switch {
		case !req.JSONMode():
			s.calls["answer"]++
			return "We are open Monday to Friday from 9 am to 6 pm [1]."
		case strings.Contains(sys, ai.TagsMarker):
			s.calls["tag"]++
			b, _ := json.Marshal(map[string]any{"tags": s.tags})
			return string(b)
		case strings.HasPrefix(sys, "You evaluate one reply"):
			s.calls["score"]++
			return fmt.Sprintf(`{"factual": %g, "intent": %g, "emotional": %g}`, s.factual, s.intent, s.em)
		default:
			s.calls["summary"]++
			return `{"summary": "- The customer wrote out of hours"}`
		}
	})
	return s
}

func (s *scriptedOpenAI) setScores(f, i, e float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.factual, s.intent, s.em = f, i, e
}

func (s *scriptedOpenAI) count(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[kind]
}

func (se *surfEnv) num(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := se.DB.GetContext(context.Background(), &n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// hours is a businessHours body: open hh:mm–hh:mm on every day listed, in tz.
func hours(tz, open, close string, days ...string) map[string]any {
	sched := map[string]any{}
	for _, d := range days {
		sched[d] = map[string]any{"open": open, "close": close, "enabled": true}
	}
	return map[string]any{"enabled": true, "timezone": tz, "schedule": sched, "closedMessage": "We open at 9 am (New York time)."}
}

// Outside the agent's hours, in the agent's own time zone: with handoff enabled the
// message is handed off (BUSINESS_HOURS, one SYSTEM text, no AI call, no charge, no
// confidence) and the job e-mails the owner; without handoff the closedMessage answers.
// Inside the hours the AI answers.
func TestRespondOutOfHours(t *testing.T) {
	t.Parallel()
	// Monday 2025-01-06 14:30 UTC: 09:30 in New York, 23:30 in Tokyo.
	now := time.Date(2025, 1, 6, 14, 30, 0, 0, time.UTC)
	se := newSurfEnv(t, surfOptions{fake: true, now: func() time.Time { return now }})
	oa := newScriptedOpenAI(se)
	w := se.NewWorkspace("BUILDER", 10)
	weekdays := []string{"monday", "tuesday", "wednesday", "thursday", "friday"}
	ctx := context.Background()

	closedWithHandoff := se.newAgent(t, w, map[string]any{
		"handoffEnabled": true, "handoffDest": "EMAIL_QUEUE", "businessHours": hours("Asia/Tokyo", "09:00", "17:00", weekdays...),
	})
	rep, err := se.mod.svc.Respond(ctx, webIn(w.ID, closedWithHandoff, "visitor-1", "Where is my parcel?"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Handoff == nil || rep.Handoff.Trigger != TriggerBusinessHours || rep.Handoff.Destination != DestEmailQueue {
		t.Fatalf("handoff = %+v", rep.Handoff)
	}
	if rep.Message == nil || rep.Message.Role != RoleSystem || rep.Message.Content != HandoffText(TriggerBusinessHours, DestEmailQueue) || rep.Message.Confidence != nil {
		t.Fatalf("message = %+v", rep.Message)
	}
	if n := len(se.fake.ChatRequests()); n != 0 {
		t.Fatalf("%d AI calls out of hours", n)
	}
	if st := se.num(t, `SELECT count(*) FROM conversations WHERE id = $1 AND status = 'HANDED_OFF'`, rep.ConversationID); st != 1 {
		t.Fatal("conversation is not HANDED_OFF")
	}
	if n := se.num(t, `SELECT count(*) FROM handoffs WHERE id = $1 AND trigger = 'BUSINESS_HOURS' AND confidence IS NULL`, rep.Handoff.ID); n != 1 {
		t.Fatal("the handoff row lacks trigger BUSINESS_HOURS or has a confidence nobody measured")
	}
	if roles := se.num(t, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND role = 'SYSTEM'`, rep.ConversationID); roles != 1 {
		t.Fatalf("%d SYSTEM messages, want exactly the handoff text", roles)
	}
	if b := se.balance(t, w.ID); b != 10 {
		t.Fatalf("balance %d: an out-of-hours handoff was charged", b)
	}
	if err := se.mod.svc.runHandoff(ctx, w.ID, rep.Handoff.ID); err != nil {
		t.Fatal(err)
	}
	if n := se.num(t, `SELECT count(*) FROM emails WHERE workspace_id = $1 AND template = 'handoff' AND "to" = $2`, w.ID, w.Email); n != 1 {
		t.Fatalf("owner handoff e-mails = %d", n)
	}
	// The AI stays silent on the next message; nothing is handed off twice.
	again, err := se.mod.svc.Respond(ctx, webIn(w.ID, closedWithHandoff, "visitor-1", "Hello?"), nil)
	if err != nil || again.Message != nil || again.Handoff != nil || again.ConversationID != rep.ConversationID {
		t.Fatalf("after the handoff: %+v, %v", again, err)
	}

	// Without handoff: the agent's closedMessage, nothing else.
	closedNoHandoff := se.newAgent(t, w, map[string]any{"businessHours": hours("Asia/Tokyo", "09:00", "17:00", weekdays...)})
	rep, err = se.mod.svc.Respond(ctx, webIn(w.ID, closedNoHandoff, "visitor-2", "Where is my parcel?"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Handoff != nil || rep.Message == nil || rep.Message.Role != RoleSystem || rep.Message.Content != "We open at 9 am (New York time)." {
		t.Fatalf("closed reply = %+v, handoff %+v", rep.Message, rep.Handoff)
	}
	if n := se.num(t, `SELECT count(*) FROM conversations WHERE id = $1 AND status = 'OPEN'`, rep.ConversationID); n != 1 {
		t.Fatal("a closed reply without handoff changed the status")
	}
	if n := oa.count("answer") + oa.count("score"); n != 0 || se.balance(t, w.ID) != 10 {
		t.Fatalf("%d answer/scoring calls, balance %d", n, se.balance(t, w.ID))
	}

	// Open in the agent's zone (09:30 in New York): the AI answers and is charged.
	open := se.newAgent(t, w, map[string]any{
		"handoffEnabled": true, "handoffDest": "EMAIL_QUEUE", "businessHours": hours("America/New_York", "09:00", "17:00", weekdays...),
	})
	rep, err = se.mod.svc.Respond(ctx, webIn(w.ID, open, "visitor-3", "When are you open?"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Handoff != nil || rep.Message == nil || rep.Message.Role != RoleAssistant || oa.count("answer") != 1 || se.balance(t, w.ID) != 9 {
		t.Fatalf("open hours: %+v handoff %+v, answers %d, balance %d", rep.Message, rep.Handoff, oa.count("answer"), se.balance(t, w.ID))
	}
}

// An explicit request is handed off without any AI call: the handoff row and the SYSTEM
// message store no confidence (NULL), and the API shows null.
func TestExplicitHandoffStoresNoConfidence(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{fake: true})
	w := se.NewWorkspace("STARTER", 10)
	ag := se.newAgent(t, w, map[string]any{"handoffEnabled": true})
	rep, err := se.mod.svc.Respond(context.Background(), webIn(w.ID, ag, "visitor-1", "I want to talk to a real person"), nil)
	if err != nil || rep.Handoff == nil || rep.Handoff.Trigger != TriggerExplicitRequest {
		t.Fatalf("reply %+v, %v", rep, err)
	}
	if n := len(se.fake.ChatRequests()); n != 0 {
		t.Fatalf("%d AI calls for an explicit request", n)
	}
	if n := se.num(t, `SELECT count(*) FROM handoffs WHERE id = $1 AND confidence IS NULL`, rep.Handoff.ID); n != 1 {
		t.Fatal("explicit handoff stored a confidence")
	}
	if n := se.num(t, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND confidence IS NOT NULL`, rep.ConversationID); n != 0 {
		t.Fatal("a message of an unscored handoff has a confidence")
	}
	res := se.Get("/v1/conversations/"+rep.ConversationID+"/handoffs", w.Token)
	var out struct {
		Items []struct {
			Confidence *float64 `json:"confidence"`
		} `json:"items"`
	}
	res.JSON(t, &out)
	if res.Status != 200 || len(out.Items) != 1 || out.Items[0].Confidence != nil || !strings.Contains(string(res.Body), `"confidence":null`) {
		t.Fatalf("handoffs: %d %s", res.Status, res.Body)
	}

	// A scored handoff (low confidence) keeps its composite.
	se.fake.SetChatHandler(func(req fakeopenai.ChatCompletionRequest) string {
		if req.JSONMode() {
			return `{"factual": 0.2, "intent": 0.4, "emotional": 0.9}`
		}
		return "I am not sure."
	})
	rep, err = se.mod.svc.Respond(context.Background(), webIn(w.ID, ag, "visitor-2", "Do you ship to Mars?"), nil)
	if err != nil || rep.Handoff == nil || rep.Handoff.Trigger != TriggerLowConfidence {
		t.Fatalf("reply %+v, %v", rep, err)
	}
	var conf *float64
	if err := se.DB.GetContext(context.Background(), &conf, `SELECT confidence FROM handoffs WHERE id = $1`, rep.Handoff.ID); err != nil {
		t.Fatal(err)
	}
	if want := 0.45*0.2 + 0.35*0.4 + 0.2*0.9; conf == nil || *conf < want-1e-9 || *conf > want+1e-9 {
		t.Fatalf("low-confidence handoff confidence = %v, want %v", conf, want)
	}
}

// Auto-tagging: only when enabled and the answer's composite is at least 0.6; at most 3 of
// the agent's tags; 2 credits with reason TAGGING_CONSUMED; once per conversation.
func TestRespondAutoTags(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{fake: true})
	oa := newScriptedOpenAI(se)
	ctx := context.Background()
	agentTags := []string{"billing", "shipping", "returns", "refunds", "opening-hours"}
	// The model names five tags, one unknown and one in other case: three of the agent's
	// survive, in the agent's spelling.
	oa.tags = []string{"Returns", "teleportation", "shipping", "billing", "refunds"}

	w := se.NewWorkspace("BUILDER", 20)
	ag := se.newAgent(t, w, map[string]any{"taggingEnabled": true, "availableTags": agentTags})
	convTags := func(id string) []string {
		var tags []string
		var raw string
		if err := se.DB.GetContext(ctx, &raw, `SELECT array_to_json(tags)::text FROM conversations WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(raw), &tags); err != nil {
			t.Fatal(err)
		}
		return tags
	}
	tagRows := func(ws string) int {
		return se.num(t, `SELECT count(*) FROM credit_ledger WHERE workspace_id = $1 AND reason = 'TAGGING_CONSUMED'`, ws)
	}

	// Composite 0.55 (< 0.6): answered and charged, not tagged.
	oa.setScores(0.5, 0.6, 0.6)
	rep, err := se.mod.svc.Respond(ctx, webIn(w.ID, ag, "visitor-1", "When are you open?"), nil)
	if err != nil || rep.Message == nil || rep.Message.Role != RoleAssistant {
		t.Fatalf("reply %+v, %v", rep.Message, err)
	}
	if oa.count("tag") != 0 || len(convTags(rep.ConversationID)) != 0 || tagRows(w.ID) != 0 || se.balance(t, w.ID) != 19 {
		t.Fatalf("tagged below 0.6: calls %d, tags %v, balance %d", oa.count("tag"), convTags(rep.ConversationID), se.balance(t, w.ID))
	}

	// Composite 0.9: tagged with three of the agent's tags, 2 credits, reason TAGGING_CONSUMED.
	oa.setScores(0.9, 0.9, 0.9)
	rep2, err := se.mod.svc.Respond(ctx, webIn(w.ID, ag, "visitor-1", "Can I return my order?"), nil)
	if err != nil || rep2.ConversationID != rep.ConversationID {
		t.Fatalf("reply %+v, %v", rep2, err)
	}
	if got := convTags(rep.ConversationID); !slices.Equal(got, []string{"returns", "shipping", "billing"}) {
		t.Fatalf("tags = %v, want [returns shipping billing]", got)
	}
	var led struct {
		Delta int    `db:"delta"`
		RefID string `db:"ref_id"`
	}
	if err := se.DB.GetContext(ctx, &led, `SELECT delta, ref_id FROM credit_ledger WHERE workspace_id = $1 AND reason = 'TAGGING_CONSUMED'`, w.ID); err != nil {
		t.Fatal(err)
	}
	if led.Delta != -2 || led.RefID != rep.ConversationID || se.balance(t, w.ID) != 16 {
		t.Fatalf("tagging ledger %+v, balance %d (want -2 on the conversation, 16 left)", led, se.balance(t, w.ID))
	}

	// Once per conversation: more confident answers tag nothing and charge only the reply.
	for _, q := range []string{"And refunds?", "Thanks!"} {
		if _, err := se.mod.svc.Respond(ctx, webIn(w.ID, ag, "visitor-1", q), nil); err != nil {
			t.Fatal(err)
		}
	}
	if oa.count("tag") != 1 || tagRows(w.ID) != 1 || se.balance(t, w.ID) != 14 {
		t.Fatalf("after two more answers: tag calls %d, tagging rows %d, balance %d", oa.count("tag"), tagRows(w.ID), se.balance(t, w.ID))
	}
	// A conversation whose tags staff set is not auto-tagged.
	oa.setScores(0.5, 0.5, 0.5)
	rep3, err := se.mod.svc.Respond(ctx, webIn(w.ID, ag, "visitor-2", "Hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res := se.Do(reqPatch("/v1/conversations/"+rep3.ConversationID, w.Token, map[string]any{"tags": []string{"vip"}})); res.Status != 200 {
		t.Fatalf("patch tags: %d %s", res.Status, res.Body)
	}
	oa.setScores(0.9, 0.9, 0.9)
	if _, err := se.mod.svc.Respond(ctx, webIn(w.ID, ag, "visitor-2", "Can I return it?"), nil); err != nil {
		t.Fatal(err)
	}
	if oa.count("tag") != 1 || !slices.Equal(convTags(rep3.ConversationID), []string{"vip"}) {
		t.Fatalf("staff-tagged conversation: tag calls %d, tags %v", oa.count("tag"), convTags(rep3.ConversationID))
	}

	// Tagging disabled: no tagging call, no charge.
	off := se.newAgent(t, w, map[string]any{"taggingEnabled": false, "availableTags": agentTags})
	before := se.balance(t, w.ID)
	if _, err := se.mod.svc.Respond(ctx, webIn(w.ID, off, "visitor-3", "Hello"), nil); err != nil {
		t.Fatal(err)
	}
	if oa.count("tag") != 1 || se.balance(t, w.ID) != before-1 {
		t.Fatalf("tagging disabled: tag calls %d, balance %d (was %d)", oa.count("tag"), se.balance(t, w.ID), before)
	}

	// Too few credits left after the reply (1 < 2): no tagging call and no charge.
	poor := se.NewWorkspace("STARTER", 2)
	pag := se.newAgent(t, poor, map[string]any{"taggingEnabled": true, "availableTags": agentTags})
	rep4, err := se.mod.svc.Respond(ctx, webIn(poor.ID, pag, "visitor-4", "Hello"), nil)
	if err != nil || rep4.Message == nil || rep4.Message.Role != RoleAssistant {
		t.Fatalf("reply %+v, %v", rep4.Message, err)
	}
	if oa.count("tag") != 1 || tagRows(poor.ID) != 0 || se.balance(t, poor.ID) != 1 || len(convTags(rep4.ConversationID)) != 0 {
		t.Fatalf("poor workspace: tag calls %d, balance %d", oa.count("tag"), se.balance(t, poor.ID))
	}
}

// The channels.handoff job publishes handoff_triggered again, same handoffId and shape,
// with the summary it wrote; a re-run publishes nothing more.
func TestHandoffSummaryIsPublished(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 10)
	ag := ce.agent(t, w, nil)
	explicitHandoff(ce)
	rep := ce.respond(t, webIn(w.ID, ag, "visitor-1", "I want to talk to a real person"))
	for range 2 {
		if err := ce.mod.svc.runHandoff(context.Background(), w.ID, rep.Handoff.ID); err != nil {
			t.Fatal(err)
		}
	}
	var payloads []string
	if err := ce.DB.SelectContext(context.Background(), &payloads,
		`SELECT payload::text FROM realtime_events WHERE conversation_id = $1 AND type = 'handoff_triggered' ORDER BY id`, rep.ConversationID); err != nil {
		t.Fatal(err)
	}
	if len(payloads) != 2 {
		t.Fatalf("handoff_triggered events = %d, want 2 (decided, then summarised)", len(payloads))
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(payloads[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(payloads[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first["summary"] != nil || second["summary"] != ce.resp.summary {
		t.Fatalf("summaries %v then %v", first["summary"], second["summary"])
	}
	for _, k := range []string{"conversationId", "handoffId", "trigger", "destination", "agentId"} {
		if first[k] == nil || first[k] != second[k] {
			t.Fatalf("%s: %v then %v", k, first[k], second[k])
		}
	}
	if len(second) != 6 {
		t.Fatalf("payload keys %v", second)
	}
}
