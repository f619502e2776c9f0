package agents_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/modules/agents"
	"github.com/axonhq/axon/modules/internal/apptest"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/testkit/apitest"
	"github.com/axonhq/axon/platform/web"
)

// newEnv serves the agents module alone behind the real access-token middleware, with
// in-memory stand-ins for ingestion's knowledge and channels' links.
func newEnv(t *testing.T) (*apptest.Env, *links) {
	t.Helper()
	l := newLinks()
	env := apptest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		mod, err := agents.New(agents.Deps{
			DB: d.DB, Publisher: d.Publisher, Log: d.Log,
			Authed:    []echo.MiddlewareFunc{authn.Middleware(d.Issuer, false)},
			Knowledge: l, Channels: l,
		})
		return []kernel.Module{mod}, err
	})
	return env, l
}

// links stands in for ingestion (agents.KnowledgeBase) and channels (agents.ChannelLinks):
// an agent's channels, its documents per status and chunks. fail makes the removals fail.
type links struct {
	mu       sync.Mutex
	channels map[string][]agents.Channel // agent id → channels
	docs     map[string]map[string]int   // agent id → status → documents
	chunks   map[string]int              // agent id → chunks
	calls    int                         // ChannelCounts + DocCounts calls
	fail     error
}

func (l *links) ChannelCounts(_ context.Context, _ string, ids []string) (map[string]int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	out := map[string]int{}
	for _, id := range ids {
		if n := len(l.channels[id]); n > 0 {
			out[id] = n
		}
	}
	return out, nil
}

func (l *links) AgentChannels(_ context.Context, _, id string) ([]agents.Channel, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]agents.Channel{}, l.channels[id]...), nil
}

func (l *links) UnlinkAgent(_ context.Context, _ *sqlx.Tx, _, id string) error {
	return l.remove(func() { delete(l.channels, id) })
}

func (l *links) DocCounts(_ context.Context, _ string, ids []string) (map[string]int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	out := map[string]int{}
	for _, id := range ids {
		for _, n := range l.docs[id] {
			out[id] += n
		}
	}
	return out, nil
}

func (l *links) StatusCounts(_ context.Context, _, id string) (map[string]int, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for st, n := range l.docs[id] {
		out[st] = n
	}
	return out, l.chunks[id], nil
}

func (l *links) RemoveAgentKnowledge(_ context.Context, _ *sqlx.Tx, _, id string) error {
	return l.remove(func() { delete(l.docs, id); delete(l.chunks, id) })
}

func newLinks() *links {
	return &links{channels: map[string][]agents.Channel{}, docs: map[string]map[string]int{}, chunks: map[string]int{}}
}

// remove runs fn unless fail is set. The real removals write in the delete's transaction;
// the stand-in only checks that an error from them aborts the delete.
func (l *links) remove(fn func()) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	fn()
	return nil
}

const minimal = `{"name":"Support bot","systemPrompt":"You answer questions about Acme."}`

func createAgent(t *testing.T, env *apptest.Env, token, body string) map[string]any {
	t.Helper()
	res := env.Post("/v1/agents", token, body)
	if res.Status != http.StatusCreated {
		t.Fatalf("create: status %d, body %s", res.Status, res.Body)
	}
	return res.Map(t)
}

func patch(env *apptest.Env, path, token string, body any) *apitest.Response {
	return env.Do(apitest.Req{Method: http.MethodPatch, Path: path, Token: token, Body: body})
}

func del(env *apptest.Env, path, token string) *apitest.Response {
	return env.Do(apitest.Req{Method: http.MethodDelete, Path: path, Token: token})
}

