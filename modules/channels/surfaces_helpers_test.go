package channels

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/modules/agents/agentapi"
	"github.com/axonhq/axon/modules/auth"
	"github.com/axonhq/axon/modules/internal/apptest"
	"github.com/axonhq/axon/platform/ai"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/testkit/apitest"
	"github.com/axonhq/axon/platform/testkit/fakeopenai"
)

// surfKnowledge is the agents' knowledge as the responder retrieves it: the same passages
// for every agent (retrieval itself is ingestion's and is tested there).
type surfKnowledge struct{}

var surfPassages = []agents.Passage{
	{
		DocID: "0190b0a0-0000-7000-8000-00000000000a", Title: "Opening hours", ChunkIdx: 0, Similarity: 0.9,
		Content: "Our shop is open Monday to Friday from 9 am to 6 pm. On Saturdays we open from 10 am to 2 pm.",
	},
	{
		DocID: "0190b0a0-0000-7000-8000-00000000000b", Title: "Returns", ChunkIdx: 3, Similarity: 0.85, URL: "https://shop.example/returns",
		Content: "Returns are accepted within 30 days of delivery with the original receipt.",
	},
}

func (surfKnowledge) Search(context.Context, string, string, string, int, float64) ([]agents.Passage, error) {
	return surfPassages, nil
}

// surfEnv is auth, billing, email, agents (with the real responder) and channels through
// the real HTTP stack.
type surfEnv struct {
	*apptest.Env
	mod  *Module
	fake *fakeopenai.Server // nil with the offline provider
}

type surfOptions struct {
	fake      bool          // answer through the fake OpenAI server instead of the offline provider
	ping      time.Duration // SSE keep-alive interval
	limiter   cache.Limiter
	responder Responder        // replaces the real responder (benchmarks of the pipeline alone)
	now       func() time.Time // the pipeline's and the responder's clock (default time.Now)
	// agentReads, when set, counts the module's reads of an agent (AgentDirectory.Get).
	agentReads *atomic.Int64
}

// countingAgents is an AgentDirectory that counts its reads.
type countingAgents struct {
	AgentDirectory
	n *atomic.Int64
}

func (c countingAgents) Get(ctx context.Context, ws, id string) (agentapi.Agent, error) {
	c.n.Add(1)
	return c.AgentDirectory.Get(ctx, ws, id)
}

func newSurfEnv(t testing.TB, o surfOptions) *surfEnv {
	t.Helper()
	se := &surfEnv{}
	var chatter ai.Chatter = ai.NewOffline()
	if o.fake {
		se.fake = fakeopenai.New(t)
		chatter = ai.NewOpenAI(ai.OpenAIConfig{BaseURL: se.fake.URL(), APIKey: "sk-test", MaxRetries: -1})
	}
	se.Env = apptest.New(t, apitest.Options{Limiter: o.limiter}, func(d *kernel.Deps) ([]kernel.Module, error) {
		mail, authMod, bill, err := accountModules(d)
		if err != nil {
			return nil, err
		}
		dir := agents.NewDirectory(d.DB)
		resp := o.responder
		if resp == nil {
			if resp, err = agents.NewResponder(agents.ResponderDeps{Chatter: chatter, Knowledge: surfKnowledge{}, MinSimilarity: 0.1, Log: d.Log, Now: o.now}); err != nil {
				return nil, err
			}
		}
		var agentDir AgentDirectory = dir
		if o.agentReads != nil {
			agentDir = countingAgents{dir, o.agentReads}
		}
		se.mod, err = New(Deps{
			DB: d.DB, Queue: d.Queue, Publisher: d.Publisher, Agents: agentDir, Responder: resp,
			Credits: bill.Credits(), Mailer: mail.Mailer(), Staff: auth.NewDirectory(d.DB),
			Authed: d.Authed, Log: d.Log, FrontendURL: "http://app.test", Events: d.Hub, Now: o.now,
			Surfaces: SurfaceDeps{Issuer: d.Issuer, Limiter: d.Limiter, Widgets: dir, Model: "test-model", PingEvery: o.ping},
		})
		if err != nil {
			return nil, err
		}
		// The agents routes (to create agents), with channels' real links.
		ag, err := agents.New(agents.Deps{
			DB: d.DB, Publisher: d.Publisher, Authed: d.Authed, Log: d.Log,
			Knowledge: noKnowledge{}, Channels: se.mod,
		})
		if err != nil {
			return nil, err
		}
		return []kernel.Module{authMod, bill, mail, ag, se.mod}, nil
	})
	return se
}

