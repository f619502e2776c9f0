package channels

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/secretbox"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// Valid credentials per type. Every secret value starts with "SEKRET" so that a leak into a
// response, a log line or the database is one search.
var validCreds = map[string]map[string]any{
	"WHATSAPP":  {"phoneNumberId": "106540352242922", "accessToken": "SEKRET-wa-access", "appSecret": "SEKRET-wa-app", "verifyToken": "SEKRET-wa-verify"},
	"MESSENGER": {"pageId": "112233445566", "pageAccessToken": "SEKRET-fb-page", "appSecret": "SEKRET-fb-app", "verifyToken": "SEKRET-fb-verify"},
	"TELEGRAM":  {"botToken": "123456789:SEKRET_tg_AAbbCCddEEffGGhhIIjj"},
	"SLACK":     {"botToken": "xoxb-SEKRET-slack-bot", "signingSecret": "SEKRET-slack-signing"},
	"SMS":       {"accountSid": "AC0123456789abcdef0123456789abcdef", "authToken": "SEKRET-sms-auth", "fromNumber": "+15551234567"},
	"VOICE":     {"accountSid": "AC0123456789abcdef0123456789abcdef", "authToken": "SEKRET-voice-auth", "fromNumber": "+15557654321"},
	"EMAIL":     {"fromAddress": "support@acme.test"},
}