func count(t *testing.T, env *apptest.Env, query string, args ...any) int {
	t.Helper()
	var n int
	if err := env.DB.GetContext(context.Background(), &n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func liveAgents(t *testing.T, env *apptest.Env, workspaceID string) int {
	t.Helper()
	return count(t, env, `SELECT count(*) FROM agents WHERE workspace_id = $1 AND deleted_at IS NULL`, workspaceID)
}

func TestAgentCRUD(t *testing.T) {
	t.Parallel()
	env, _ := newEnv(t)
	ws := env.NewWorkspace("PRO", 100)

	body := `{
		"name": "  Acme helper ",
		"avatar": "https://cdn.example.com/a.png",
		"systemPrompt": "You answer questions about Acme.",
		"mode": "BOTH",
		"handoffEnabled": false,
		"handoffThreshold": 0.4,
		"handoffDest": "ZENDESK",
		"routingPolicy": "Billing questions go to a human.",
		"businessHours": {"enabled": true, "timezone": "Europe/Paris",
			"schedule": {"monday": {"open": "09:00", "close": "17:30", "enabled": true}, "sunday": {"open": "", "close": "", "enabled": false}},
			"closedMessage": "We are closed."},
		"taggingEnabled": true,
		"availableTags": ["billing", " refund ", "billing"],
		"allowedOrigins": ["HTTPS://Example.COM/", "http://localhost:5173"]
	}`
	a := createAgent(t, env, ws.Token, body)
	id := a["id"].(string)
	if !web.IsUUID(id) {
		t.Fatalf("id %q is not a UUID", id)
	}
	want := map[string]any{
		"name": "Acme helper", "avatar": "https://cdn.example.com/a.png", "status": "ACTIVE", "mode": "BOTH",
		"handoffEnabled": false, "handoffThreshold": 0.4, "handoffDest": "ZENDESK",
		"routingPolicy": "Billing questions go to a human.", "taggingEnabled": true,
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("%s = %v, want %v", k, a[k], v)
		}
	}
	if got := jsonOf(a["availableTags"]); got != `["billing","refund"]` {
		t.Errorf("availableTags = %s", got)
	}
	if got := jsonOf(a["allowedOrigins"]); got != `["https://example.com","http://localhost:5173"]` {
		t.Errorf("allowedOrigins = %s", got)
	}
	bh := a["businessHours"].(map[string]any)
	if bh["timezone"] != "Europe/Paris" || bh["closedMessage"] != "We are closed." ||
		jsonOf(bh["schedule"].(map[string]any)["monday"]) != `{"close":"17:30","enabled":true,"open":"09:00"}` {
		t.Errorf("businessHours = %s", jsonOf(bh))
	}
	if jsonOf(a["channels"]) != `[]` || jsonOf(a["knowledge"]) != `{"chunks":0,"error":0,"processing":0,"ready":0,"total":0}` {
		t.Errorf("channels/knowledge = %s %s", jsonOf(a["channels"]), jsonOf(a["knowledge"]))
	}
	wc := a["widgetConfig"].(map[string]any)
	if wc["primaryColor"] != "#4F46E5" || wc["theme"] != "light" || wc["position"] != "bottom-right" || wc["cornerRadius"] != 12.0 {
		t.Errorf("widgetConfig = %s", jsonOf(wc))
	}

	// The defaults of a minimal agent.
	m := createAgent(t, env, ws.Token, minimal)
	if m["mode"] != "TEXT" || m["handoffDest"] != "NONE" || m["handoffThreshold"] != 0.65 || m["handoffEnabled"] != true ||
		m["avatar"] != nil || m["routingPolicy"] != nil || m["businessHours"] != nil || jsonOf(m["availableTags"]) != `[]` {
		t.Errorf("defaults = %s", jsonOf(m))
	}

	// List: newest first, with the contract's fields.
	res := env.Get("/v1/agents", ws.Token)
	if res.Status != http.StatusOK {
		t.Fatalf("list: %d %s", res.Status, res.Body)
	}
	var list struct {
		Items      []map[string]any `json:"items"`
		NextCursor *string          `json:"nextCursor"`
	}
	res.JSON(t, &list)
	if len(list.Items) != 2 || list.Items[0]["id"] != m["id"] || list.Items[1]["id"] != id || list.NextCursor != nil {
		t.Fatalf("list = %s", res.Body)
	}
	for _, k := range []string{"id", "name", "avatar", "status", "mode", "channelCount", "knowledgeCount", "createdAt"} {
		if _, ok := list.Items[1][k]; !ok {
			t.Errorf("list item lacks %s: %s", k, res.Body)
		}
	}

	// Get.
	res = env.Get("/v1/agents/"+id, ws.Token)
	if res.Status != http.StatusOK || res.Map(t)["name"] != "Acme helper" {
		t.Fatalf("get: %d %s", res.Status, res.Body)
	}

	// Patch: partial; null clears the nullable fields; the status change is published.
	res = patch(env, "/v1/agents/"+id, ws.Token, `{"name":"Renamed","status":"INACTIVE","businessHours":null,"routingPolicy":"","availableTags":[]}`)
	if res.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", res.Status, res.Body)
	}
	p := res.Map(t)
	if p["name"] != "Renamed" || p["status"] != "INACTIVE" || p["businessHours"] != nil || p["routingPolicy"] != nil ||
		jsonOf(p["availableTags"]) != `[]` || p["mode"] != "BOTH" || p["systemPrompt"] != "You answer questions about Acme." ||
		jsonOf(p["allowedOrigins"]) != `["https://example.com","http://localhost:5173"]` {
		t.Errorf("after patch = %s", res.Body)
	}
	var payloads []string
	if err := env.DB.SelectContext(context.Background(), &payloads,
		`SELECT payload::text FROM realtime_events WHERE workspace_id = $1 AND type = 'agent_status_changed'`, ws.ID); err != nil {
		t.Fatal(err)
	}
	if len(payloads) != 1 || !strings.Contains(payloads[0], `"agentId": "`+id+`"`) || !strings.Contains(payloads[0], `"status": "INACTIVE"`) {
		t.Errorf("agent_status_changed events = %v", payloads)
	}
	// A PATCH that keeps the status publishes nothing.
	if res := patch(env, "/v1/agents/"+id, ws.Token, `{"status":"INACTIVE","mode":"VOICE"}`); res.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", res.Status, res.Body)
	}
	if n := count(t, env, `SELECT count(*) FROM realtime_events WHERE workspace_id = $1`, ws.ID); n != 1 {
		t.Errorf("events = %d, want 1", n)
	}

	// Delete: 204, then 404 everywhere.
	if res := del(env, "/v1/agents/"+id, ws.Token); res.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	env.Get("/v1/agents/"+id, ws.Token).ExpectError(t, 404, "NOT_FOUND")
	patch(env, "/v1/agents/"+id, ws.Token, `{"name":"x"}`).ExpectError(t, 404, "NOT_FOUND")
	del(env, "/v1/agents/"+id, ws.Token).ExpectError(t, 404, "NOT_FOUND")
	env.Get("/v1/agents/"+id+"/widget", ws.Token).ExpectError(t, 404, "NOT_FOUND")
	patch(env, "/v1/agents/"+id+"/widget", ws.Token, `{"theme":"dark"}`).ExpectError(t, 404, "NOT_FOUND")
	res = env.Get("/v1/agents", ws.Token)
	res.JSON(t, &list)
	if len(list.Items) != 1 || list.Items[0]["id"] != m["id"] {
		t.Errorf("list after delete = %s", res.Body)
	}
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	env, _ := newEnv(t)
	ws := env.NewWorkspace("PRO", 0)
	long := func(n int) string { return strings.Repeat("a", n) }
	withField := func(kv string) string {
		return `{"name":"Bot","systemPrompt":"Be helpful.",` + kv + `}`
	}
	tags := make([]string, 51)
	origins := make([]string, 21)
	for i := range tags {
		tags[i] = uuid.NewString()[:8]
	}
	for i := range origins {
		origins[i] = "https://" + uuid.NewString()[:8] + ".example.com"
	}
	cases := []struct {
		name, body, field string // field "" = no details expected (malformed JSON)
	}{
		{"empty name", `{"name":"","systemPrompt":"x"}`, "name"},
		{"blank name", `{"name":"   ","systemPrompt":"x"}`, "name"},
		{"missing name", `{"systemPrompt":"x"}`, "name"},
		{"null name", `{"name":null,"systemPrompt":"x"}`, "name"},
		{"101-char name", `{"name":"` + long(101) + `","systemPrompt":"x"}`, "name"},
		{"missing systemPrompt", `{"name":"Bot"}`, "systemPrompt"},
		{"10001-char systemPrompt", `{"name":"Bot","systemPrompt":"` + long(10001) + `"}`, "systemPrompt"},
		{"bad mode", withField(`"mode":"CHAT"`), "mode"},
		{"lower-case mode", withField(`"mode":"text"`), "mode"},
		{"null mode", withField(`"mode":null`), "mode"},
		{"bad status", withField(`"status":"ARCHIVED"`), "status"},
		{"threshold 1.5", withField(`"handoffThreshold":1.5`), "handoffThreshold"},
		{"threshold -0.1", withField(`"handoffThreshold":-0.1`), "handoffThreshold"},
		{"threshold as string", withField(`"handoffThreshold":"0.5"`), "handoffThreshold"},
		{"unknown handoffDest", withField(`"handoffDest":"SLACK"`), "handoffDest"},
		{"bad timezone", withField(`"businessHours":{"enabled":true,"timezone":"Mars/Olympus_Mons"}`), "businessHours.timezone"},
		{"Local timezone", withField(`"businessHours":{"enabled":true,"timezone":"Local"}`), "businessHours.timezone"},
		{"unknown weekday", withField(`"businessHours":{"timezone":"UTC","schedule":{"funday":{"open":"09:00","close":"17:00","enabled":true}}}`), "businessHours.schedule.funday"},
		{"bad opening time", withField(`"businessHours":{"timezone":"UTC","schedule":{"monday":{"open":"25:00","close":"17:00","enabled":true}}}`), "businessHours.schedule.monday.open"},
		{"nested wrong type", withField(`"businessHours":{"enabled":"yes"}`), "businessHours.enabled"},
		{"businessHours not an object", withField(`"businessHours":"always"`), "businessHours"},
		{"wrong JSON type", `{"name":123,"systemPrompt":"x"}`, "name"},
		{"bool as string", withField(`"handoffEnabled":"yes"`), "handoffEnabled"},
		{"tags not an array", withField(`"availableTags":"billing"`), "availableTags"},
		{"51 tags", withField(`"availableTags":` + jsonOf(tags)), "availableTags"},
		{"51-char tag", withField(`"availableTags":["` + long(51) + `"]`), "availableTags[0]"},
		{"empty tag", withField(`"availableTags":["ok",""]`), "availableTags[1]"},
		{"21 origins", withField(`"allowedOrigins":` + jsonOf(origins)), "allowedOrigins"},
		{"origin without scheme", withField(`"allowedOrigins":["example.com"]`), "allowedOrigins[0]"},
		{"origin with path", withField(`"allowedOrigins":["https://example.com/app"]`), "allowedOrigins[0]"},
		{"wildcard origin", withField(`"allowedOrigins":["https://*.example.com"]`), "allowedOrigins[0]"},
		{"javascript origin", withField(`"allowedOrigins":["javascript:alert(1)"]`), "allowedOrigins[0]"},
		{"5001-char routingPolicy", withField(`"routingPolicy":"` + long(5001) + `"`), "routingPolicy"},
		{"malformed JSON", `{"name":"Bot","systemPrompt":`, ""},
		{"trailing data", minimal + `{}`, ""},
		{"array body", `[]`, "body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := env.Post("/v1/agents", ws.Token, tc.body)
			m := res.ExpectError(t, 400, "VALIDATION_ERROR")
			if tc.field != "" {
				d, _ := m["details"].(map[string]any)
				if _, ok := d[tc.field]; !ok {
					t.Errorf("details %v do not name %s", m["details"], tc.field)
				}
			}
		})
	}
	if n := liveAgents(t, env, ws.ID); n != 0 {
		t.Fatalf("%d agents stored by invalid requests", n)
	}

	// The boundaries themselves are accepted.
	ok := `{"name":"` + strings.Repeat("é", 100) + `","systemPrompt":"` + long(10000) + `","handoffThreshold":1,` +
		`"availableTags":` + jsonOf(tags[:50]) + `,"allowedOrigins":` + jsonOf(origins[:20]) + `}`
	createAgent(t, env, ws.Token, ok)
	createAgent(t, env, ws.Token, withField(`"handoffThreshold":0,"businessHours":{"enabled":false}`))
}

