package channels

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/platform/cache"
)

// allowAll is a limiter that never limits (benchmarks send far more than 30 a minute).
type allowAll struct{}

func (allowAll) Allow(_ context.Context, _ string, limit int, _ time.Duration) cache.Decision {
	return cache.Decision{Allowed: true, Limit: limit, Remaining: limit}
}

func (allowAll) Peek(_ context.Context, _ string, limit int, _ time.Duration) cache.Decision {
	return cache.Decision{Allowed: true, Limit: limit, Remaining: limit}
}

// instantResponder answers at once without any provider: what is left of a message's cost
// is the pipeline's own (conversation, lease, USER message, credits, the reply's
// transaction with its deduction, events and the send job).
type instantResponder struct{}

func (instantResponder) Gate(agents.Agent, time.Time) agents.Gate {
	return agents.Gate{Kind: agents.GateOpen}
}

func (instantResponder) Answer(_ context.Context, _ agents.AnswerRequest, onDelta func(string) error) (agents.Answer, error) {
	const text = "We are open Monday to Friday from 9 am to 6 pm."
	if onDelta != nil {
		if err := onDelta(text); err != nil {
			return agents.Answer{}, err
		}
	}
	return agents.Answer{
		Content: text, Scores: agents.Scores{Factual: 0.9, Intent: 0.9, Emotional: 0.9, Composite: 0.9}, Scored: true,
		Sources: []agents.Source{{DocID: surfPassages[0].DocID, Title: surfPassages[0].Title}},
	}, nil
}

func (instantResponder) Summarize(context.Context, agents.Agent, []agents.Turn) (string, error) {
	return "", nil
}

func (instantResponder) Tag(context.Context, agents.Agent, []agents.Turn) ([]string, error) {
	return nil, nil
}

// insertMs is the mean time of one bare INSERT of a message row (autocommit), the yardstick
// the pipeline is compared with.
func insertMs(b *testing.B, se *surfEnv, ws, conv string, n int) float64 {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	for range n {
		if _, err := se.DB.ExecContext(ctx, `INSERT INTO messages (id, conversation_id, workspace_id, role, content) VALUES ($1, $2, $3, 'USER', $4)`,
			uuid.Must(uuid.NewV7()).String(), conv, ws, "When are you open?"); err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(start).Microseconds()) / 1000 / float64(n)
}

// BenchmarkPipelineOverhead is one customer message through Service.Respond. With
// "instant" the responder answers at once (no provider: the pipeline's own overhead); with
// "fake-openai" the real responder calls the fake OpenAI server, which answers instantly
// (two local HTTP calls: the streamed completion and the scoring). Each reports ms/op, the
// mean of one bare message INSERT measured in the same run (insert-ms) and the ratio.
func BenchmarkPipelineOverhead(b *testing.B) {
	for _, tc := range []struct {
		name string
		o    surfOptions
	}{
		{"instant", surfOptions{responder: instantResponder{}, limiter: allowAll{}}},
		{"fake-openai", surfOptions{fake: true, limiter: allowAll{}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			se := newSurfEnv(b, tc.o)
			w := se.NewWorkspace("STARTER", 10_000_000)
			agent := se.newAgent(b, w, nil)
			ctx := context.Background()
			in := Inbound{WorkspaceID: w.ID, AgentID: agent, ChannelType: ChannelWeb, CustomerID: "bench-visitor", Content: "When are you open?"}
			rep, err := se.mod.svc.Respond(ctx, in, nil) // warm-up: the conversation exists
			if err != nil || rep.Message == nil || rep.Message.Role != RoleAssistant {
				b.Fatalf("warm-up: %+v %v", rep, err)
			}
			in.ConversationID = rep.ConversationID
			ins := insertMs(b, se, w.ID, rep.ConversationID, 200)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if _, err := se.mod.svc.Respond(ctx, in, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			per := float64(time.Since(start).Microseconds()) / 1000 / float64(b.N)
			b.ReportMetric(per, "ms/msg")
			b.ReportMetric(ins, "insert-ms")
			b.ReportMetric(per/ins, "x-insert")
		})
	}
}

// BenchmarkPipelinePaired is BenchmarkPipelineOverhead/instant with the yardstick measured
// beside it: b.N pairs of one bare message INSERT and one message through Respond, after 30
// warm-up pairs, reporting the medians and their ratio. On a shared machine the cost of a
// commit can change several-fold within a minute, which BenchmarkPipelineOverhead's 200
// INSERTs before the loop do not see; here both sides of each pair run under the same
// conditions (docs/performance.md, "Chat pipeline overhead").
func BenchmarkPipelinePaired(b *testing.B) {
	se := newSurfEnv(b, surfOptions{responder: instantResponder{}, limiter: allowAll{}})
	w := se.NewWorkspace("STARTER", 10_000_000)
	agent := se.newAgent(b, w, nil)
	ctx := context.Background()
	in := Inbound{WorkspaceID: w.ID, AgentID: agent, ChannelType: ChannelWeb, CustomerID: "bench-visitor", Content: "When are you open?"}
	rep, err := se.mod.svc.Respond(ctx, in, nil)
	if err != nil || rep.Message == nil || rep.Message.Role != RoleAssistant {
		b.Fatalf("warm-up: %+v %v", rep, err)
	}
	in.ConversationID = rep.ConversationID
	pair := func() (ins, msg time.Duration) {
		start := time.Now()
		insertMs(b, se, w.ID, rep.ConversationID, 1)
		mid := time.Now()
		if _, err := se.mod.svc.Respond(ctx, in, nil); err != nil {
			b.Fatal(err)
		}
		return mid.Sub(start), time.Since(mid)
	}
	for range 30 {
		pair()
	}
	ins, msg := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		i, m := pair()
		ins, msg = append(ins, i), append(msg, m)
	}
	b.StopTimer()
	b.ReportMetric(pct(msg, 50), "msg-p50-ms")
	b.ReportMetric(pct(ins, 50), "insert-p50-ms")
	b.ReportMetric(pct(msg, 50)/pct(ins, 50), "x-insert")
}

