package channels

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

const shopOrigin = "https://shop.example"

func TestWidgetCORSFromAllowedOrigins(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{})
	w := se.NewWorkspace("PRO", 100)
	locked := se.newAgent(t, w, map[string]any{"allowedOrigins": []string{shopOrigin + "/"}})
	open := se.newAgent(t, w, map[string]any{"name": "Open"})

	for _, tc := range []struct {
		name      string
		agent     string
		method    string
		path      string
		origin    string
		status    int
		allowed   bool
		preflight bool
	}{
		{"preflight from an allowed origin", locked, http.MethodOptions, "/sessions", shopOrigin, 204, true, true},
		{"preflight of messages", locked, http.MethodOptions, "/messages", "https://SHOP.example", 204, true, true},
		{"preflight from another origin", locked, http.MethodOptions, "/sessions", "https://evil.example", 204, false, false},
		{"session from an allowed origin", locked, http.MethodPost, "/sessions", shopOrigin, 201, true, false},
		{"session from another origin", locked, http.MethodPost, "/sessions", "https://evil.example", 403, false, false},
		{"config from an allowed origin", locked, http.MethodGet, "/config", shopOrigin, 200, true, false},
		{"config from another origin", locked, http.MethodGet, "/config", "https://evil.example", 403, false, false},
		{"no origin (server to server)", locked, http.MethodPost, "/sessions", "", 201, false, false},
		{"empty list allows any origin", open, http.MethodPost, "/sessions", "https://anywhere.example", 201, true, false},
		{"empty list preflight", open, http.MethodOptions, "/messages", "https://anywhere.example", 204, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.origin != "" {
				h["Origin"] = tc.origin
			}
			if tc.method == http.MethodOptions {
				h["Access-Control-Request-Method"] = "POST"
				h["Access-Control-Request-Headers"] = "authorization, content-type"
			}
			var body any
			if tc.method == http.MethodPost {
				body = map[string]any{}
			}
			res := se.Do(apitest.Req{Method: tc.method, Path: "/v1/widget/" + tc.agent + tc.path, Body: body, Header: h})
			if res.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tc.status, res.Body)
			}
			acao := res.Header.Get("Access-Control-Allow-Origin")
			if (tc.allowed && acao != tc.origin) || (!tc.allowed && acao != "") {
				t.Fatalf("Access-Control-Allow-Origin %q (allowed %v)", acao, tc.allowed)
			}
			if got := res.Header.Get("Access-Control-Allow-Headers"); tc.preflight != strings.Contains(got, "Authorization") {
				t.Fatalf("Access-Control-Allow-Headers %q", got)
			}
			if !strings.Contains(res.Header.Get("Vary"), "Origin") {
				t.Fatal("no Vary: Origin")
			}
			if tc.allowed && !tc.preflight && !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
				t.Fatalf("expose headers %q", res.Header.Get("Access-Control-Expose-Headers"))
			}
		})
	}
	// The dashboard API keeps its own CORS (FRONTEND_URL): a shop origin is not allowed there.
	res := se.Do(apitest.Req{Method: http.MethodGet, Path: "/v1/agents", Token: w.Token, Header: map[string]string{"Origin": shopOrigin}})
	if res.Status != 200 || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("dashboard route: %d ACAO %q", res.Status, res.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestWidgetConfigIsPublicFaceOnly(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{})
	w := se.NewWorkspace("PRO", 100)
	agent := se.newAgent(t, w, map[string]any{"avatar": "https://cdn.example/a.png", "systemPrompt": "SECRET PROMPT", "routingPolicy": "SECRET POLICY"})
	if res := se.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/agents/" + agent + "/widget", Token: w.Token, Body: map[string]any{"greeting": "Hello there", "streaming": false}}); res.Status != 200 {
		t.Fatalf("patch widget: %d %s", res.Status, res.Body)
	}
	res := se.Get("/v1/widget/"+agent+"/config", "")
	if res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	var cfg widgetConfigOut
	res.JSON(t, &cfg)
	if cfg.AgentID != agent || cfg.Name != "Shop helper" || cfg.Avatar == nil || *cfg.Avatar != "https://cdn.example/a.png" ||
		cfg.Streaming || cfg.Widget.Greeting != "Hello there" || cfg.Widget.PrimaryColor == "" {
		t.Fatalf("config %s", res.Body)
	}
	if strings.Contains(string(res.Body), "SECRET") || strings.Contains(string(res.Body), w.ID) {
		t.Fatalf("config leaks settings: %s", res.Body)
	}

	// DRAFT and INACTIVE agents, deleted agents and unknown ids are not found.
	draft := se.newAgent(t, w, map[string]any{"name": "Draft", "status": "DRAFT"})
	inactive := se.newAgent(t, w, map[string]any{"name": "Off", "status": "INACTIVE"})
	gone := se.newAgent(t, w, map[string]any{"name": "Gone"})
	if res := se.Do(apitest.Req{Method: http.MethodDelete, Path: "/v1/agents/" + gone, Token: w.Token}); res.Status >= 300 {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	for _, id := range []string{draft, inactive, gone, "0190b0a0-0000-7000-8000-0000000000ff", "not-a-uuid"} {
		se.Get("/v1/widget/"+id+"/config", "").ExpectError(t, http.StatusNotFound, "NOT_FOUND")
		se.Post("/v1/widget/"+id+"/sessions", "", map[string]any{}).ExpectError(t, http.StatusNotFound, "NOT_FOUND")
	}
}