func TestPatchValidation(t *testing.T) {
	t.Parallel()
	env, _ := newEnv(t)
	ws := env.NewWorkspace("PRO", 0)
	a := createAgent(t, env, ws.Token, minimal)
	path := "/v1/agents/" + a["id"].(string)
	for _, tc := range []struct{ body, field string }{
		{`{"name":""}`, "name"},
		{`{"name":null}`, "name"},
		{`{"systemPrompt":"  "}`, "systemPrompt"},
		{`{"status":"ARCHIVED"}`, "status"},
		{`{"status":"active"}`, "status"},
		{`{"mode":"VIDEO"}`, "mode"},
		{`{"handoffThreshold":1.5}`, "handoffThreshold"},
		{`{"handoffEnabled":null}`, "handoffEnabled"},
		{`{"handoffDest":"PAGERDUTY"}`, "handoffDest"},
		{`{"businessHours":{"timezone":"Nowhere/Land"}}`, "businessHours.timezone"},
		{`{"allowedOrigins":null}`, "allowedOrigins"},
		{`{"taggingEnabled":1}`, "taggingEnabled"},
	} {
		m := patch(env, path, ws.Token, tc.body).ExpectError(t, 400, "VALIDATION_ERROR")
		if d, _ := m["details"].(map[string]any); d[tc.field] == nil {
			t.Errorf("%s: details %v do not name %s", tc.body, m["details"], tc.field)
		}
	}
	got := env.Get(path, ws.Token).Map(t)
	if got["name"] != a["name"] || got["status"] != "ACTIVE" || got["mode"] != "TEXT" || got["updatedAt"] != a["updatedAt"] {
		t.Errorf("invalid patches changed the agent: %v", got)
	}
}

