package channels

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestEventsConversationFilterIsAuthorized: GET /v1/events?conversationId= streams one of the
// caller's conversations (token in the query, as EventSource sends it) and answers 404 for
// another workspace's conversation or an unknown one, before any stream starts.
func TestEventsConversationFilterIsAuthorized(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	a, b := ce.NewWorkspace("STARTER", 10), ce.NewWorkspace("STARTER", 10)
	agentA := ce.agent(t, a, nil)
	convA := ce.respond(t, Inbound{WorkspaceID: a.ID, AgentID: agentA, ChannelType: ChannelWeb, CustomerID: "visitor-1", Content: "Hello"}).ConversationID
	other := ce.respond(t, Inbound{WorkspaceID: a.ID, AgentID: agentA, ChannelType: ChannelWeb, CustomerID: "visitor-2", Content: "Hi"}).ConversationID

	for _, path := range []string{
		"/v1/events?conversationId=" + convA + "&access_token=" + b.Token, // another workspace's
		"/v1/events?conversationId=" + uuid.NewString() + "&access_token=" + a.Token,
		"/v1/events?conversationId=nope&access_token=" + a.Token,
	} {
		ce.Get(path, "").ExpectError(t, http.StatusNotFound, "NOT_FOUND")
	}
	ce.Get("/v1/events", "").ExpectError(t, http.StatusUnauthorized, "MISSING_TOKEN")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ce.Server.URL+"/v1/events?conversationId="+convA+"&access_token="+a.Token, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	events := make(chan map[string]any, 10)
	go func() {
		sc := bufio.NewScanner(res.Body)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				typ = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				var m map[string]any
				_ = json.Unmarshal([]byte(v), &m)
				m["_type"] = typ
				events <- m
			}
		}
		close(events)
	}()

	// The other conversation's change is filtered out; this one's arrives.
	for _, id := range []string{other, convA} {
		r := ce.Do(reqPatch("/v1/conversations/"+id, a.Token, map[string]any{"status": "RESOLVED"}))
		if r.Status != http.StatusOK {
			t.Fatalf("PATCH conversation: %d %s", r.Status, r.Body)
		}
	}
	select {
	case m := <-events:
		if m["_type"] != "conversation_status_changed" || m["conversationId"] != convA || m["status"] != "RESOLVED" {
			t.Fatalf("first event = %v, want convA's status change", m)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no event")
	}
}