func reqPut(path, token string, body any) apitest.Req {
	return apitest.Req{Method: http.MethodPut, Path: path, Token: token, Body: body}
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range m {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// details returns a VALIDATION_ERROR's field → problem map.
func details(t *testing.T, res *apitest.Response) map[string]any {
	t.Helper()
	m := res.ExpectError(t, http.StatusBadRequest, "VALIDATION_ERROR")
	d, _ := m["details"].(map[string]any)
	return d
}

func TestPutChannelValidatesPerType(t *testing.T) {
	t.Parallel()
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 100)
	member := ce.AddMember(w, authn.RoleMember)
	admin := ce.AddMember(w, authn.RoleAdmin)

	cases := []struct {
		name    string
		typ     string
		token   string
		body    any
		status  int
		code    string
		fields  []string // expected detail keys (exactly)
		problem string   // a substring of the first field's problem
	}{
		{"member is forbidden", "whatsapp", member.Token, map[string]any{"isActive": true, "credentials": validCreds["WHATSAPP"]}, 403, "FORBIDDEN", nil, ""},
		{"unknown type", "fax", w.Token, map[string]any{"isActive": true}, 404, "NOT_FOUND", nil, ""},
		{"isActive required", "whatsapp", w.Token, map[string]any{"credentials": validCreds["WHATSAPP"]}, 400, "VALIDATION_ERROR", []string{"isActive"}, "required"},
		{"credentials not an object", "telegram", w.Token, map[string]any{"isActive": true, "credentials": "x"}, 400, "VALIDATION_ERROR", []string{"credentials"}, "object"},
		{
			"whatsapp missing fields", "whatsapp", w.Token,
			map[string]any{"isActive": true, "credentials": map[string]any{"phoneNumberId": "1"}},
			400, "VALIDATION_ERROR",
			[]string{"credentials.accessToken", "credentials.appSecret", "credentials.verifyToken"},
			"required",
		},
		{
			"whatsapp phone id not numeric", "WHATSAPP", w.Token,
			map[string]any{"isActive": true, "credentials": with(validCreds["WHATSAPP"], "phoneNumberId", "SEKRET-abc")},
			400, "VALIDATION_ERROR",
			[]string{"credentials.phoneNumberId"},
			"numeric",
		},
		{
			"messenger blank token", "messenger", w.Token,
			map[string]any{"isActive": true, "credentials": with(validCreds["MESSENGER"], "pageAccessToken", "   ")},
			400, "VALIDATION_ERROR",
			[]string{"credentials.pageAccessToken"},
			"required",
		},
		{
			"telegram bad token", "telegram", w.Token,
			map[string]any{"isActive": true, "credentials": map[string]any{"botToken": "SEKRET-not-a-token"}},
			400, "VALIDATION_ERROR",
			[]string{"credentials.botToken"},
			"Telegram bot token",
		},
		{
			"slack token not xoxb", "slack", w.Token,
			map[string]any{"isActive": true, "credentials": with(validCreds["SLACK"], "botToken", "xoxp-SEKRET")},
			400, "VALIDATION_ERROR",
			[]string{"credentials.botToken"},
			"xoxb-",
		},
		{
			"sms bad sid and number", "sms", w.Token,
			map[string]any{"isActive": true, "credentials": with(with(validCreds["SMS"], "accountSid", "SEKRET"), "fromNumber", "555-1234")},
			400, "VALIDATION_ERROR",
			[]string{"credentials.accountSid", "credentials.fromNumber"},
			"Account SID",
		},
		{
			"voice token not a string", "voice", w.Token,
			map[string]any{"isActive": true, "credentials": with(validCreds["VOICE"], "authToken", 42)},
			400, "VALIDATION_ERROR",
			[]string{"credentials.authToken"},
			"string",
		},
		{
			"email bad address", "email", w.Token,
			map[string]any{"isActive": true, "credentials": map[string]any{"fromAddress": "Support <support@acme.test>"}},
			400, "VALIDATION_ERROR",
			[]string{"credentials.fromAddress"},
			"e-mail",
		},
		{
			"unknown credential field", "telegram", w.Token,
			map[string]any{"isActive": true, "credentials": with(validCreds["TELEGRAM"], "apiKey", "SEKRET-x")},
			400, "VALIDATION_ERROR",
			[]string{"credentials.apiKey"},
			"not a TELEGRAM credential",
		},
		{
			"web takes no credentials", "web", w.Token,
			map[string]any{"isActive": true, "credentials": map[string]any{"token": "SEKRET"}},
			400, "VALIDATION_ERROR",
			[]string{"credentials.token"},
			"no credentials",
		},
		{"activation needs credentials", "slack", w.Token, map[string]any{"isActive": true}, 400, "VALIDATION_ERROR", []string{"credentials"}, "required to activate"},
		{"web without credentials", "web", w.Token, map[string]any{"isActive": true}, 200, "", nil, ""},
		{"inactive without credentials", "sms", admin.Token, map[string]any{"isActive": false}, 200, "", nil, ""},
	}
	for typ, creds := range validCreds {
		cases = append(cases, struct {
			name    string
			typ     string
			token   string
			body    any
			status  int
			code    string
			fields  []string
			problem string
		}{"valid " + typ, strings.ToLower(typ), admin.Token, map[string]any{"isActive": true, "credentials": creds}, 200, "", nil, ""})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := ce.Do(reqPut("/v1/channels/"+tc.typ, tc.token, tc.body))
			if res.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tc.status, res.Body)
			}
			if strings.Contains(string(res.Body), "SEKRET") {
				t.Fatalf("response carries a credential value: %s", res.Body)
			}
			if tc.code == "VALIDATION_ERROR" {
				d := details(t, res)
				if len(d) != len(tc.fields) {
					t.Fatalf("details %v, want fields %v", d, tc.fields)
				}
				for _, f := range tc.fields {
					if _, ok := d[f]; !ok {
						t.Fatalf("details %v lack %s", d, f)
					}
				}
				if p, _ := d[tc.fields[0]].(string); !strings.Contains(p, tc.problem) {
					t.Fatalf("%s: %q does not mention %q", tc.fields[0], p, tc.problem)
				}
			} else if tc.code != "" {
				res.ExpectError(t, tc.status, tc.code)
			}
			if tc.status == 200 {
				var ch Channel
				res.JSON(t, &ch)
				if ch.Type != strings.ToUpper(tc.typ) || ch.ID == "" {
					t.Fatalf("channel %+v", ch)
				}
			}
		})
	}
	if n := ce.count(t, `SELECT count(*) FROM channels WHERE workspace_id = $1`, w.ID); n != len(validCreds)+1 {
		t.Fatalf("%d channels stored, want %d (failed requests store nothing)", n, len(validCreds)+1)
	}
	if strings.Contains(ce.LogText(), "SEKRET") {
		t.Fatal("a credential value reached the log")
	}
}

var webhookURLRe = regexp.MustCompile(`^/v1/webhooks/([0-9a-f]{32})/([a-z]+)(\?key=([0-9a-f]{64}))?$`)