func TestPlanLimit(t *testing.T) {
	t.Parallel()
	env, _ := newEnv(t)
	ws := env.NewWorkspace("STARTER", 500)
	a := createAgent(t, env, ws.Token, minimal)
	m := env.Post("/v1/agents", ws.Token, minimal).ExpectError(t, 402, "PLAN_LIMIT_REACHED")
	if d, _ := m["details"].(map[string]any); d["plan"] != "STARTER" || d["limit"] != 1.0 {
		t.Errorf("details = %v", m["details"])
	}
	if n := liveAgents(t, env, ws.ID); n != 1 {
		t.Fatalf("agents = %d, want 1", n)
	}
	// Deleted agents do not count.
	if res := del(env, "/v1/agents/"+a["id"].(string), ws.Token); res.Status != http.StatusNoContent {
		t.Fatalf("delete: %d", res.Status)
	}
	createAgent(t, env, ws.Token, minimal)

	b := env.NewWorkspace("BUILDER", 0)
	for range 5 {
		createAgent(t, env, b.Token, minimal)
	}
	env.Post("/v1/agents", b.Token, minimal).ExpectError(t, 402, "PLAN_LIMIT_REACHED")
}

// TestConcurrentCreateRespectsLimit fires simultaneous creations at STARTER workspaces: the
// workspace row lock must let exactly one through each time.
func TestConcurrentCreateRespectsLimit(t *testing.T) {
	t.Parallel()
	env, _ := newEnv(t)
	const workers = 5
	for round := range 4 {
		ws := env.NewWorkspace("STARTER", 0)
		statuses := make([]int, workers)
		errs := make([]error, workers)
		var start, done sync.WaitGroup
		start.Add(1)
		for i := range workers {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/v1/agents", bytes.NewBufferString(minimal))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+ws.Token)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs[i] = err
					return
				}
				res.Body.Close()
				statuses[i] = res.StatusCode
			}()
		}
		start.Done()
		done.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		created := 0
		for _, s := range statuses {
			switch s {
			case http.StatusCreated:
				created++
			case http.StatusPaymentRequired:
			default:
				t.Errorf("round %d: unexpected status %d", round, s)
			}
		}
		if n := liveAgents(t, env, ws.ID); created != 1 || n != 1 {
			t.Fatalf("round %d: %d created (statuses %v), %d stored; want exactly 1", round, created, statuses, n)
		}
	}
}

