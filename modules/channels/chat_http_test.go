package channels

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// checkStream asserts the wire shape of a finished chat stream and returns its chunks and
// the concatenated deltas.
func checkStream(t *testing.T, res *apitest.Response) ([]chunkOut, string) {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("stream status %d: %s", res.Status, res.Body)
	}
	for h, want := range map[string]string{"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := res.Header.Get(h); got != want {
			t.Fatalf("%s = %q, want %q", h, got, want)
		}
	}
	cs, done := chunks(t, parseSSE(t, res.Body))
	if !done {
		t.Fatalf("stream did not end with [DONE]: %s", res.Body)
	}
	if len(cs) < 3 || cs[0].Choices[0].Delta.Role != "assistant" || cs[0].Choices[0].Delta.Content != "" {
		t.Fatalf("want the opening role chunk, deltas and the last chunk, got %d: %s", len(cs), res.Body)
	}
	var text strings.Builder
	for i, c := range cs {
		if c.Object != "chat.completion.chunk" || c.ID != cs[0].ID || c.Model != "test-model" || c.Created == 0 ||
			c.ConversationID == "" || c.ConversationID != cs[0].ConversationID || len(c.Choices) != 1 || c.Choices[0].Index != 0 {
			t.Fatalf("chunk %d malformed: %+v", i, c)
		}
		last := i == len(cs)-1
		if fr := c.Choices[0].FinishReason; last != (fr != nil) || (last && *fr != "stop") {
			t.Fatalf("chunk %d finish_reason %v (last %v)", i, fr, last)
		}
		if last != (c.Axon != nil) {
			t.Fatalf("chunk %d axon %+v (last %v)", i, c.Axon, last)
		}
		text.WriteString(c.Choices[0].Delta.Content)
	}
	return cs, text.String()
}

// The dashboard chat reads the agent once: the handler's read (404 before anything is
// stored) is the one the pipeline answers with, not a second round trip.
func TestChatReadsTheAgentOnce(t *testing.T) {
	t.Parallel()
	var reads atomic.Int64
	se := newSurfEnv(t, surfOptions{agentReads: &reads})
	w := se.NewWorkspace("STARTER", 100)
	agent := se.newAgent(t, w, nil)
	reads.Store(0)
	res := se.Post("/v1/agents/"+agent+"/chat", w.Token, map[string]any{"message": "When are you open?"})
	if res.Status != http.StatusOK {
		t.Fatalf("chat: %d %s", res.Status, res.Body)
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("the agent was read %d times for one dashboard chat message, want 1", n)
	}
}

func TestChatAnswersFromKnowledgeJSONAndSSE(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fake bool
	}{{"offline", false}, {"fake openai", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			se := newSurfEnv(t, surfOptions{fake: tc.fake})
			w := se.NewWorkspace("STARTER", 100)
			agent := se.newAgent(t, w, nil)
			if tc.fake {
				se.fake.SetChatReply("We are open Monday to Friday from 9 am to 6 pm [1].")
			}

			// JSON: the message field wins over messages.
			res := se.Post("/v1/agents/"+agent+"/chat", w.Token, map[string]any{
				"messages": []map[string]string{{"role": "user", "content": "ignored"}},
				"message":  "When are you open?",
			})
			if res.Status != http.StatusOK {
				t.Fatalf("chat: %d %s", res.Status, res.Body)
			}
			var ans struct {
				ConversationID string        `json:"conversationId"`
				Message        answerMessage `json:"message"`
				Handoff        any           `json:"handoff"`
			}
			res.JSON(t, &ans)
			if ans.ConversationID == "" || ans.Message.ID == "" || ans.Message.Role != RoleAssistant || ans.Message.Content == "" ||
				ans.Message.Confidence == nil || ans.Message.LatencyMs == nil || ans.Handoff != nil {
				t.Fatalf("answer %s", res.Body)
			}
			if len(ans.Message.Sources) != 2 || ans.Message.Sources[0].DocID != surfPassages[0].DocID ||
				ans.Message.Sources[1].Title != "Returns" || ans.Message.Sources[1].ChunkIdx != 3 || ans.Message.Sources[1].URL != "https://shop.example/returns" {
				t.Fatalf("sources %+v", ans.Message.Sources)
			}
			if tc.fake {
				// The question answered is message, not the user message of messages.
				reqs := se.fake.ChatRequests()
				last := reqs[0].Messages[len(reqs[0].Messages)-1]
				if !strings.Contains(last.Content, "When are you open?") || strings.Contains(last.Content, "ignored") {
					t.Fatalf("prompt's last message %q", last.Content)
				}
			}

			// SSE in the same conversation; the last user message of messages is answered.
			res = se.Post("/v1/agents/"+agent+"/chat", w.Token, map[string]any{
				"messages": []map[string]string{
					{"role": "user", "content": "first"},
					{"role": "assistant", "content": "hi"},
					{"role": "user", "content": "Can I return a product?"},
				},
				"conversationId": ans.ConversationID, "stream": true,
			})
			cs, text := checkStream(t, res)
			final := cs[len(cs)-1]
			if final.ConversationID != ans.ConversationID || final.Axon.MessageID == "" || final.Axon.Role != RoleAssistant ||
				final.Axon.Confidence == nil || len(final.Axon.Sources) != 2 || string(final.Axon.Handoff) != "null" || final.Axon.Content != nil {
				t.Fatalf("last chunk %+v", final.Axon)
			}
			if tc.fake && len(cs) < 4 {
				t.Fatalf("the fake streams word by word; got %d chunks", len(cs))
			}
			// The streamed text is what was stored, and it was charged once.
			var stored string
			if err := se.DB.GetContext(context.Background(), &stored, `SELECT content FROM messages WHERE id = $1 AND role = 'ASSISTANT'`, final.Axon.MessageID); err != nil {
				t.Fatal(err)
			}
			if stored != text || text == "" {
				t.Fatalf("streamed %q, stored %q", text, stored)
			}
			if b := se.balance(t, w.ID); b != 98 {
				t.Fatalf("balance %d, want 98 after two replies", b)
			}
		})
	}
}