// newAgent creates an agent through the API (handoff off unless body says otherwise).
func (se *surfEnv) newAgent(t testing.TB, w apitest.Workspace, body map[string]any) string {
	t.Helper()
	b := map[string]any{"name": "Shop helper", "systemPrompt": "You help the shop's customers.", "handoffEnabled": false}
	for k, v := range body {
		b[k] = v
	}
	res := se.Post("/v1/agents", w.Token, b)
	if res.Status != http.StatusCreated {
		t.Fatalf("create agent: %d %s", res.Status, res.Body)
	}
	return res.Map(t)["id"].(string)
}

func (se *surfEnv) balance(t testing.TB, ws string) int {
	t.Helper()
	var n int
	if err := se.DB.GetContext(context.Background(), &n, `SELECT credit_balance FROM workspaces WHERE id = $1`, ws); err != nil {
		t.Fatal(err)
	}
	return n
}

// session opens a widget session and returns its token and conversation id.
func (se *surfEnv) session(t testing.TB, agentID, visitorID string) (string, string) {
	t.Helper()
	body := map[string]any{}
	if visitorID != "" {
		body["visitorId"] = visitorID
	}
	res := se.Post("/v1/widget/"+agentID+"/sessions", "", body)
	if res.Status != http.StatusCreated {
		t.Fatalf("widget session: %d %s", res.Status, res.Body)
	}
	m := res.Map(t)
	return m["sessionToken"].(string), m["conversationId"].(string)
}

// sseFrame is one parsed Server-Sent Events frame.
type sseFrame struct {
	Comment string // ": ping" → "ping"
	Event   string
	Data    string
}

// chunkOut is a chat.completion.chunk as a client decodes it.
type chunkOut struct {
	ID             string `json:"id"`
	Object         string `json:"object"`
	Created        int64  `json:"created"`
	Model          string `json:"model"`
	ConversationID string `json:"conversationId"`
	Choices        []struct {
		Index int `json:"index"`
		Delta struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Axon *struct {
		Confidence *float64        `json:"confidence"`
		Handoff    json.RawMessage `json:"handoff"`
		Sources    []Source        `json:"sources"`
		MessageID  string          `json:"messageId"`
		Role       string          `json:"role"`
		Content    *string         `json:"content"`
	} `json:"axon"`
}

// parseSSE splits a whole event-stream body into frames.
func parseSSE(t testing.TB, body []byte) []sseFrame {
	t.Helper()
	var frames []sseFrame
	for _, block := range strings.Split(string(body), "\n\n") {
		if strings.TrimSpace(block) == "" {
			continue
		}
		var f sseFrame
		sc := bufio.NewScanner(strings.NewReader(block))
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, ":"):
				f.Comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "event: "):
				f.Event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				f.Data = line[len("data: "):]
			default:
				t.Fatalf("unexpected SSE line %q in %q", line, body)
			}
		}
		frames = append(frames, f)
	}
	return frames
}

// chunks decodes the data frames before [DONE]; done reports whether [DONE] ended the
// stream.
func chunks(t testing.TB, frames []sseFrame) (out []chunkOut, done bool) {
	t.Helper()
	for i, f := range frames {
		if f.Comment != "" || f.Event != "" {
			continue
		}
		if f.Data == "[DONE]" {
			if i != len(frames)-1 {
				t.Fatalf("[DONE] is not the last frame: %+v", frames)
			}
			return out, true
		}
		var c chunkOut
		if err := json.Unmarshal([]byte(f.Data), &c); err != nil {
			t.Fatalf("chunk %q: %v", f.Data, err)
		}
		out = append(out, c)
	}
	return out, false
}