func TestCrossWorkspaceIsNotFound(t *testing.T) {
	t.Parallel()
	env, _ := newEnv(t)
	a := env.NewWorkspace("PRO", 0)
	b := env.NewWorkspace("PRO", 0)
	agent := createAgent(t, env, a.Token, minimal)
	id := agent["id"].(string)
	path := "/v1/agents/" + id

	env.Get(path, b.Token).ExpectError(t, 404, "NOT_FOUND")
	patch(env, path, b.Token, `{"name":"Hijacked","status":"INACTIVE"}`).ExpectError(t, 404, "NOT_FOUND")
	del(env, path, b.Token).ExpectError(t, 404, "NOT_FOUND")
	env.Get(path+"/widget", b.Token).ExpectError(t, 404, "NOT_FOUND")
	patch(env, path+"/widget", b.Token, `{"theme":"dark"}`).ExpectError(t, 404, "NOT_FOUND")
	env.Get("/v1/agents/not-a-uuid", a.Token).ExpectError(t, 404, "NOT_FOUND")
	env.Get("/v1/agents/"+uuid.NewString(), a.Token).ExpectError(t, 404, "NOT_FOUND")

	var list struct{ Items []any }
	env.Get("/v1/agents", b.Token).JSON(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("workspace B lists %d agents", len(list.Items))
	}
	got := env.Get(path, a.Token).Map(t)
	if got["name"] != "Support bot" || got["status"] != "ACTIVE" || got["widgetConfig"].(map[string]any)["theme"] != "light" {
		t.Errorf("agent changed by another workspace: %v", got)
	}
	if _, err := agents.NewDirectory(env.DB).Get(context.Background(), b.ID, id); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("Directory.Get from another workspace: %v", err)
	}
}

