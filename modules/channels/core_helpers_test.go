package channels

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/modules/auth"
	"github.com/axonhq/axon/modules/billing"
	"github.com/axonhq/axon/modules/channels/outbound"
	"github.com/axonhq/axon/modules/email"
	"github.com/axonhq/axon/modules/internal/apptest"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/secretbox"
	"github.com/axonhq/axon/platform/testkit/apitest"
	"github.com/axonhq/axon/platform/testkit/fakeplatforms"
)

// scriptedResponder is the agents Responder as channels consumes it, scripted per test. The
// real responder (modules/agents) is tested in its own package against the fake OpenAI
// server; these tests exercise what channels does with its answers.
type scriptedResponder struct {
	mu       sync.Mutex
	answer   func(ctx context.Context, req agents.AnswerRequest) (agents.Answer, error)
	calls    int
	inFlight map[string]int // per first history/message key: concurrent Answer calls
	maxIn    int
	summary  string
	sumErr   error
	tags     []string
	tagCalls int
}

func (r *scriptedResponder) Gate(a agents.Agent, _ time.Time) agents.Gate {
	if a.Status != agents.StatusActive {
		return agents.Gate{Kind: agents.GateInactive, Text: "This assistant is offline right now."}
	}
	return agents.Gate{Kind: agents.GateOpen}
}

func (r *scriptedResponder) Answer(ctx context.Context, req agents.AnswerRequest, onDelta func(string) error) (agents.Answer, error) {
	r.mu.Lock()
	r.calls++
	r.inFlight[req.Agent.ID]++
	r.maxIn = max(r.maxIn, r.inFlight[req.Agent.ID])
	fn := r.answer
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight[req.Agent.ID]--
		r.mu.Unlock()
	}()
	if fn == nil {
		fn = func(context.Context, agents.AnswerRequest) (agents.Answer, error) {
			return agents.Answer{
				Content: "Answer to: " + req.Message, Scores: agents.Scores{Factual: 0.9, Intent: 0.9, Emotional: 0.9, Composite: 0.9}, Scored: true,
				Sources: []agents.Source{{DocID: "0190b0a0-0000-7000-8000-000000000001", Title: "FAQ", ChunkIdx: 2}},
			}, nil
		}
	}
	ans, err := fn(ctx, req)
	if err == nil && onDelta != nil {
		if derr := onDelta(ans.Content); derr != nil {
			return agents.Answer{}, derr
		}
	}
	return ans, err
}

func (r *scriptedResponder) Summarize(context.Context, agents.Agent, []agents.Turn) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.summary, r.sumErr
}

func (r *scriptedResponder) Tag(context.Context, agents.Agent, []agents.Turn) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tagCalls++
	return r.tags, nil
}

func (r *scriptedResponder) setAnswer(fn func(ctx context.Context, req agents.AnswerRequest) (agents.Answer, error)) {
	r.mu.Lock()
	r.answer = fn
	r.mu.Unlock()
}

func (r *scriptedResponder) answerCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// coreEnv is auth, billing, email, agents and channels through the real HTTP stack.
type coreEnv struct {
	*apptest.Env
	mod  *Module
	resp *scriptedResponder
}

type coreOptions struct {
	zendeskBase, freshdeskBase string
	// platforms, when set, is where replies go: outbound's senders point at it.
	platforms *fakeplatforms.Server
	// apiBase is API_BASE_URL (webhook URLs and Twilio's signed URL).
	apiBase string
}

var testBoxKey = []byte("0123456789abcdef0123456789abcdef")