// BenchmarkMessageInsert is the bare INSERT of one message row on its own.
func BenchmarkMessageInsert(b *testing.B) {
	se := newSurfEnv(b, surfOptions{responder: instantResponder{}, limiter: allowAll{}})
	w := se.NewWorkspace("STARTER", 100)
	agent := se.newAgent(b, w, nil)
	rep, err := se.mod.svc.Respond(context.Background(), Inbound{WorkspaceID: w.ID, AgentID: agent, ChannelType: ChannelWeb, CustomerID: "v", Content: "hi"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	ms := insertMs(b, se, w.ID, rep.ConversationID, b.N)
	b.ReportMetric(ms, "ms/insert")
}

// BenchmarkChatSSETTFB posts a streaming dashboard chat through the real HTTP stack and
// measures the time to the first byte of the response (the opening role chunk, sent once
// the request is validated and the credits checked), to the first content delta and to
// the end of the stream; percentiles over b.N requests.
func BenchmarkChatSSETTFB(b *testing.B) {
	for _, tc := range []struct {
		name string
		o    surfOptions
	}{
		{"instant", surfOptions{responder: instantResponder{}, limiter: allowAll{}}},
		{"fake-openai", surfOptions{fake: true, limiter: allowAll{}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			se := newSurfEnv(b, tc.o)
			w := se.NewWorkspace("STARTER", 10_000_000)
			agent := se.newAgent(b, w, nil)
			body := `{"message":"When are you open?","stream":true}`
			ttfb := make([]time.Duration, 0, b.N)
			total := make([]time.Duration, 0, b.N)
			firstDelta := make([]time.Duration, 0, b.N)
			client := se.Server.Client()
			b.ResetTimer()
			for range b.N {
				var start, first time.Time
				trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
					http.MethodPost, se.Server.URL+"/v1/agents/"+agent+"/chat", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+w.Token)
				start = time.Now()
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var all strings.Builder
				var content time.Time
				rd := bufio.NewReader(res.Body)
				for {
					line, err := rd.ReadString('\n')
					if content.IsZero() && strings.Contains(line, `"content":`) {
						content = time.Now()
					}
					all.WriteString(line)
					if err != nil {
						break
					}
				}
				res.Body.Close()
				end := time.Now()
				if res.StatusCode != 200 || !strings.HasSuffix(all.String(), "data: [DONE]\n\n") {
					b.Fatalf("%d %s", res.StatusCode, all.String())
				}
				ttfb = append(ttfb, first.Sub(start))
				firstDelta = append(firstDelta, content.Sub(start))
				total = append(total, end.Sub(start))
			}
			b.StopTimer()
			b.ReportMetric(pct(ttfb, 50), "ttfb-p50-ms")
			b.ReportMetric(pct(ttfb, 99), "ttfb-p99-ms")
			b.ReportMetric(pct(firstDelta, 50), "delta-p50-ms")
			b.ReportMetric(pct(total, 50), "done-p50-ms")
		})
	}
}

func pct(d []time.Duration, p int) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return float64(s[i].Microseconds()) / 1000
}
