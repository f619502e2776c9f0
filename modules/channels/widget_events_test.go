package channels

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/realtime"
)

// openEvents connects to the widget's event stream and returns its frames as they come.
func (se *surfEnv) openEvents(t *testing.T, agentID, token string) <-chan sseFrame {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, se.Server.URL+"/v1/widget/"+agentID+"/events?session_token="+token, nil)
	req.Header.Set("Origin", shopOrigin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" ||
		res.Header.Get("Access-Control-Allow-Origin") != shopOrigin {
		t.Fatalf("events: %d %v", res.StatusCode, res.Header)
	}
	out := make(chan sseFrame, 64)
	go func() {
		defer res.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		var f sseFrame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if f != (sseFrame{}) {
					out <- f
				}
				f = sseFrame{}
			case strings.HasPrefix(line, ":"):
				f.Comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "event: "):
				f.Event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				f.Data = line[len("data: "):]
			}
		}
	}()
	return out
}

// nextEvent returns the next frame that is an event (pings and retry hints skipped).
func nextEvent(t *testing.T, frames <-chan sseFrame) sseFrame {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatal("event stream ended")
			}
			if f.Event != "" {
				return f
			}
		case <-timeout:
			t.Fatal("no event within 10 s")
		}
	}
}

func TestWidgetEventsCarryHumanRepliesOfTheSessionOnly(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{ping: 20 * time.Millisecond})
	w := se.NewWorkspace("STARTER", 100)
	agent := se.newAgent(t, w, nil)
	tok, conv := se.session(t, agent, "")
	_, otherConv := se.session(t, agent, "")
	frames := se.openEvents(t, agent, tok)

	// Wait until the stream is subscribed: a ping arrives after the subscription.
	for f := range frames {
		if f.Comment == "ping" {
			break
		}
	}
	ctx := context.Background()
	pub := realtime.PG{}
	for _, ev := range []realtime.Event{
		{WorkspaceID: w.ID, ConversationID: conv, Type: realtime.TypeHandoffTriggered, Payload: map[string]any{"summary": "internal"}},
		{WorkspaceID: w.ID, ConversationID: otherConv, Type: realtime.TypeNewMessage, Payload: map[string]any{"conversationId": otherConv}},
		{WorkspaceID: w.ID, Type: realtime.TypeCreditsUpdated, Payload: map[string]any{"balance": 1}},
	} {
		if err := pub.Publish(ctx, se.DB, ev); err != nil {
			t.Fatal(err)
		}
	}
	// A human agent replies from the dashboard.
	res := se.Post("/v1/conversations/"+conv+"/messages", w.Token, map[string]any{"content": "Hi, this is Sam from support."})
	if res.Status != http.StatusCreated {
		t.Fatalf("human reply: %d %s", res.Status, res.Body)
	}
	// A human reply also hands the conversation to the human (a status event comes first).
	f := nextEvent(t, frames)
	for f.Event == realtime.TypeConversationStatusChanged && strings.Contains(f.Data, conv) {
		f = nextEvent(t, frames)
	}
	if f.Event != realtime.TypeNewMessage {
		t.Fatalf("first event %+v; the handoff, the other conversation's and the workspace's events must not reach the visitor", f)
	}
	var p struct {
		ConversationID string `json:"conversationId"`
		Message        struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
	}
	if err := json.Unmarshal([]byte(f.Data), &p); err != nil {
		t.Fatal(err)
	}
	if p.ConversationID != conv || p.Message.Role != RoleHumanAgent || p.Message.Content != "Hi, this is Sam from support." {
		t.Fatalf("event %s", f.Data)
	}

	// Another agent's token, or none, is refused before the stream starts.
	se.Get("/v1/widget/"+agent+"/events", "").ExpectError(t, http.StatusUnauthorized, "MISSING_TOKEN")
	se.Get("/v1/widget/"+agent+"/events?session_token="+w.Token, "").ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
}