func newCoreEnv(t testing.TB, o coreOptions) *coreEnv {
	t.Helper()
	ce := &coreEnv{resp: &scriptedResponder{inFlight: map[string]int{}, summary: "- Customer asks for a human\n- Nothing tried yet"}}
	box, err := secretbox.New(testBoxKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out *outbound.Senders
	if f := o.platforms; f != nil {
		out = outbound.New(outbound.Config{
			WhatsAppBase: f.GraphBase(), MessengerBase: f.GraphBase(), TelegramBase: f.TelegramBase(),
			SlackBase: f.SlackBase(), TwilioBase: f.TwilioBase(), ResendBase: f.ResendBase(), ResendAPIKey: f.Creds().ResendAPIKey,
		})
	}
	ce.Env = apptest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		mail, authMod, bill, err := accountModules(d)
		if err != nil {
			return nil, err
		}
		dir := agents.NewDirectory(d.DB)
		ce.mod, err = New(Deps{
			DB: d.DB, Queue: d.Queue, Publisher: d.Publisher, Agents: dir, Responder: ce.resp,
			Credits: bill.Credits(), Mailer: mail.Mailer(), Staff: auth.NewDirectory(d.DB), Box: box,
			Authed: d.Authed, Log: d.Log, FrontendURL: "http://app.test",
			ZendeskAPIBase: o.zendeskBase, FreshdeskAPIBase: o.freshdeskBase,
			HTTPClient: &http.Client{Timeout: 5 * time.Second}, Outbound: out, APIBaseURL: o.apiBase,
			Surfaces: SurfaceDeps{Issuer: d.Issuer, Limiter: d.Limiter, Widgets: dir},
			Events:   d.Hub, AuthedQuery: d.AuthedQuery,
		})
		if err != nil {
			return nil, err
		}
		// The agents routes (to create agents), with channels' real links.
		ag, err := agents.New(agents.Deps{
			DB: d.DB, Publisher: d.Publisher, Authed: d.Authed, Log: d.Log,
			Knowledge: noKnowledge{}, Channels: ce.mod,
		})
		if err != nil {
			return nil, err
		}
		return []kernel.Module{authMod, bill, mail, ag, ce.mod}, nil
	})
	return ce
}

// agent creates an agent through the API and returns its id.
func (ce *coreEnv) agent(t testing.TB, w apitest.Workspace, body map[string]any) string {
	t.Helper()
	b := map[string]any{"name": "Support", "systemPrompt": "You help customers."}
	for k, v := range body {
		b[k] = v
	}
	res := ce.Post("/v1/agents", w.Token, b)
	if res.Status != http.StatusCreated {
		t.Fatalf("create agent: %d %s", res.Status, res.Body)
	}
	return res.Map(t)["id"].(string)
}

func (ce *coreEnv) respond(t *testing.T, in Inbound) Reply {
	t.Helper()
	rep, err := ce.mod.svc.Respond(context.Background(), in, nil)
	if err != nil {
		t.Fatalf("Respond(%q): %v", in.Content, err)
	}
	return rep
}

func (ce *coreEnv) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := ce.DB.GetContext(context.Background(), &n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (ce *coreEnv) str(t *testing.T, query string, args ...any) string {
	t.Helper()
	var s *string
	if err := ce.DB.GetContext(context.Background(), &s, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if s == nil {
		return ""
	}
	return *s
}

func (ce *coreEnv) balance(t *testing.T, ws string) int {
	t.Helper()
	bal := ce.count(t, `SELECT credit_balance FROM workspaces WHERE id = $1`, ws)
	if sum := ce.count(t, `SELECT COALESCE(SUM(delta), 0)::int FROM credit_ledger WHERE workspace_id = $1`, ws); sum != bal {
		t.Fatalf("ledger invariant broken: balance %d, sum %d", bal, sum)
	}
	return bal
}

// roles returns the conversation's message roles, oldest first.
func (ce *coreEnv) roles(t *testing.T, convID string) []string {
	t.Helper()
	var out []string
	if err := ce.DB.SelectContext(context.Background(), &out, `SELECT role FROM messages WHERE conversation_id = $1 ORDER BY created_at, id`, convID); err != nil {
		t.Fatal(err)
	}
	return out
}

var errProvider = errors.New("openai: 504 gateway timeout")

func reqPatch(path, token string, body any) apitest.Req {
	return apitest.Req{Method: http.MethodPatch, Path: path, Token: token, Body: body}
}

// accountModules builds the logged e-mail, billing and auth modules in main.go's order
// (auth's directory first, billing, then auth with billing's sign-up grant) for the servers
// of this package's tests.
func accountModules(d *kernel.Deps) (*email.Module, *auth.Module, *billing.Module, error) {
	mail, err := email.New(email.Deps{DB: d.DB, Queue: d.Queue, Sender: email.LogSender{Log: d.Log}, Log: d.Log, AppURL: "http://app.test"})
	if err != nil {
		return nil, nil, nil, err
	}
	accounts := auth.NewDirectory(d.DB)
	bill, err := billing.New(billing.Deps{
		DB: d.DB, Queue: d.Queue, Publisher: d.Publisher, Mailer: mail.Mailer(), Log: d.Log,
		Authed: d.Authed, Roles: accounts, Addresses: accounts,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	authMod, err := auth.New(auth.Deps{
		DB: d.DB, Queue: d.Queue, Issuer: d.Issuer, Limiter: d.Limiter, Mailer: mail.Mailer(), Log: d.Log,
		BcryptCost: 4, SignupGrant: bill.SignupGrant,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return mail, authMod, bill, nil
}