func TestChatStreamPingsWhileWaiting(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{fake: true, ping: 10 * time.Millisecond})
	w := se.NewWorkspace("STARTER", 100)
	agent := se.newAgent(t, w, nil)
	se.fake.SetDelay(400 * time.Millisecond) // every provider call waits
	res := se.Post("/v1/agents/"+agent+"/chat", w.Token, map[string]any{"message": "When are you open?", "stream": true})
	checkStream(t, res)
	// Pings come between the opening chunk and the first content, while the provider waits.
	pings := 0
	for _, f := range parseSSE(t, res.Body)[1:] {
		if f.Comment == "ping" {
			pings++
			continue
		}
		if strings.Contains(f.Data, `"content"`) {
			break
		}
	}
	if pings < 2 {
		t.Fatalf("%d pings before the first content: %s", pings, res.Body)
	}
}

func TestChatStreamErrorFrameWhenProviderFailsMidStream(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{fake: true})
	w := se.NewWorkspace("STARTER", 100)
	agent := se.newAgent(t, w, nil)
	se.fake.SetChatReply("We are open Monday to Friday from 9 am to 6 pm and on Saturdays.")
	se.fake.SetStreamError(3)

	res := se.Post("/v1/agents/"+agent+"/chat", w.Token, map[string]any{"message": "When are you open?", "stream": true})
	if res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	frames := parseSSE(t, res.Body)
	cs, done := chunks(t, frames)
	if done || len(cs) != 4 || cs[0].Choices[0].Delta.Role != "assistant" || cs[3].Choices[0].Delta.Content == "" {
		t.Fatalf("want the role chunk, 3 deltas and no [DONE]; got %d chunks, done %v: %s", len(cs), done, res.Body)
	}
	last := frames[len(frames)-1]
	if last.Event != "error" {
		t.Fatalf("last frame %+v, want event: error", last)
	}
	eb := apitest.Response{Status: 200, Body: []byte(last.Data)}
	m := eb.Map(t)
	if m["error"] != string(apperr.ServiceUnavailable) || m["message"] != TextProviderError || m["statusCode"] != float64(503) {
		t.Fatalf("error frame %s", last.Data)
	}
	// No charge; the fallback is stored as a SYSTEM message.
	if b := se.balance(t, w.ID); b != 100 {
		t.Fatalf("balance %d after a failed answer", b)
	}
	details := m["details"].(map[string]any)
	var role string
	if err := se.DB.GetContext(context.Background(), &role, `SELECT role FROM messages WHERE id = $1`, details["messageId"]); err != nil || role != RoleSystem {
		t.Fatalf("fallback message %v %q", err, role)
	}
}