func TestRolesAndAuth(t *testing.T) {
	t.Parallel()
	env, _ := newEnv(t)
	ws := env.NewWorkspace("PRO", 0)
	member := env.AddMember(ws, authn.RoleMember)
	admin := env.AddMember(ws, authn.RoleAdmin)
	id := createAgent(t, env, admin.Token, minimal)["id"].(string)
	path := "/v1/agents/" + id

	env.Post("/v1/agents", member.Token, minimal).ExpectError(t, 403, "FORBIDDEN")
	patch(env, path, member.Token, `{"name":"x"}`).ExpectError(t, 403, "FORBIDDEN")
	del(env, path, member.Token).ExpectError(t, 403, "FORBIDDEN")
	patch(env, path+"/widget", member.Token, `{"theme":"dark"}`).ExpectError(t, 403, "FORBIDDEN")
	for _, p := range []string{"/v1/agents", path, path + "/widget"} {
		if res := env.Get(p, member.Token); res.Status != http.StatusOK {
			t.Errorf("MEMBER GET %s: %d %s", p, res.Status, res.Body)
		}
	}
	if n := liveAgents(t, env, ws.ID); n != 1 {
		t.Errorf("agents = %d, want 1", n)
	}
	env.Get("/v1/agents", "").ExpectError(t, 401, "MISSING_TOKEN")
	env.Post("/v1/agents", "garbage", minimal).ExpectError(t, 401, "INVALID_TOKEN")
}