func TestChannelsListAndStorage(t *testing.T) {
	t.Parallel()
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 100)
	other := ce.NewWorkspace("STARTER", 100)
	member := ce.AddMember(w, authn.RoleMember)
	for _, typ := range []string{"WHATSAPP", "EMAIL", "WEB"} {
		body := map[string]any{"isActive": true}
		if c := validCreds[typ]; c != nil {
			body["credentials"] = c
		}
		if res := ce.Do(reqPut("/v1/channels/"+typ, w.Token, body)); res.Status != 200 {
			t.Fatalf("%s: %d %s", typ, res.Status, res.Body)
		}
	}
	// Another workspace's WHATSAPP: its own row, its own slug.
	if res := ce.Do(reqPut("/v1/channels/whatsapp", other.Token, map[string]any{"isActive": true, "credentials": validCreds["WHATSAPP"]})); res.Status != 200 {
		t.Fatalf("other: %d %s", res.Status, res.Body)
	}

	list := func(token string) map[string]Channel {
		t.Helper()
		res := ce.Get("/v1/channels", token)
		if res.Status != 200 {
			t.Fatalf("list: %d %s", res.Status, res.Body)
		}
		if strings.Contains(string(res.Body), "SEKRET") || strings.Contains(string(res.Body), "redential") && !strings.Contains(string(res.Body), "hasCredentials") {
			t.Fatalf("list leaks: %s", res.Body)
		}
		var out struct{ Items []Channel }
		res.JSON(t, &out)
		m := map[string]Channel{}
		for _, c := range out.Items {
			m[c.Type] = c
		}
		return m
	}
	got := list(member.Token) // MEMBER reads
	if len(got) != 3 {
		t.Fatalf("list %+v", got)
	}
	wa, em, web := got["WHATSAPP"], got["EMAIL"], got["WEB"]
	if !wa.IsActive || !wa.HasCredentials || wa.AgentID != nil || web.HasCredentials || web.WebhookURL != nil {
		t.Fatalf("whatsapp %+v web %+v", wa, web)
	}
	m := webhookURLRe.FindStringSubmatch(*wa.WebhookURL)
	if m == nil || m[2] != "whatsapp" || m[3] != "" {
		t.Fatalf("whatsapp webhookUrl %q", *wa.WebhookURL)
	}
	if strings.Contains(m[1], strings.ReplaceAll(w.ID, "-", "")[:8]) {
		t.Fatalf("slug %s looks derived from the workspace %s", m[1], w.ID)
	}
	me := webhookURLRe.FindStringSubmatch(*em.WebhookURL)
	if me == nil || me[2] != "email" || me[4] == "" || me[1] == m[1] {
		t.Fatalf("email webhookUrl %q (whatsapp slug %s)", *em.WebhookURL, m[1])
	}
	otherWA := list(other.Token)["WHATSAPP"]
	if len(list(other.Token)) != 1 || otherWA.ID == wa.ID || *otherWA.WebhookURL == *wa.WebhookURL {
		t.Fatalf("other workspace sees %+v", list(other.Token))
	}

	// In the database: ciphertext under the current key version, which opens to the input.
	var row struct {
		Creds  []byte `db:"credentials_enc"`
		Secret []byte `db:"webhook_secret_enc"`
		Ver    int    `db:"key_version"`
		Slug   string `db:"webhook_slug"`
	}
	if err := ce.DB.GetContext(context.Background(), &row, `SELECT credentials_enc, webhook_secret_enc, key_version, webhook_slug FROM channels WHERE id = $1`, wa.ID); err != nil {
		t.Fatal(err)
	}
	box, _ := secretbox.New(testBoxKey, nil)
	if row.Ver != box.CurrentVersion() || row.Slug != m[1] || strings.Contains(string(row.Creds), "SEKRET") {
		t.Fatalf("row: version %d (want %d), slug %s, creds plaintext? %v", row.Ver, box.CurrentVersion(), row.Slug, strings.Contains(string(row.Creds), "SEKRET"))
	}
	plain, err := box.Open(row.Creds, row.Ver)
	if err != nil {
		t.Fatal(err)
	}
	var creds map[string]string
	if err := json.Unmarshal(plain, &creds); err != nil || creds["accessToken"] != "SEKRET-wa-access" || len(creds) != 4 {
		t.Fatalf("stored credentials %v (%v)", creds, err)
	}

	// Deactivating without credentials keeps them, the slug and the EMAIL key.
	res := ce.Do(reqPut("/v1/channels/email", w.Token, map[string]any{"isActive": false}))
	if res.Status != 200 {
		t.Fatalf("deactivate: %d %s", res.Status, res.Body)
	}
	var em2 Channel
	res.JSON(t, &em2)
	if em2.IsActive || !em2.HasCredentials || *em2.WebhookURL != *em.WebhookURL || em2.ID != em.ID {
		t.Fatalf("after deactivation %+v, before %+v", em2, em)
	}

	// The process logger redacts a "credentials" attribute, should one ever be logged.
	ce.Deps.Log.Info("probe", "credentials", validCreds["SLACK"], "botToken", "xoxb-SEKRET-direct")
	if strings.Contains(ce.LogText(), "SEKRET") {
		t.Fatal("a credential value reached the log")
	}
}