func TestChatAtZeroCreditsIs402BeforeAnyAICall(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{fake: true, ping: time.Millisecond})
	w := se.NewWorkspace("STARTER", 0)
	agent := se.newAgent(t, w, nil)
	for _, stream := range []bool{false, true} {
		res := se.Post("/v1/agents/"+agent+"/chat", w.Token, map[string]any{"message": "When are you open?", "stream": stream})
		res.ExpectError(t, http.StatusPaymentRequired, "INSUFFICIENT_CREDITS")
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("stream=%v: Content-Type %q", stream, ct)
		}
	}
	if n := len(se.fake.Requests()); n != 0 {
		t.Fatalf("%d requests reached the provider", n)
	}
}

func TestChatBadInput(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{})
	w := se.NewWorkspace("PRO", 100)
	agent := se.newAgent(t, w, nil)
	other := se.NewWorkspace("STARTER", 100)
	otherAgent := se.newAgent(t, other, nil)
	sibling := se.newAgent(t, w, map[string]any{"name": "Sibling"})
	res := se.Post("/v1/agents/"+otherAgent+"/chat", other.Token, map[string]any{"message": "hello"})
	if res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	otherConv := res.Map(t)["conversationId"].(string)
	res = se.Post("/v1/agents/"+sibling+"/chat", w.Token, map[string]any{"message": "hello"})
	siblingConv := res.Map(t)["conversationId"].(string)

	for _, tc := range []struct {
		name   string
		agent  string
		body   any
		status int
		code   string
	}{
		{"4001 characters", agent, map[string]any{"message": strings.Repeat("a", 4001)}, 400, "VALIDATION_ERROR"},
		{"4001 characters in messages", agent, map[string]any{"messages": []map[string]string{{"role": "user", "content": strings.Repeat("é", 4001)}}}, 400, "VALIDATION_ERROR"},
		{"4001 characters streamed", agent, map[string]any{"message": strings.Repeat("a", 4001), "stream": true}, 400, "VALIDATION_ERROR"},
		{"body over the limit", agent, `{"message":"` + strings.Repeat("a", 600<<10) + `"}`, 413, "PAYLOAD_TOO_LARGE"},
		{"no message", agent, map[string]any{"messages": []map[string]string{{"role": "assistant", "content": "hi"}}}, 400, "VALIDATION_ERROR"},
		{"blank message", agent, map[string]any{"message": "   "}, 400, "VALIDATION_ERROR"},
		{"message not a string", agent, map[string]any{"message": 3}, 400, "VALIDATION_ERROR"},
		{"conversation not a uuid", agent, map[string]any{"message": "hi", "conversationId": "x"}, 400, "VALIDATION_ERROR"},
		{"conversation of another workspace", agent, map[string]any{"message": "hi", "conversationId": otherConv}, 404, "NOT_FOUND"},
		{"conversation of another agent", agent, map[string]any{"message": "hi", "conversationId": siblingConv}, 404, "NOT_FOUND"},
		{"agent of another workspace", otherAgent, map[string]any{"message": "hi"}, 404, "NOT_FOUND"},
		{"agent not a uuid", "nope", map[string]any{"message": "hi"}, 404, "NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := se.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/agents/" + tc.agent + "/chat", Token: w.Token, Body: tc.body})
			res.ExpectError(t, tc.status, tc.code)
		})
	}
	// Nothing of the rejected requests was stored in the other workspace's conversation.
	var n int
	_ = se.DB.GetContext(context.Background(), &n, `SELECT count(*) FROM messages WHERE conversation_id = $1`, otherConv)
	if n != 2 {
		t.Fatalf("other workspace's conversation has %d messages", n)
	}
}

func TestChatRateLimitPerUser(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{})
	w := se.NewWorkspace("STARTER", 100)
	agent := se.newAgent(t, w, nil)
	// Invalid bodies still count; they are cheap and end before any AI call.
	for i := range 30 {
		res := se.Post("/v1/agents/"+agent+"/chat", w.Token, map[string]any{"message": ""})
		if res.Status != http.StatusBadRequest {
			t.Fatalf("request %d: %d %s", i+1, res.Status, res.Body)
		}
	}
	res := se.Post("/v1/agents/"+agent+"/chat", w.Token, map[string]any{"message": "hi"})
	res.ExpectError(t, http.StatusTooManyRequests, "RATE_LIMITED")
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// Another user of the workspace has their own budget.
	m := se.AddMember(w, "MEMBER")
	if res := se.Post("/v1/agents/"+agent+"/chat", m.Token, map[string]any{"message": "hi"}); res.Status != http.StatusOK {
		t.Fatalf("other user: %d %s", res.Status, res.Body)
	}
}
