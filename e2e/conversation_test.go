package e2e

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/billing/billingtest"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// chatChunk is one data frame of a chat stream.
type chatChunk struct {
	Object  string `json:"object"`
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Axon *struct {
		Confidence *float64         `json:"confidence"`
		Sources    []map[string]any `json:"sources"`
		MessageID  string           `json:"messageId"`
	} `json:"axon"`
}

// TestConversationScenario is issue 9's acceptance scenario through the real binary: two
// `serve` replicas and one `work` on one database, the offline AI provider, no keys.
// Knowledge is ingested by the worker; the dashboard chat answers from it (JSON and SSE,
// with sources); a widget session from the shop's origin answers; "I want to talk to a real
// person" hands off, the worker e-mails the owner (logged by the development sender) and
// the AI stays silent; a human reply made on replica 1 reaches the widget's history and an
// event stream on replica 2; re-opening brings the AI back; at 0 credits no AI answer is
// made (the widget gets the fallback text, the dashboard chat 402).
func TestConversationScenario(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := map[string]string{"DATABASE_URL": pgtest.URL(t)}
	s1, s2 := serve(t, env), serve(t, env)
	workEnv := map[string]string{"PORT": strconv.Itoa(testkit.FreePort(t)), "LOG_LEVEL": "info"}
	for k, v := range env {
		workEnv[k] = v
	}
	worker := start(t, workEnv, "work")

	acct := register(t, s1.base)
	auth := map[string]string{"Authorization": "Bearer " + acct.access}
	const shop = "https://shop.example"

	// An agent (handoff to the e-mail queue) with one TEXT document, ingested by the worker.
	r := call(t, "POST", s1.base+"/v1/agents", map[string]any{
		"name": "Shop helper", "systemPrompt": "You help the shop's customers.",
		"handoffEnabled": true, "handoffDest": "EMAIL_QUEUE", "allowedOrigins": []string{shop},
	}, auth)
	if r.status != 201 {
		t.Fatalf("create agent: %d %s", r.status, r.raw)
	}
	agent, _ := r.body["id"].(string)
	r = call(t, "POST", s1.base+"/v1/agents/"+agent+"/knowledge", map[string]any{
		"type": "TEXT", "title": "Opening hours",
		"content": "Our shop is open Monday to Friday from 9 am to 6 pm. On Saturdays we open from 10 am to 2 pm.",
	}, auth)
	doc, _ := r.body["doc"].(map[string]any)
	docID, _ := doc["id"].(string)
	if r.status != 202 || docID == "" {
		t.Fatalf("add document: %d %s", r.status, r.raw)
	}
	eventually(t, "the document READY", 20*time.Second, func() bool {
		r := call(t, "GET", s2.base+"/v1/agents/"+agent+"/knowledge/"+docID, nil, auth)
		if r.body["status"] == "ERROR" {
			t.Fatalf("ingestion failed: %s\nworker:\n%s", r.raw, worker.stderr.String())
		}
		return r.body["status"] == "READY"
	})

	// Dashboard chat, JSON: an answer from the document, with it as the source.
	r = call(t, "POST", s1.base+"/v1/agents/"+agent+"/chat", map[string]any{"message": "When are you open on Saturday?"}, auth)
	msg, _ := r.body["message"].(map[string]any)
	if r.status != 200 || msg["role"] != "ASSISTANT" || !strings.Contains(msg["content"].(string), "10 am") || msg["confidence"] == nil || r.body["handoff"] != nil {
		t.Fatalf("dashboard chat: %d %s", r.status, r.raw)
	}
	if src, _ := msg["sources"].([]any); len(src) != 1 || src[0].(map[string]any)["docId"] != docID || src[0].(map[string]any)["title"] != "Opening hours" {
		t.Fatalf("chat sources: %s", r.raw)
	}

	// Dashboard chat, SSE on the other replica: deltas, then a last chunk with the sources.
	r = call(t, "POST", s2.base+"/v1/agents/"+agent+"/chat", map[string]any{"message": "Are you open Monday to Friday?", "stream": true}, auth)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("chat stream: %d %s %s", r.status, r.header.Get("Content-Type"), r.raw)
	}
	var chunks []chatChunk
	var text strings.Builder
	done := false
	for _, line := range strings.Split(r.raw, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			break
		}
		var c chatChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil || c.Object != "chat.completion.chunk" || len(c.Choices) != 1 {
			t.Fatalf("chunk %q: %v", data, err)
		}
		text.WriteString(c.Choices[0].Delta.Content)
		chunks = append(chunks, c)
	}
	last := chunks[len(chunks)-1]
	if !done || len(chunks) < 3 || last.Axon == nil || last.Choices[0].FinishReason == nil || *last.Choices[0].FinishReason != "stop" ||
		len(last.Axon.Sources) != 1 || last.Axon.Sources[0]["docId"] != docID || last.Axon.Confidence == nil || !strings.Contains(text.String(), "9 am") {
		t.Fatalf("chat stream frames:\n%s", r.raw)
	}

	// A widget session from the shop's origin (CORS), answering from knowledge.
	origin := map[string]string{"Origin": shop}
	r = call(t, "POST", s2.base+"/v1/widget/"+agent+"/sessions", map[string]any{"name": "Bob"}, origin)
	if r.status != 201 || r.header.Get("Access-Control-Allow-Origin") != shop {
		t.Fatalf("widget session: %d %q %s", r.status, r.header.Get("Access-Control-Allow-Origin"), r.raw)
	}
	wtok, _ := r.body["sessionToken"].(string)
	conv, _ := r.body["conversationId"].(string)
	widget := map[string]string{"Origin": shop, "Authorization": "Bearer " + wtok}
	say := func(base, content string) response {
		t.Helper()
		r := call(t, "POST", base+"/v1/widget/"+agent+"/messages", map[string]any{"content": content}, widget)
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != shop || r.body["conversationId"] != conv {
			t.Fatalf("widget message %q: %d %s", content, r.status, r.raw)
		}
		return r
	}
	r = say(s1.base, "What time do you open Monday to Friday?")
	if msg, _ := r.body["message"].(map[string]any); msg["role"] != "ASSISTANT" || !strings.Contains(msg["content"].(string), "9 am") {
		t.Fatalf("widget answer: %s", r.raw)
	}
	r = call(t, "POST", s1.base+"/v1/widget/"+agent+"/sessions", map[string]any{}, map[string]string{"Origin": "https://evil.example"})
	if r.status != 403 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another origin: %d %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}

	// Replica 2 streams the conversation's events (workspace-wide, to see handoff_triggered).
	events := openEvents(t, s2.base, acct.access, "")

	// "I want to talk to a real person": a handoff, no AI answer, no charge.
	balance := func() float64 {
		t.Helper()
		r := call(t, "GET", s1.base+"/v1/billing/credits", nil, auth)
		b, ok := r.body["balance"].(float64)
		if r.status != 200 || !ok {
			t.Fatalf("credits: %d %s", r.status, r.raw)
		}
		return b
	}
	before := balance()
	r = say(s1.base, "I want to talk to a real person")
	ho, _ := r.body["handoff"].(map[string]any)
	msg, _ = r.body["message"].(map[string]any)
	if ho["trigger"] != "EXPLICIT_REQUEST" || ho["destination"] != "EMAIL_QUEUE" || msg["role"] != "SYSTEM" || msg["confidence"] != nil ||
		msg["content"] != "Of course! I'm connecting you with a team member via email now. They'll be with you shortly." {
		t.Fatalf("handoff answer: %s", r.raw)
	}
	if balance() != before {
		t.Fatalf("the handoff was charged")
	}
	// The owner is e-mailed by the worker (the development sender logs it).
	eventually(t, "the owner's handoff e-mail", 20*time.Second, func() bool {
		for _, line := range strings.Split(worker.stderr.String(), "\n") {
			if strings.Contains(line, "e-mail (development: logged, not sent)") && strings.Contains(line, acct.email) &&
				strings.Contains(line, "[Handoff Required] Customer Bob") {
				return true
			}
		}
		return false
	})
	// The dashboard learns of the handoff, then of its summary (same handoffId).
	var summarised bool
	for !summarised {
		f := events.next()
		if f.event != "handoff_triggered" {
			continue
		}
		if f.data["handoffId"] != ho["id"] || f.data["conversationId"] != conv {
			t.Fatalf("handoff_triggered %v", f.data)
		}
		s, _ := f.data["summary"].(string)
		summarised = s != ""
	}

	// The AI stays silent.
	r = say(s2.base, "Hello? Anyone there?")
	if r.body["message"] != nil {
		t.Fatalf("the AI answered a handed-off conversation: %s", r.raw)
	}

	// A human reply through replica 1 reaches replica 2's stream and the widget's history.
	convEvents := openEvents(t, s2.base+"/v1/events?conversationId="+conv, acct.access, "")
	r = call(t, "POST", s1.base+"/v1/conversations/"+conv+"/messages", map[string]any{"content": "Hi Bob, Ann here. How can I help?"}, auth)
	if r.status != 201 {
		t.Fatalf("human reply: %d %s", r.status, r.raw)
	}
	for {
		f := convEvents.next()
		if m, _ := f.data["message"].(map[string]any); f.event == "new_message" && m["role"] == "HUMAN_AGENT" {
			if m["content"] != "Hi Bob, Ann here. How can I help?" {
				t.Fatalf("human reply event %v", f.data)
			}
			break
		}
	}
	r = call(t, "GET", s2.base+"/v1/widget/"+agent+"/messages?limit=100", nil, widget)
	items, _ := r.body["items"].([]any)
	if r.status != 200 || len(items) == 0 || items[len(items)-1].(map[string]any)["role"] != "HUMAN_AGENT" {
		t.Fatalf("widget history: %d %s", r.status, r.raw)
	}

	// Re-opened: the AI answers again.
	r = call(t, "PATCH", s2.base+"/v1/conversations/"+conv, map[string]any{"status": "OPEN"}, auth)
	if r.status != 200 || r.body["status"] != "OPEN" {
		t.Fatalf("re-open: %d %s", r.status, r.raw)
	}
	r = say(s1.base, "When are you open on Saturday?")
	if msg, _ := r.body["message"].(map[string]any); msg["role"] != "ASSISTANT" || !strings.Contains(msg["content"].(string), "10 am") {
		t.Fatalf("after re-opening: %s", r.raw)
	}

	// At 0 credits: the widget gets the fallback text, the dashboard chat 402; no AI answer.
	wsID := call(t, "GET", s1.base+"/v1/workspace", nil, auth).body["id"].(string)
	if err := billingtest.SetBalance(ctx, pgtest.DB(t), wsID, 0); err != nil {
		t.Fatal(err)
	}
	r = say(s2.base, "When are you open on Saturday?")
	if msg, _ := r.body["message"].(map[string]any); msg["role"] != "SYSTEM" || msg["content"] != "I'm sorry, I'm unable to respond right now. Please try again later." {
		t.Fatalf("widget at 0 credits: %s", r.raw)
	}
	r = call(t, "POST", s1.base+"/v1/agents/"+agent+"/chat", map[string]any{"message": "When are you open?"}, auth)
	r.expectError(t, 402, "INSUFFICIENT_CREDITS")
	var assistants int
	if err := pgtest.DB(t).GetContext(ctx, &assistants,
		`SELECT count(*) FROM messages WHERE conversation_id = $1 AND role = 'ASSISTANT' AND created_at > (SELECT max(created_at) FROM credit_ledger WHERE workspace_id = $2 AND reason = 'ADJUSTMENT')`,
		conv, wsID); err != nil || assistants != 0 {
		t.Fatalf("%d ASSISTANT answers at 0 credits (%v)", assistants, err)
	}
	assertNoSecrets(t, s1.stderr.String()+s2.stderr.String()+worker.stderr.String(), acct.password, acct.access, wtok)
}