func TestLinkChannelRoutes(t *testing.T) {
	t.Parallel()
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("PRO", 100)
	other := ce.NewWorkspace("STARTER", 100)
	member := ce.AddMember(w, authn.RoleMember)
	a := ce.agent(t, w, map[string]any{"name": "A"})
	b := ce.agent(t, w, map[string]any{"name": "B"})
	foreign := ce.agent(t, other, nil)
	if res := ce.Do(reqPut("/v1/channels/telegram", w.Token, map[string]any{"isActive": true, "credentials": validCreds["TELEGRAM"]})); res.Status != 200 {
		t.Fatalf("configure: %d %s", res.Status, res.Body)
	}
	agentChannels := func(agent string) []any {
		t.Helper()
		res := ce.Get("/v1/agents/"+agent, w.Token)
		if res.Status != 200 {
			t.Fatalf("get agent: %d %s", res.Status, res.Body)
		}
		chs, _ := res.Map(t)["channels"].([]any)
		return chs
	}
	link := func(agent string) string { return "/v1/agents/" + agent + "/channels/telegram" }
	del := func(path, token string) *apitest.Response {
		return ce.Do(apitest.Req{Method: http.MethodDelete, Path: path, Token: token})
	}

	steps := []struct {
		name   string
		do     func() *apitest.Response
		status int
		code   string
		check  func(t *testing.T, res *apitest.Response)
	}{
		{"member cannot link", func() *apitest.Response {
			return ce.Do(reqPut(link(a), member.Token, map[string]any{"isActive": true}))
		}, 403, "FORBIDDEN", nil},
		{"other workspace's agent", func() *apitest.Response {
			return ce.Do(reqPut(link(foreign), w.Token, map[string]any{"isActive": true}))
		}, 404, "NOT_FOUND", nil},
		{"other workspace cannot link our agent", func() *apitest.Response {
			return ce.Do(reqPut(link(a), other.Token, map[string]any{"isActive": true}))
		}, 404, "NOT_FOUND", nil},
		{"channel not configured", func() *apitest.Response {
			return ce.Do(reqPut("/v1/agents/"+a+"/channels/slack", w.Token, map[string]any{"isActive": true}))
		}, 404, "NOT_FOUND", nil},
		{"malformed agent id", func() *apitest.Response { return ce.Do(reqPut("/v1/agents/nope/channels/telegram", w.Token, nil)) }, 404, "NOT_FOUND", nil},
		{"link to A", func() *apitest.Response { return ce.Do(reqPut(link(a), w.Token, map[string]any{"isActive": true})) }, 200, "", func(t *testing.T, res *apitest.Response) {
			var ch Channel
			res.JSON(t, &ch)
			if ch.AgentID == nil || *ch.AgentID != a || len(agentChannels(a)) != 1 || len(agentChannels(b)) != 0 {
				t.Fatalf("after link to A: %+v, A %v, B %v", ch, agentChannels(a), agentChannels(b))
			}
		}},
		{"move to B", func() *apitest.Response { return ce.Do(reqPut(link(b), w.Token, map[string]any{"isActive": false})) }, 200, "", func(t *testing.T, res *apitest.Response) {
			if len(agentChannels(a)) != 0 || len(agentChannels(b)) != 1 {
				t.Fatalf("after move: A %v, B %v", agentChannels(a), agentChannels(b))
			}
			if n := ce.count(t, `SELECT count(*) FROM agent_channels WHERE agent_id = ANY($1::uuid[])`, "{"+a+","+b+"}"); n != 1 {
				t.Fatalf("%d links, want 1", n)
			}
			var list struct{ Items []Channel }
			ce.Get("/v1/channels", w.Token).JSON(t, &list)
			if len(list.Items) != 1 || list.Items[0].AgentID == nil || *list.Items[0].AgentID != b {
				t.Fatalf("list after move: %+v", list.Items)
			}
		}},
		{"A no longer has it", func() *apitest.Response { return del(link(a), w.Token) }, 404, "NOT_FOUND", nil},
		{"member cannot unlink", func() *apitest.Response { return del(link(b), member.Token) }, 403, "FORBIDDEN", nil},
		{"other workspace cannot unlink", func() *apitest.Response { return del(link(b), other.Token) }, 404, "NOT_FOUND", nil},
		{"unlink B", func() *apitest.Response { return del(link(b), w.Token) }, 204, "", func(t *testing.T, _ *apitest.Response) {
			if len(agentChannels(b)) != 0 {
				t.Fatalf("B still linked: %v", agentChannels(b))
			}
		}},
		{"unlink again", func() *apitest.Response { return del(link(b), w.Token) }, 404, "NOT_FOUND", nil},
	}
	for _, s := range steps { // in order: each step builds on the previous
		t.Run(s.name, func(t *testing.T) {
			res := s.do()
			if res.Status != s.status {
				t.Fatalf("status %d, want %d: %s", res.Status, s.status, res.Body)
			}
			if s.code != "" {
				res.ExpectError(t, s.status, s.code)
			}
			if s.check != nil {
				s.check(t, res)
			}
		})
	}
}