func TestDeleteKeepsConversationsAndRemovesKnowledge(t *testing.T) {
	t.Parallel()
	env, l := newEnv(t)
	dir := agents.NewDirectory(env.DB)
	ws := env.NewWorkspace("PRO", 0)
	id := createAgent(t, env, ws.Token, minimal)["id"].(string)
	other := createAgent(t, env, ws.Token, minimal)["id"].(string)
	ctx := context.Background()
	channelID, convID := uuid.NewString(), uuid.NewString()
	l.mu.Lock()
	l.channels[id] = []agents.Channel{{ID: channelID, Type: "WEB", IsActive: true}}
	l.docs[id] = map[string]int{"READY": 1, "PROCESSING": 1, "ERROR": 1, "PENDING": 1}
	l.chunks[id] = 2
	l.mu.Unlock()
	mustExec(t, env, `INSERT INTO conversations (id, workspace_id, agent_id, channel_type) VALUES ($1, $2, $3, 'WEB')`, convID, ws.ID, id)

	d := env.Get("/v1/agents/"+id, ws.Token).Map(t)
	if got := jsonOf(d["channels"]); got != `[{"id":"`+channelID+`","isActive":true,"type":"WEB"}]` {
		t.Errorf("channels = %s", got)
	}
	if got := jsonOf(d["knowledge"]); got != `{"chunks":2,"error":1,"processing":2,"ready":1,"total":4}` {
		t.Errorf("knowledge = %s", got)
	}
	var list struct{ Items []map[string]any }
	env.Get("/v1/agents", ws.Token).JSON(t, &list)
	if len(list.Items) != 2 || list.Items[1]["channelCount"] != 1.0 || list.Items[1]["knowledgeCount"] != 4.0 ||
		list.Items[0]["channelCount"] != 0.0 || list.Items[0]["knowledgeCount"] != 0.0 {
		t.Errorf("list = %v", list.Items)
	}
	if ag, err := dir.Get(ctx, ws.ID, id); err != nil || ag.Name != "Support bot" || ag.SystemPrompt == "" || ag.WorkspaceID != ws.ID {
		t.Errorf("Directory.Get = %+v, %v", ag, err)
	}

	// A removal that fails aborts the whole delete.
	l.mu.Lock()
	l.fail = errors.New("knowledge store down")
	l.mu.Unlock()
	if res := del(env, "/v1/agents/"+id, ws.Token); res.Status != http.StatusInternalServerError {
		t.Fatalf("delete with a failing removal: %d %s", res.Status, res.Body)
	}
	if err := dir.Exists(ctx, ws.ID, id); err != nil {
		t.Fatalf("the agent went although its knowledge stayed: %v", err)
	}
	l.mu.Lock()
	l.fail = nil
	l.mu.Unlock()

	if res := del(env, "/v1/agents/"+id, ws.Token); res.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	l.mu.Lock()
	left := len(l.channels[id]) + len(l.docs[id]) + l.chunks[id]
	l.mu.Unlock()
	if left != 0 {
		t.Errorf("links left after delete: %d", left)
	}
	for _, c := range []struct {
		q    string
		arg  string
		want int
	}{
		{`SELECT count(*) FROM conversations WHERE id = $1 AND agent_id IS NOT NULL`, convID, 1},
		{`SELECT count(*) FROM agents WHERE id = $1 AND deleted_at IS NOT NULL`, id, 1},
	} {
		if n := count(t, env, c.q, c.arg); n != c.want {
			t.Errorf("%s = %d, want %d", c.q, n, c.want)
		}
	}
	if _, err := dir.Get(ctx, ws.ID, id); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("Directory.Get of a deleted agent: %v", err)
	}
	if _, err := dir.Get(ctx, ws.ID, "nope"); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("Directory.Get of a malformed id: %v", err)
	}
	if err := dir.Exists(ctx, ws.ID, other); err != nil {
		t.Errorf("Directory.Exists of a live agent: %v", err)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	env, l := newEnv(t)
	ws := env.NewWorkspace("PRO", 0)
	var ids []string
	for range 5 {
		ids = append(ids, createAgent(t, env, ws.Token, minimal)["id"].(string))
	}
	type page struct {
		Items      []map[string]any `json:"items"`
		NextCursor *string          `json:"nextCursor"`
	}
	var seen []string
	path := "/v1/agents?limit=2"
	l.mu.Lock()
	l.calls = 0
	l.mu.Unlock()
	pages := 0
	for i := 0; ; i++ {
		pages++
		var p page
		res := env.Get(path, ws.Token)
		if res.Status != http.StatusOK {
			t.Fatalf("page %d: %d %s", i, res.Status, res.Body)
		}
		res.JSON(t, &p)
		for _, it := range p.Items {
			seen = append(seen, it["id"].(string))
		}
		if p.NextCursor == nil {
			break
		}
		if i > 5 {
			t.Fatal("pagination does not end")
		}
		path = "/v1/agents?limit=2&cursor=" + *p.NextCursor
	}
	// Newest first: the reverse of creation order, each once.
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if jsonOf(seen) != jsonOf(want) {
		t.Errorf("pages = %v, want %v", seen, want)
	}
	// The counts are asked once per page for all its agents, not once per agent.
	l.mu.Lock()
	calls := l.calls
	l.mu.Unlock()
	if calls != 2*pages {
		t.Errorf("%d count calls for %d pages, want 2 per page", calls, pages)
	}
	env.Get("/v1/agents?limit=0", ws.Token).ExpectError(t, 400, "VALIDATION_ERROR")
	env.Get("/v1/agents?limit=101", ws.Token).ExpectError(t, 400, "VALIDATION_ERROR")
	env.Get("/v1/agents?cursor=bm90LWEtY3Vyc29y", ws.Token).ExpectError(t, 400, "VALIDATION_ERROR")
}