func TestWidgetSessionMessagesAndHistory(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{})
	w := se.NewWorkspace("STARTER", 100)
	agent := se.newAgent(t, w, nil)
	visitor := "visitor-0123456789abcdef"

	res := se.Post("/v1/widget/"+agent+"/sessions", "", map[string]any{"visitorId": visitor, "name": "Ada"})
	if res.Status != http.StatusCreated {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	var sess sessionOut
	res.JSON(t, &sess)
	cl, err := se.Deps.Issuer.VerifyWidget(sess.SessionToken)
	if err != nil || cl.AgentID != agent || cl.WorkspaceID != w.ID || cl.VisitorID != visitor || cl.ConversationID != sess.ConversationID {
		t.Fatalf("claims %+v %v", cl, err)
	}
	if d := time.Until(sess.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("expiresAt %v", sess.ExpiresAt)
	}

	// JSON answer.
	res = se.Post("/v1/widget/"+agent+"/messages", sess.SessionToken, map[string]any{"content": "When are you open?"})
	if res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	var ans struct {
		ConversationID string        `json:"conversationId"`
		Message        answerMessage `json:"message"`
	}
	res.JSON(t, &ans)
	if ans.ConversationID != sess.ConversationID || ans.Message.Role != RoleAssistant || len(ans.Message.Sources) != 2 {
		t.Fatalf("answer %s", res.Body)
	}
	// SSE answer.
	res = se.Post("/v1/widget/"+agent+"/messages", sess.SessionToken, map[string]any{"content": "Can I return things?", "stream": true})
	cs, text := checkStream(t, res)
	if cs[0].ConversationID != sess.ConversationID || text == "" || len(cs[len(cs)-1].Axon.Sources) != 2 {
		t.Fatalf("stream %s", res.Body)
	}

	// History: oldest first, sources on ASSISTANT messages, paginated.
	res = se.Get("/v1/widget/"+agent+"/messages", sess.SessionToken)
	var hist struct {
		Items      []widgetMessageOut `json:"items"`
		NextCursor *string            `json:"nextCursor"`
	}
	res.JSON(t, &hist)
	roles := []string{}
	for _, m := range hist.Items {
		roles = append(roles, m.Role)
	}
	if strings.Join(roles, ",") != "USER,ASSISTANT,USER,ASSISTANT" || hist.Items[0].Content != "When are you open?" ||
		len(hist.Items[1].Sources) != 2 || hist.Items[0].Sources != nil || hist.Items[3].Content != text || hist.NextCursor != nil {
		t.Fatalf("history %s", res.Body)
	}
	var all []string
	for _, m := range hist.Items {
		all = append(all, m.ID)
	}
	var page []string
	cursor := ""
	for range 5 {
		path := "/v1/widget/" + agent + "/messages?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		res = se.Get(path, sess.SessionToken)
		res.JSON(t, &hist)
		for _, m := range hist.Items {
			page = append(page, m.ID)
		}
		if hist.NextCursor == nil {
			break
		}
		cursor = *hist.NextCursor
	}
	if strings.Join(page, ",") != strings.Join(all, ",") {
		t.Fatalf("paged ids %v", page)
	}
	se.Get("/v1/widget/"+agent+"/messages?cursor=!!", sess.SessionToken).ExpectError(t, 400, "VALIDATION_ERROR")

	// The same visitor resumes the conversation; another visitor gets their own.
	_, again := se.session(t, agent, visitor)
	_, other := se.session(t, agent, "")
	if again != sess.ConversationID || other == sess.ConversationID {
		t.Fatalf("resume %s / %s / other %s", sess.ConversationID, again, other)
	}
	// The conversation is a WEB conversation of the visitor, named.
	var row struct {
		Channel  string  `db:"channel_type"`
		Customer string  `db:"customer_id"`
		Name     *string `db:"customer_name"`
	}
	if err := se.DB.Get(&row, `SELECT channel_type, customer_id, customer_name FROM conversations WHERE id = $1`, sess.ConversationID); err != nil {
		t.Fatal(err)
	}
	if row.Channel != "WEB" || row.Customer != visitor || row.Name == nil || *row.Name != "Ada" {
		t.Fatalf("conversation %+v", row)
	}

	// Bad input.
	for _, tc := range []struct {
		name   string
		path   string
		token  string
		body   any
		status int
		code   string
	}{
		{"4001 characters", "/messages", sess.SessionToken, map[string]any{"content": strings.Repeat("x", 4001)}, 400, "VALIDATION_ERROR"},
		{"empty content", "/messages", sess.SessionToken, map[string]any{"content": " "}, 400, "VALIDATION_ERROR"},
		{"body over 64 KB", "/messages", sess.SessionToken, `{"content":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "PAYLOAD_TOO_LARGE"},
		{"short visitor id", "/sessions", "", map[string]any{"visitorId": "abc"}, 400, "VALIDATION_ERROR"},
		{"visitor id with a colon", "/sessions", "", map[string]any{"visitorId": "dashboard:" + w.UserID}, 400, "VALIDATION_ERROR"},
		{"long name", "/sessions", "", map[string]any{"name": strings.Repeat("n", 101)}, 400, "VALIDATION_ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			se.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/widget/" + agent + tc.path, Token: tc.token, Body: tc.body}).ExpectError(t, tc.status, tc.code)
		})
	}
}

func TestWidgetTokensAreNotInterchangeable(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{})
	w := se.NewWorkspace("PRO", 100)
	agent := se.newAgent(t, w, nil)
	otherAgent := se.newAgent(t, w, map[string]any{"name": "Other"})
	tok, conv := se.session(t, agent, "")
	otherTok, _ := se.session(t, otherAgent, "")
	expired, err := se.Deps.Issuer.IssueWidget(authn.WidgetClaims{AgentID: agent, WorkspaceID: w.ID, ConversationID: conv, VisitorID: "v_expired-visitor-id"}, -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	foreignWS, err := se.Deps.Issuer.IssueWidget(authn.WidgetClaims{AgentID: agent, WorkspaceID: "0190b0a0-0000-7000-8000-0000000000ee", ConversationID: conv, VisitorID: "v_forged-visitor-id"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	msg := map[string]any{"content": "hello"}
	for _, tc := range []struct {
		name   string
		method string
		token  string
		code   string
	}{
		{"another agent's token", http.MethodPost, otherTok, "INVALID_TOKEN"},
		{"another agent's token on history", http.MethodGet, otherTok, "INVALID_TOKEN"},
		{"expired token", http.MethodPost, expired, "INVALID_TOKEN"},
		{"token of another workspace", http.MethodPost, foreignWS, "INVALID_TOKEN"},
		{"dashboard token", http.MethodPost, w.Token, "INVALID_TOKEN"},
		{"dashboard token on history", http.MethodGet, w.Token, "INVALID_TOKEN"},
		{"garbage", http.MethodPost, "abc.def.ghi", "INVALID_TOKEN"},
		{"no token", http.MethodPost, "", "MISSING_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.method == http.MethodPost {
				body = msg
			}
			se.Do(apitest.Req{Method: tc.method, Path: "/v1/widget/" + agent + "/messages", Token: tc.token, Body: body}).ExpectError(t, http.StatusUnauthorized, tc.code)
		})
	}
	// A widget token on dashboard routes.
	se.Get("/v1/agents", tok).ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
	se.Post("/v1/agents/"+agent+"/chat", tok, msg).ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
	se.Get("/v1/conversations/"+conv, tok).ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
	// Nothing was stored by the rejected requests.
	var n int
	_ = se.DB.Get(&n, `SELECT count(*) FROM messages WHERE conversation_id = $1`, conv)
	if n != 0 {
		t.Fatalf("%d messages stored", n)
	}
}

func TestWidgetRateLimits(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{})
	w := se.NewWorkspace("STARTER", 1000)
	agent := se.newAgent(t, w, nil)
	tok, _ := se.session(t, agent, "")

	// 20 messages a minute per visitor: the 21st is refused before the pipeline.
	for i := range 20 {
		res := se.Post("/v1/widget/"+agent+"/messages", tok, map[string]any{"content": "hello"})
		if res.Status != http.StatusOK {
			t.Fatalf("message %d: %d %s", i+1, res.Status, res.Body)
		}
	}
	res := se.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/widget/" + agent + "/messages", Token: tok, Body: map[string]any{"content": "hello"}, Header: map[string]string{"Origin": shopOrigin}})
	res.ExpectError(t, http.StatusTooManyRequests, "RATE_LIMITED")
	if res.Header.Get("Retry-After") == "" || res.Header.Get("Access-Control-Allow-Origin") != shopOrigin {
		t.Fatalf("429 headers %v", res.Header)
	}
	var users int
	_ = se.DB.Get(&users, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.agent_id = $1 AND m.role = 'USER'`, agent)
	if users != 20 {
		t.Fatalf("%d USER messages stored, want 20", users)
	}
	// Another visitor (same IP: 21 of its 60) still gets through.
	tok2, _ := se.session(t, agent, "")
	if res := se.Post("/v1/widget/"+agent+"/messages", tok2, map[string]any{"content": "hello"}); res.Status != 200 {
		t.Fatalf("other visitor: %d %s", res.Status, res.Body)
	}

	// 60 sessions and messages a minute per IP: 2 sessions and 22 messages (the refused
	// one too: the per-IP limit comes before the visitor's) are spent.
	for i := range 36 {
		if res := se.Post("/v1/widget/"+agent+"/sessions", "", map[string]any{}); res.Status != http.StatusCreated {
			t.Fatalf("session %d: %d %s", i+1, res.Status, res.Body)
		}
	}
	se.Post("/v1/widget/"+agent+"/sessions", "", map[string]any{}).ExpectError(t, http.StatusTooManyRequests, "RATE_LIMITED")
	// Another IP is not limited by it.
	res = se.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/widget/" + agent + "/sessions", Body: map[string]any{}, Header: map[string]string{"X-Forwarded-For": "203.0.113.9"}})
	if res.Status != http.StatusCreated {
		t.Fatalf("other IP: %d %s", res.Status, res.Body)
	}
}

func TestWidgetPerAgentLimit(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{})
	w := se.NewWorkspace("PRO", 100)
	agent := se.newAgent(t, w, nil)
	other := se.newAgent(t, w, map[string]any{"name": "Other"})
	// 600 a minute per agent, across IPs: sessions from 60 addresses, 10 each.
	for i := range 600 {
		ip := "198.51.100." + itoa(i/10)
		res := se.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/widget/" + agent + "/sessions", Body: map[string]any{}, Header: map[string]string{"X-Forwarded-For": ip}})
		if res.Status != http.StatusCreated {
			t.Fatalf("session %d: %d %s", i+1, res.Status, res.Body)
		}
	}
	res := se.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/widget/" + agent + "/sessions", Body: map[string]any{}, Header: map[string]string{"X-Forwarded-For": "198.51.100.200"}})
	res.ExpectError(t, http.StatusTooManyRequests, "RATE_LIMITED")
	// Another agent has its own budget.
	res = se.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/widget/" + other + "/sessions", Body: map[string]any{}, Header: map[string]string{"X-Forwarded-For": "198.51.100.201"}})
	if res.Status != http.StatusCreated {
		t.Fatalf("other agent: %d %s", res.Status, res.Body)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func TestWidgetAtZeroCreditsGetsFallbackWithoutAICall(t *testing.T) {
	t.Parallel()
	se := newSurfEnv(t, surfOptions{fake: true})
	w := se.NewWorkspace("STARTER", 0)
	agent := se.newAgent(t, w, nil)
	tok, conv := se.session(t, agent, "")

	res := se.Post("/v1/widget/"+agent+"/messages", tok, map[string]any{"content": "When are you open?"})
	if res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	var ans answerOut
	res.JSON(t, &ans)
	if ans.ConversationID != conv || ans.Message == nil || ans.Message.Role != RoleSystem || ans.Message.Content != TextNoCredits {
		t.Fatalf("answer %s", res.Body)
	}
	res = se.Post("/v1/widget/"+agent+"/messages", tok, map[string]any{"content": "Hello?", "stream": true})
	cs, text := checkStream(t, res)
	if text != TextNoCredits || cs[len(cs)-1].Axon.Role != RoleSystem {
		t.Fatalf("stream %s", res.Body)
	}
	if n := len(se.fake.Requests()); n != 0 {
		t.Fatalf("%d requests reached the provider", n)
	}
	if b := se.balance(t, w.ID); b != 0 {
		t.Fatalf("balance %d", b)
	}
}