func TestPutIntegration(t *testing.T) {
	t.Parallel()
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("STARTER", 100)
	member := ce.AddMember(w, authn.RoleMember)
	zd := map[string]any{"subdomain": "acme", "email": "agent@acme.test", "apiToken": "SEKRET-zd"}
	cases := []struct {
		name   string
		kind   string
		token  string
		body   any
		status int
		fields []string
	}{
		{"member forbidden", "zendesk", member.Token, zd, 403, nil},
		{"unknown kind", "jira", w.Token, zd, 404, nil},
		{"zendesk missing token", "ZENDESK", w.Token, with(zd, "apiToken", nil), 400, []string{"credentials.apiToken"}},
		{"zendesk subdomain is a host", "zendesk", w.Token, with(zd, "subdomain", "evil.test/x?"), 400, []string{"credentials.subdomain"}},
		{"zendesk bad email", "zendesk", w.Token, with(zd, "email", "nope"), 400, []string{"credentials.email"}},
		{"freshdesk arbitrary host", "freshdesk", w.Token, map[string]any{"domain": "169.254.169.254", "apiKey": "SEKRET-fd"}, 400, []string{"credentials.domain"}},
		{"freshdesk not a string", "freshdesk", w.Token, map[string]any{"domain": "acme", "apiKey": 5}, 400, []string{"credentials.apiKey"}},
		{"zendesk ok", "zendesk", w.Token, zd, 200, nil},
		{"freshdesk ok, wrapped", "freshdesk", w.Token, map[string]any{"credentials": map[string]any{"domain": "acme.freshdesk.com", "apiKey": "SEKRET-fd"}}, 200, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := ce.Do(reqPut("/v1/integrations/"+tc.kind, tc.token, tc.body))
			if res.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tc.status, res.Body)
			}
			if strings.Contains(string(res.Body), "SEKRET") {
				t.Fatalf("response leaks: %s", res.Body)
			}
			if tc.fields != nil {
				d := details(t, res)
				for _, f := range tc.fields {
					if _, ok := d[f]; !ok || len(d) != len(tc.fields) {
						t.Fatalf("details %v, want %v", d, tc.fields)
					}
				}
			}
		})
	}
	var cr freshdeskCreds
	if err := ce.mod.svc.integration(context.Background(), w.ID, DestFreshdesk, &cr); err != nil || cr.APIKey != "SEKRET-fd" || cr.Domain != "acme.freshdesk.com" {
		t.Fatalf("freshdesk stored %+v (%v)", cr, err)
	}
	if n := ce.count(t, `SELECT count(*) FROM integrations WHERE workspace_id = $1 AND position('SEKRET' in encode(credentials_enc, 'escape')) = 0`, w.ID); n != 2 {
		t.Fatalf("%d sealed integrations, want 2", n)
	}
	if strings.Contains(ce.LogText(), "SEKRET") {
		t.Fatal("a credential value reached the log")
	}
}