func TestWidget(t *testing.T) {
	t.Parallel()
	env, _ := newEnv(t)
	ws := env.NewWorkspace("PRO", 0)
	id := createAgent(t, env, ws.Token, minimal)["id"].(string)
	path := "/v1/agents/" + id + "/widget"

	res := env.Get(path, ws.Token)
	if res.Status != http.StatusOK {
		t.Fatalf("get widget: %d %s", res.Status, res.Body)
	}
	defaults := `{"cornerRadius":12,"greeting":"Hi! How can I help you today?","headerTitle":"Support",` +
		`"inputPlaceholder":"Type your message…","position":"bottom-right","primaryColor":"#4F46E5","shadow":true,` +
		`"streaming":true,"template":"default","theme":"light"}`
	if got := jsonOf(res.Map(t)); got != defaults {
		t.Errorf("defaults = %s", got)
	}

	for _, tc := range []struct{ body, field string }{
		{`{"primaryColor":"red"}`, "primaryColor"},
		{`{"primaryColor":"#12345"}`, "primaryColor"},
		{`{"primaryColor":null}`, "primaryColor"},
		{`{"theme":"blue"}`, "theme"},
		{`{"position":"top-left"}`, "position"},
		{`{"cornerRadius":33}`, "cornerRadius"},
		{`{"cornerRadius":-1}`, "cornerRadius"},
		{`{"cornerRadius":12.5}`, "cornerRadius"},
		{`{"shadow":null}`, "shadow"},
		{`{"streaming":"yes"}`, "streaming"},
		{`{"greeting":"` + strings.Repeat("g", 501) + `"}`, "greeting"},
		{`{"headerTitle":"` + strings.Repeat("h", 101) + `"}`, "headerTitle"},
		{`{"inputPlaceholder":"` + strings.Repeat("i", 201) + `"}`, "inputPlaceholder"},
		{`{"template":""}`, "template"},
		{`{"template":"` + strings.Repeat("t", 51) + `"}`, "template"},
	} {
		m := patch(env, path, ws.Token, tc.body).ExpectError(t, 400, "VALIDATION_ERROR")
		if d, _ := m["details"].(map[string]any); d[tc.field] == nil {
			t.Errorf("%s: details %v do not name %s", tc.body, m["details"], tc.field)
		}
	}
	if got := jsonOf(env.Get(path, ws.Token).Map(t)); got != defaults {
		t.Errorf("invalid patches changed the widget: %s", got)
	}

	res = patch(env, path, ws.Token, `{"primaryColor":"#10b981","theme":"auto","position":"bottom-left","cornerRadius":0,"shadow":false,"streaming":false,"greeting":"","template":"minimal"}`)
	if res.Status != http.StatusOK {
		t.Fatalf("patch widget: %d %s", res.Status, res.Body)
	}
	want := `{"cornerRadius":0,"greeting":"","headerTitle":"Support","inputPlaceholder":"Type your message…",` +
		`"position":"bottom-left","primaryColor":"#10b981","shadow":false,"streaming":false,"template":"minimal","theme":"auto"}`
	if got := jsonOf(res.Map(t)); got != want {
		t.Errorf("patched = %s", got)
	}
	if got := jsonOf(env.Get("/v1/agents/"+id, ws.Token).Map(t)["widgetConfig"]); got != want {
		t.Errorf("agent's widgetConfig = %s", got)
	}
}

func mustExec(t *testing.T, env *apptest.Env, q string, args ...any) {
	t.Helper()
	if _, err := env.DB.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatal(err)
	}
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
