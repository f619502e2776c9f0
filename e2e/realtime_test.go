package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// sseFrame is one event of GET /v1/events.
type sseFrame struct {
	id    int64
	event string
	data  map[string]any
}

type sseStream struct {
	t      testing.TB
	res    *http.Response
	cancel context.CancelFunc
	frames chan sseFrame
}

// openEvents connects to base's /v1/events (or to base itself when it is already a
// /v1/events URL with a query) with the token in the query, as EventSource does, optionally
// with Last-Event-ID.
func openEvents(t testing.TB, base, token, lastEventID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	url := base + "/v1/events?access_token=" + token
	if strings.Contains(base, "/v1/events?") {
		url = base + "&access_token=" + token
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /v1/events on %s: %d %s", base, res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sseStream{t: t, res: res, cancel: cancel, frames: make(chan sseFrame, 100)}
	t.Cleanup(s.close)
	go func() {
		defer close(s.frames)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var f sseFrame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if f.event != "" {
					s.frames <- f
				}
				f = sseFrame{}
			case strings.HasPrefix(line, "id: "):
				f.id, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
			case strings.HasPrefix(line, "event: "):
				f.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &f.data)
			}
		}
	}()
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.res.Body.Close()
}

func (s *sseStream) next() sseFrame {
	s.t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			s.t.Fatal("the event stream ended")
		}
		return f
	case <-time.After(20 * time.Second):
		s.t.Fatal("no event within 20 s")
	}
	return sseFrame{}
}

// TestEventsAcrossReplicas: a dashboard client on replica 2 receives an event published by a
// request to replica 1 (LISTEN/NOTIFY fan-out between processes), and after a reconnection
// with Last-Event-ID gets what it missed, then live events, with no duplicates. An open stream
// does not hold up SIGTERM.
func TestEventsAcrossReplicas(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": pgtest.URL(t)}
	s1, s2 := serve(t, env), serve(t, env)
	acct := register(t, s1.base)
	auth := map[string]string{"Authorization": "Bearer " + acct.access}

	r := call(t, "POST", s1.base+"/v1/agents", map[string]any{"name": "Realtime", "systemPrompt": "Be brief."}, auth)
	if r.status != 201 {
		t.Fatalf("create agent: %d %s", r.status, r.raw)
	}
	agentID, _ := r.body["id"].(string)
	setStatus := func(status string) {
		t.Helper()
		r := call(t, "PATCH", s1.base+"/v1/agents/"+agentID, map[string]any{"status": status}, auth)
		if r.status != 200 {
			t.Fatalf("PATCH agent status %s: %d %s", status, r.status, r.raw)
		}
	}
	want := func(f sseFrame, status string) {
		t.Helper()
		if f.event != "agent_status_changed" || f.data["agentId"] != agentID || f.data["status"] != status || f.id <= 0 {
			t.Fatalf("event = %+v, want agent_status_changed %s of %s", f, status, agentID)
		}
	}
	current := r.body["status"]
	first, second, third := "INACTIVE", "ACTIVE", "INACTIVE"
	if current == "INACTIVE" {
		first, second, third = "ACTIVE", "INACTIVE", "ACTIVE"
	}

	// A stream on replica 2 sees the change made through replica 1.
	// openEvents returns once the headers arrived; the handler subscribes before it writes
	// them, so the stream cannot miss the change below.
	stream := openEvents(t, s2.base, acct.access, "")
	setStatus(first)
	f1 := stream.next()
	want(f1, first)
	stream.close()

	// Missed while disconnected, then replayed on reconnection (to either replica).
	setStatus(second)
	setStatus(third)
	again := openEvents(t, s2.base, acct.access, strconv.FormatInt(f1.id, 10))
	f2, f3 := again.next(), again.next()
	want(f2, second)
	want(f3, third)
	if f1.id >= f2.id || f2.id >= f3.id {
		t.Errorf("ids %d, %d, %d are not increasing", f1.id, f2.id, f3.id)
	}
	setStatus(second)
	f4 := again.next()
	want(f4, second)
	if f4.id <= f3.id {
		t.Errorf("live event %d after replayed %d (a duplicate?)", f4.id, f3.id)
	}

	// A conversation's stream on replica 2 follows what replica 1 does with it: the customer's
	// message (dashboard chat), then a human agent's reply. credits_updated and the agent's
	// status, workspace-wide, are not sent on it.
	setStatus("ACTIVE")
	r = call(t, "POST", s1.base+"/v1/agents/"+agentID+"/chat", map[string]any{"message": "Hello there"}, auth)
	conv, _ := r.body["conversationId"].(string)
	if r.status != 200 || conv == "" {
		t.Fatalf("chat: %d %s", r.status, r.raw)
	}
	convStream := openEvents(t, s2.base+"/v1/events?conversationId="+conv, acct.access, "")
	setStatus("INACTIVE")
	setStatus("ACTIVE")
	r = call(t, "POST", s1.base+"/v1/agents/"+agentID+"/chat", map[string]any{"message": "Are you there?", "conversationId": conv}, auth)
	if r.status != 200 {
		t.Fatalf("chat: %d %s", r.status, r.raw)
	}
	r = call(t, "POST", s1.base+"/v1/conversations/"+conv+"/messages", map[string]any{"content": "A human here."}, auth)
	if r.status != 201 {
		t.Fatalf("human reply: %d %s", r.status, r.raw)
	}
	// Events of the first message may still arrive: the stream on replica 2 can subscribe
	// before replica 2's hub has received their NOTIFY (they are then delivered live), and the
	// first message was handed off (the offline answer has low confidence), whose job
	// publishes handoff_triggered again with the summary once it has run. Everything before
	// the second message must still be about this conversation.
	f := convStream.next()
	for {
		if f.data["conversationId"] != conv {
			t.Fatalf("conversation stream got %s %v", f.event, f.data)
		}
		if msg, _ := f.data["message"].(map[string]any); f.event == "user_message" && msg["content"] == "Are you there?" {
			break
		}
		f = convStream.next()
	}
	if msg, _ := f.data["message"].(map[string]any); f.event != "user_message" || f.data["conversationId"] != conv || msg["content"] != "Are you there?" {
		t.Fatalf("conversation stream: %s %v, want the user_message", f.event, f.data)
	}
	// The AI may answer or stay silent (a handoff); the human reply comes last.
	for {
		f = convStream.next()
		if f.data["conversationId"] != conv {
			t.Fatalf("conversation stream got %s %v", f.event, f.data)
		}
		if msg, _ := f.data["message"].(map[string]any); f.event == "new_message" && msg["role"] == "HUMAN_AGENT" {
			if msg["content"] != "A human here." {
				t.Fatalf("human reply event %v", f.data)
			}
			break
		}
	}

	// Another workspace's conversation is 404 before any stream starts.
	other := register(t, s1.base)
	r = call(t, "GET", s2.base+"/v1/events?conversationId="+conv+"&access_token="+other.access, nil, nil)
	r.expectError(t, 404, "NOT_FOUND")
	r = call(t, "GET", s2.base+"/v1/events?conversationId="+uuid.NewString()+"&access_token="+acct.access, nil, nil)
	r.expectError(t, 404, "NOT_FOUND")

	// SIGTERM with a stream open: the stream ends and the process exits 0.
	s2.terminate(t)
	for range again.frames {
	}
	s1.terminate(t)
	assertNoSecrets(t, s1.stderr.String()+s2.stderr.String(), acct.password, acct.access, acct.refresh.Value)
}
