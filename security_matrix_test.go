package main

// The tenant-isolation matrix of the security suite. Workspace A is filled with one of
// everything (agent, knowledge document, conversation with messages, handoff, channels with
// credentials, integration, invitation, members, upload key, ledger rows); workspace B's
// owner then calls EVERY route of echo's route table with A's ids in the path, the query and
// the body. Each call must answer 404 or 403 (401 where the route takes another kind of
// token, 400 where the id is only validated), never 5xx and never A's data; afterwards A's
// rows are byte-for-byte what they were.
//
// The table below is the list of routes: a route registered by a module but missing here
// fails TestSecurityTenantMatrix until it gets an entry saying how it is exercised or why
// it is exempt.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/modules/auth/authtest"
	"github.com/axonhq/axon/modules/billing/billingtest"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/cli"
	"github.com/axonhq/axon/platform/observe"
)

// Kinds of identifiers: each has A's value and B's value in a fixture. The non-tenant kinds
// (a channel type, an integration kind) have the same value in both.
const (
	kAgent        = "agent"
	kDoc          = "doc"
	kConversation = "conversation"
	kHandoff      = "handoff"
	kInvitation   = "invitation"
	kMember       = "member"
	kWorkspace    = "workspace"
	kStorageKey   = "storageKey"
	kChannelType  = "channelType"
	kTestChannel  = "testChannel"
	kIntegration  = "integration"
)

// Who sends the request.
const (
	asOwnerB  = "" // B's owner's access token (the default)
	asWidgetB = "widgetB"
	asNobody  = "none"
)

// matrixEntry says how one route is exercised, or why it is not.
type matrixEntry struct {
	exempt string            // non-empty: not exercised, for this reason
	params map[string]string // path parameter → kind of id
	extra  []string          // kinds used in the query or body only
	query  string            // "?x={kind}"
	body   func(v map[string]string) any
	as     string
	header map[string]string
	allow  []int // statuses that pass; 2xx only where the route acts on B's own workspace
}

var (
	notFound  = []int{http.StatusForbidden, http.StatusNotFound}
	validated = []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound}
	ownOK     = []int{http.StatusOK}
	badToken  = []int{http.StatusUnauthorized}
	// Billing without STRIPE_SECRET_KEY answers 501 BILLING_NOT_CONFIGURED (SPEC §2).
	noStripe = []int{http.StatusNotImplemented}
)

const exemptWebhook = "public webhook: the slug names the channel and the platform's signature on the raw body authenticates (401 INVALID_SIGNATURE); no JWT, no workspace ids"

// securityMatrix lists every route of echo's route table ("METHOD /path" as echo registers it).
var securityMatrix = map[string]matrixEntry{
	// Operations and documents.
	"GET /health":       {exempt: "public liveness check before all middleware; no data"},
	"GET /openapi.json": {exempt: "public API description (static)"},
	"GET /docs":         {exempt: "public API documentation page (static)"},
	"GET /metrics":      {allow: badToken}, // basic auth (ADMIN_USER): a bearer token is not enough

	// auth.
	"POST /v1/auth/register": {
		extra: []string{kMember}, allow: []int{http.StatusConflict},
		body: func(v map[string]string) any {
			return map[string]string{"name": "Taken Address", "email": v["memberEmail"], "password": secPassword}
		},
	},
	"POST /v1/auth/login": {
		extra: []string{kMember}, allow: []int{http.StatusUnauthorized},
		body: func(v map[string]string) any {
			return map[string]string{"email": v["memberEmail"], "password": "B guesses A's member's password"}
		},
	},
	"POST /v1/auth/refresh": {allow: badToken, body: func(v map[string]string) any {
		return map[string]string{"refreshToken": v["accessA"]} // A's access token is not a refresh token
	}},
	"POST /v1/auth/logout": {allow: []int{http.StatusNoContent}}, // only B's own (absent) cookie; A's session is checked afterwards
	"POST /v1/auth/accept-invitation": {extra: []string{kInvitation}, allow: validated, body: func(v map[string]string) any {
		return map[string]string{"token": v[kInvitation], "name": "Invitation Thief", "password": secPassword}
	}},
	"GET /v1/auth/me": {allow: ownOK},
	"POST /v1/auth/switch-workspace": {extra: []string{kWorkspace}, allow: notFound, body: func(v map[string]string) any {
		return map[string]string{"workspaceId": v[kWorkspace]}
	}},
	"POST /v1/auth/forgot-password": {extra: []string{kMember}, allow: []int{http.StatusAccepted}, // always 202, nothing revealed
		body: func(v map[string]string) any { return map[string]string{"email": v["memberEmail"]} }},
	"POST /v1/auth/reset-password": {
		extra: []string{kInvitation}, allow: append([]int{http.StatusUnauthorized}, validated...),
		body: func(v map[string]string) any {
			return map[string]string{"token": v[kInvitation], "password": secPassword + "!"}
		},
	},
	"POST /v1/auth/verify-email": {
		extra: []string{kInvitation}, allow: append([]int{http.StatusUnauthorized}, validated...),
		body: func(v map[string]string) any { return map[string]string{"token": v[kInvitation]} },
	},
	"POST /v1/auth/verify-email/resend": {allow: []int{http.StatusAccepted, http.StatusNoContent, http.StatusConflict}},

	"GET /v1/workspace":         {allow: ownOK},
	"PATCH /v1/workspace":       {allow: ownOK, body: func(map[string]string) any { return map[string]string{"name": "B renamed"} }},
	"GET /v1/workspace/members": {allow: ownOK},
	"POST /v1/workspace/invitations": {extra: []string{kMember}, allow: []int{http.StatusCreated}, // B may invite anyone into B
		body: func(v map[string]string) any { return map[string]string{"email": v["memberEmail"], "role": "MEMBER"} }},
	"GET /v1/workspace/invitations":        {allow: ownOK},
	"DELETE /v1/workspace/invitations/:id": {params: map[string]string{"id": kInvitation}, allow: notFound},
	"PATCH /v1/workspace/members/:userId":  {params: map[string]string{"userId": kMember}, allow: notFound, body: role("OWNER")},
	"DELETE /v1/workspace/members/:userId": {params: map[string]string{"userId": kMember}, allow: notFound},

	// agents.
	"GET /v1/agents": {allow: ownOK},
	"POST /v1/agents": {allow: []int{http.StatusCreated}, body: func(map[string]string) any {
		return map[string]string{"name": "B's second agent", "systemPrompt": "Help B's customers."}
	}},
	"GET /v1/agents/:id":          {params: map[string]string{"id": kAgent}, allow: notFound},
	"PATCH /v1/agents/:id":        {params: map[string]string{"id": kAgent}, allow: notFound, body: rename},
	"DELETE /v1/agents/:id":       {params: map[string]string{"id": kAgent}, allow: notFound},
	"GET /v1/agents/:id/widget":   {params: map[string]string{"id": kAgent}, allow: notFound},
	"PATCH /v1/agents/:id/widget": {params: map[string]string{"id": kAgent}, allow: notFound, body: func(map[string]string) any { return map[string]string{"greeting": "pwned"} }},

	// ingestion.
	"GET /v1/agents/:agentId/knowledge": {params: map[string]string{"agentId": kAgent}, allow: notFound},
	// A's upload key in the body: with B's agent it must be refused as "not uploaded here".
	"POST /v1/agents/:agentId/knowledge": {
		params: map[string]string{"agentId": kAgent}, extra: []string{kStorageKey}, allow: validated,
		body: func(v map[string]string) any {
			return map[string]string{"type": "PDF", "title": "A's file", "storageKey": v[kStorageKey]}
		},
	},
	"POST /v1/agents/:agentId/knowledge/search": {
		params: map[string]string{"agentId": kAgent}, allow: notFound,
		body: func(map[string]string) any { return map[string]string{"query": "secret"} },
	},
	"GET /v1/agents/:agentId/knowledge/:id":          {params: map[string]string{"agentId": kAgent, "id": kDoc}, allow: notFound},
	"PATCH /v1/agents/:agentId/knowledge/:id":        {params: map[string]string{"agentId": kAgent, "id": kDoc}, allow: notFound, body: func(map[string]string) any { return map[string]any{"isActive": false} }},
	"DELETE /v1/agents/:agentId/knowledge/:id":       {params: map[string]string{"agentId": kAgent, "id": kDoc}, allow: notFound},
	"POST /v1/agents/:agentId/knowledge/:id/reindex": {params: map[string]string{"agentId": kAgent, "id": kDoc}, allow: notFound},
	"POST /v1/storage/presign": {allow: ownOK, body: func(map[string]string) any {
		return map[string]any{"filename": "b.pdf", "contentType": "application/pdf", "size": 1000}
	}},
	// A's key without a signature: the signed URL is the only credential of this route.
	"PUT /v1/storage/local/*": {
		params: map[string]string{"*": kStorageKey}, as: asNobody,
		header: map[string]string{"Content-Type": "application/pdf"},
		allow:  []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound},
		body:   func(map[string]string) any { return "%PDF-1.4 overwritten" },
	},

	// channels: conversations, handoffs, channels, integrations, events, chat.
	"GET /v1/conversations":               {extra: []string{kAgent}, query: "?agentId={agent}", allow: []int{http.StatusOK, http.StatusBadRequest, http.StatusNotFound}},
	"GET /v1/conversations/:id":           {params: map[string]string{"id": kConversation}, allow: notFound},
	"PATCH /v1/conversations/:id":         {params: map[string]string{"id": kConversation}, allow: notFound, body: func(map[string]string) any { return map[string]any{"status": "RESOLVED", "tags": []string{"pwned"}} }},
	"POST /v1/conversations/:id/messages": {params: map[string]string{"id": kConversation}, allow: notFound, body: func(map[string]string) any { return map[string]string{"content": "B writes to A's customer"} }},
	"POST /v1/conversations/:id/handoff":  {params: map[string]string{"id": kConversation}, allow: notFound, body: func(map[string]string) any { return map[string]string{} }},
	"GET /v1/conversations/:id/handoffs":  {params: map[string]string{"id": kConversation}, allow: notFound},
	"PATCH /v1/handoffs/:id":              {params: map[string]string{"id": kHandoff}, allow: notFound, body: func(map[string]string) any { return map[string]any{"resolved": true, "learningNote": "pwned"} }},
	"GET /v1/channels":                    {allow: ownOK},
	// A has a SLACK channel: B's PUT writes B's own SLACK channel, never A's row.
	"PUT /v1/channels/:type": {params: map[string]string{"type": kChannelType}, allow: ownOK, body: func(map[string]string) any {
		return map[string]any{"isActive": true, "credentials": map[string]string{"botToken": "xoxb-b-own-bot-token", "signingSecret": "b-own-signing-secret"}}
	}},
	// A has a WHATSAPP channel, B has none: B's test message must not go out through A's.
	"POST /v1/channels/:type/test": {
		params: map[string]string{"type": kTestChannel}, allow: validated,
		body: func(map[string]string) any { return map[string]string{"to": "+15551234567"} },
	},
	"PUT /v1/agents/:agentId/channels/:type": {
		params: map[string]string{"agentId": kAgent, "type": kChannelType}, allow: notFound,
		body: func(map[string]string) any { return map[string]any{"isActive": true} },
	},
	"DELETE /v1/agents/:agentId/channels/:type": {params: map[string]string{"agentId": kAgent, "type": kChannelType}, allow: notFound},
	"PUT /v1/integrations/:kind": {params: map[string]string{"kind": kIntegration}, allow: ownOK, body: func(map[string]string) any {
		return map[string]string{"subdomain": "bcorp", "email": "ops@b.example.com", "apiToken": "b-own-zendesk-token"}
	}},
	"GET /v1/events": {extra: []string{kConversation}, query: "?conversationId={conversation}", allow: notFound},
	// B's own agent with A's conversation id in the body must not append to A's conversation.
	"POST /v1/agents/:id/chat": {
		params: map[string]string{"id": kAgent}, extra: []string{kConversation}, allow: validated,
		body: func(v map[string]string) any {
			return map[string]string{"message": "B's question", "conversationId": v[kConversation]}
		},
	},

	// The public widget: A's agent id is its public key. A session token of B's agent
	// must not reach A's agent's conversations.
	"GET /v1/widget/:agentId/config":    {params: map[string]string{"agentId": kAgent}, as: asNobody, allow: ownOK}, // public; the marker scan checks no private field shows
	"POST /v1/widget/:agentId/sessions": {exempt: "public by design: anyone may open a chat with a deployed agent (it creates a conversation in A); rate-limited per IP and agent"},
	"POST /v1/widget/:agentId/messages": {
		params: map[string]string{"agentId": kAgent}, as: asWidgetB, allow: badToken,
		body: func(map[string]string) any { return map[string]string{"content": "hello"} },
	},
	"GET /v1/widget/:agentId/messages":     {params: map[string]string{"agentId": kAgent}, as: asWidgetB, allow: badToken},
	"GET /v1/widget/:agentId/events":       {params: map[string]string{"agentId": kAgent}, as: asWidgetB, allow: badToken},
	"OPTIONS /v1/widget/:agentId/config":   {exempt: "CORS preflight: headers only, no data"},
	"OPTIONS /v1/widget/:agentId/sessions": {exempt: "CORS preflight: headers only, no data"},
	"OPTIONS /v1/widget/:agentId/messages": {exempt: "CORS preflight: headers only, no data"},
	"OPTIONS /v1/widget/:agentId/events":   {exempt: "CORS preflight: headers only, no data"},
	"GET /widget.js":                       {exempt: "the public widget script (static)"},
	"GET /widget/:file":                    {exempt: "the public widget script, versioned file name (static)"},
	"GET /widget/demo/:agentId":            {exempt: "development-only demo page of the public widget"},

	// channels: the platforms' webhooks.
	"GET /v1/webhooks/:slug/whatsapp":    {exempt: exemptWebhook},
	"POST /v1/webhooks/:slug/whatsapp":   {exempt: exemptWebhook},
	"GET /v1/webhooks/:slug/messenger":   {exempt: exemptWebhook},
	"POST /v1/webhooks/:slug/messenger":  {exempt: exemptWebhook},
	"POST /v1/webhooks/:slug/telegram":   {exempt: exemptWebhook},
	"POST /v1/webhooks/:slug/slack":      {exempt: exemptWebhook},
	"POST /v1/webhooks/:slug/sms":        {exempt: exemptWebhook},
	"POST /v1/webhooks/:slug/email":      {exempt: exemptWebhook},
	"POST /v1/webhooks/:slug/voice":      {exempt: exemptWebhook},
	"POST /v1/webhooks/:slug/voice/turn": {exempt: exemptWebhook},

	// billing.
	"GET /v1/billing/plans":     {allow: ownOK},
	"GET /v1/billing/credits":   {allow: ownOK},
	"GET /v1/billing/ledger":    {allow: ownOK},
	"GET /v1/billing/invoices":  {allow: noStripe},
	"POST /v1/billing/checkout": {allow: noStripe, body: func(map[string]string) any { return map[string]string{"plan": "PRO"} }},
	"POST /v1/billing/topup":    {allow: noStripe, body: func(map[string]string) any { return map[string]string{"pack": "2k"} }},
	"POST /v1/billing/portal":   {allow: noStripe},
	"POST /v1/webhooks/stripe":  {exempt: "Stripe's webhook: Stripe-Signature on the raw body authenticates; no JWT, no workspace ids (TestSecurityNoSecretLeaks posts a signed event)"},

	// analytics.
	"GET /v1/analytics":            {extra: []string{kAgent}, query: "?agentId={agent}", allow: []int{http.StatusOK, http.StatusBadRequest, http.StatusNotFound}},
	"GET /v1/analytics/agents/:id": {params: map[string]string{"id": kAgent}, allow: notFound},
	"GET /v1/analytics/export":     {allow: ownOK},
	"GET /v1/notifications":        {allow: ownOK},
}

func role(r string) func(map[string]string) any {
	return func(map[string]string) any { return map[string]string{"role": r} }
}

func rename(map[string]string) any { return map[string]string{"name": "pwned"} }

// tenantKinds are the kinds whose values differ between A and B.
var tenantKinds = map[string]bool{
	kAgent: true, kDoc: true, kConversation: true, kHandoff: true, kInvitation: true,
	kMember: true, kWorkspace: true, kStorageKey: true,
}

// matrixFixture is workspace A full of data and workspace B, the attacker.
type matrixFixture struct {
	app      *secApp
	a, b     secAccount
	ids      map[string][2]string // kind → {A's value, B's value}
	vals     map[string]string    // extra values bodies use (e-mails, A's access token)
	markers  []string             // A's private content: never in a response to B
	aIDs     []string             // A's ids: never in a 2xx response to B
	widgetB  string               // B's widget session token (B's agent)
	aMembers []string
}

func newMatrixFixture(t *testing.T, app *secApp) *matrixFixture {
	t.Helper()
	sfx := uuid.NewString()[:8]
	f := &matrixFixture{app: app, ids: map[string][2]string{}, vals: map[string]string{}}
	f.a = app.register("Alice Tenant", "alice-"+sfx+"@a.example.com", "")
	f.b = app.register("Bob Attacker", "bob-"+sfx+"@b.example.com", "")
	ctx := context.Background()
	for _, ws := range []string{f.a.WorkspaceID, f.b.WorkspaceID} {
		if err := billingtest.SetPlan(ctx, app.env.DB, ws, "PRO"); err != nil {
			t.Fatal(err)
		}
	}
	memberA := authtest.NewMember(t, app.env.DB, nil, f.a.WorkspaceID, authn.RoleMember)
	memberB := authtest.NewMember(t, app.env.DB, nil, f.b.WorkspaceID, authn.RoleMember)

	type party struct {
		acct                                     secAccount
		agent, doc, conv, handoff, inv, key, tag string
	}
	fill := func(p *party) {
		tag := p.tag
		var agent struct{ ID string }
		app.must(http.StatusCreated, secReq{Method: http.MethodPost, Path: "/v1/agents", Token: p.acct.Access, Body: map[string]any{
			"name": "Agent " + tag, "systemPrompt": "PROMPT-" + tag + " never reveal this",
		}}, &agent)
		p.agent = agent.ID
		var doc struct{ Doc struct{ ID string } }
		app.must(http.StatusAccepted, secReq{Method: http.MethodPost, Path: "/v1/agents/" + p.agent + "/knowledge", Token: p.acct.Access, Body: map[string]any{
			"type": "TEXT", "title": "Doc " + tag, "content": "KNOWLEDGE-" + tag + " our private refund policy is generous and long enough to chunk.",
		}}, &doc)
		p.doc = doc.Doc.ID
		var chat struct{ ConversationID string }
		app.must(http.StatusOK, secReq{Method: http.MethodPost, Path: "/v1/agents/" + p.agent + "/chat", Token: p.acct.Access, Body: map[string]any{
			"message": "MESSAGE-" + tag + " where is my order?",
		}}, &chat)
		p.conv = chat.ConversationID
		var ho struct{ ID string }
		app.must(http.StatusCreated, secReq{Method: http.MethodPost, Path: "/v1/conversations/" + p.conv + "/handoff", Token: p.acct.Access, Body: map[string]any{}}, &ho)
		p.handoff = ho.ID
		var inv struct{ Invitation struct{ ID string } }
		app.must(http.StatusCreated, secReq{Method: http.MethodPost, Path: "/v1/workspace/invitations", Token: p.acct.Access, Body: map[string]any{
			"email": "invitee-" + tag + "@example.com", "role": "ADMIN",
		}}, &inv)
		p.inv = inv.Invitation.ID
		var up struct{ StorageKey string }
		app.must(http.StatusOK, secReq{Method: http.MethodPost, Path: "/v1/storage/presign", Token: p.acct.Access, Body: map[string]any{
			"filename": "a.pdf", "contentType": "application/pdf", "size": 1000,
		}}, &up)
		p.key = up.StorageKey
	}
	pa := &party{acct: f.a, tag: "A" + sfx}
	pb := &party{acct: f.b, tag: "B" + sfx}
	fill(pa)
	fill(pb)
	// A's channels and integration, with credentials.
	app.must(http.StatusOK, secReq{Method: http.MethodPut, Path: "/v1/channels/SLACK", Token: f.a.Access, Body: map[string]any{
		"isActive": true, "credentials": map[string]string{"botToken": "xoxb-A-" + sfx + "-bot-token", "signingSecret": "A-signing-secret-" + sfx},
	}}, nil)
	app.must(http.StatusOK, secReq{Method: http.MethodPut, Path: "/v1/channels/WHATSAPP", Token: f.a.Access, Body: map[string]any{
		"isActive": true, "credentials": map[string]string{
			"phoneNumberId": "1234567890", "accessToken": "A-wa-access-" + sfx, "appSecret": "A-wa-app-secret-" + sfx, "verifyToken": "A-wa-verify-" + sfx,
		},
	}}, nil)
	app.must(http.StatusOK, secReq{Method: http.MethodPut, Path: "/v1/agents/" + pa.agent + "/channels/SLACK", Token: f.a.Access, Body: map[string]any{"isActive": true}}, nil)
	app.must(http.StatusOK, secReq{Method: http.MethodPut, Path: "/v1/integrations/ZENDESK", Token: f.a.Access, Body: map[string]any{
		"subdomain": "acorp", "email": "ops@a.example.com", "apiToken": "A-zendesk-token-" + sfx,
	}}, nil)
	// B's widget session on B's own agent.
	var sess struct{ SessionToken string }
	app.must(http.StatusCreated, secReq{Method: http.MethodPost, Path: "/v1/widget/" + pb.agent + "/sessions", Body: map[string]any{}}, &sess)
	f.widgetB = sess.SessionToken

	f.ids = map[string][2]string{
		kAgent: {pa.agent, pb.agent}, kDoc: {pa.doc, pb.doc}, kConversation: {pa.conv, pb.conv},
		kHandoff: {pa.handoff, pb.handoff}, kInvitation: {pa.inv, pb.inv},
		kMember: {memberA.UserID, memberB.UserID}, kWorkspace: {f.a.WorkspaceID, f.b.WorkspaceID},
		kStorageKey: {pa.key, pb.key}, kChannelType: {"SLACK", "SLACK"}, kTestChannel: {"WHATSAPP", "WHATSAPP"},
		kIntegration: {"ZENDESK", "ZENDESK"},
	}
	f.vals = map[string]string{"memberEmail": memberA.Email, "accessA": f.a.Access}
	f.markers = []string{
		"PROMPT-" + pa.tag, "KNOWLEDGE-" + pa.tag, "MESSAGE-" + pa.tag, "invitee-" + pa.tag,
		f.a.Email, memberA.Email, "xoxb-A-" + sfx, "A-signing-secret-" + sfx, "A-wa-access-" + sfx,
		"A-wa-app-secret-" + sfx, "A-wa-verify-" + sfx, "A-zendesk-token-" + sfx,
	}
	f.aIDs = []string{pa.agent, pa.doc, pa.conv, pa.handoff, pa.inv, memberA.UserID, f.a.UserID, f.a.WorkspaceID, pa.key}
	f.aMembers = []string{f.a.UserID, memberA.UserID}
	return f
}

var placeholder = regexp.MustCompile(`\{([A-Za-z]+)\}`)

// matrixCall is one concrete request of an entry.
type matrixCall struct {
	name string
	req  secReq
}

// calls expands an entry into its requests: every tenant id A's, then each tenant id A's
// alone with the others B's (B's agent with A's document, …).
func (f *matrixFixture) calls(t *testing.T, route string, m matrixEntry) []matrixCall {
	t.Helper()
	method, path, _ := strings.Cut(route, " ")
	kinds := map[string]bool{}
	for _, k := range m.params {
		kinds[k] = true
	}
	for _, k := range m.extra {
		kinds[k] = true
	}
	for _, p := range echoParams(path) {
		if _, ok := m.params[p]; !ok {
			t.Fatalf("%s: the entry does not say which id goes in :%s", route, p)
		}
	}
	var tenant []string
	for k := range kinds {
		if _, ok := f.ids[k]; !ok {
			t.Fatalf("%s: unknown kind %q", route, k)
		}
		if tenantKinds[k] {
			tenant = append(tenant, k)
		}
	}
	sort.Strings(tenant)
	variants := []map[string]int{{}} // kind → 0 (A) or 1 (B); the first: all A
	if len(tenant) > 1 {
		for _, only := range tenant {
			v := map[string]int{}
			for _, k := range tenant {
				if k != only {
					v[k] = 1
				}
			}
			variants = append(variants, v)
		}
	}
	var out []matrixCall
	for _, v := range variants {
		vals := map[string]string{}
		for k, s := range f.vals {
			vals[k] = s
		}
		var names []string
		for k := range kinds {
			vals[k] = f.ids[k][v[k]]
			if tenantKinds[k] {
				names = append(names, map[int]string{0: "A", 1: "B"}[v[k]]+"'s "+k)
			}
		}
		sort.Strings(names)
		p := path
		for param, kind := range m.params {
			if param == "*" {
				p = strings.TrimSuffix(p, "*") + vals[kind]
				continue
			}
			p = strings.Replace(p, ":"+param, vals[kind], 1)
		}
		p += placeholder.ReplaceAllStringFunc(m.query, func(s string) string { return vals[s[1:len(s)-1]] })
		req := secReq{Method: method, Path: p, Header: m.header}
		switch m.as {
		case asOwnerB:
			req.Token = f.b.Access
		case asWidgetB:
			req.Token = f.widgetB
		}
		if m.body != nil {
			req.Body = m.body(vals)
		} else if method != http.MethodGet && method != http.MethodDelete {
			req.Body = map[string]any{}
		}
		out = append(out, matrixCall{name: strings.Join(names, ", "), req: req})
	}
	return out
}

func echoParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, ":") {
			out = append(out, seg[1:])
		} else if seg == "*" {
			out = append(out, "*")
		}
	}
	return out
}

// routeTable is echo's route table of the whole application as `axon serve` builds it,
// River UI aside (mounted only by serve, behind basic auth) and echo's group catch-alls.
func routeTable(app *secApp) []string {
	d := *app.env.Deps
	d.Metrics = observe.NewMetrics(nil, "axon-test")
	e := cli.BuildHTTP(&d, app.env.Registry, nil, time.Now())
	seen := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound || strings.HasPrefix(r.Path, "/admin/queues") {
			continue
		}
		seen[r.Method+" "+r.Path] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fingerprint is a digest of every row that belongs to workspace ws, in every table that has
// a workspace_id column (so a new table is covered without an edit here), plus the workspace,
// its widget configs and its members' user rows.
func fingerprint(t *testing.T, app *secApp, ws string, users []string) map[string]string {
	t.Helper()
	var tables []string
	if err := app.env.DB.Select(&tables, `SELECT table_name FROM information_schema.columns
		WHERE table_schema = 'public' AND column_name = 'workspace_id' ORDER BY table_name`); err != nil {
		t.Fatal(err)
	}
	if len(tables) < 8 {
		t.Fatalf("only %d tables with workspace_id: %v", len(tables), tables)
	}
	queries := map[string]string{
		"workspaces":     `SELECT t::text FROM workspaces t WHERE id = $1`,
		"widget_configs": `SELECT t::text FROM widget_configs t WHERE agent_id IN (SELECT id FROM agents WHERE workspace_id = $1)`,
		"agent_channels": `SELECT t::text FROM agent_channels t WHERE agent_id IN (SELECT id FROM agents WHERE workspace_id = $1)`,
	}
	for _, tb := range tables {
		queries[tb] = fmt.Sprintf(`SELECT t::text FROM %q t WHERE workspace_id = $1`, tb)
	}
	out := map[string]string{}
	for name, q := range queries {
		var rows []string
		if err := app.env.DB.Select(&rows, q+` ORDER BY 1`, ws); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = fmt.Sprintf("%d rows: %s", len(rows), strings.Join(rows, "\n"))
	}
	var urows []string
	if err := app.env.DB.Select(&urows, `SELECT t::text FROM users t WHERE id = ANY($1::uuid[]) ORDER BY 1`, "{"+strings.Join(users, ",")+"}"); err != nil {
		t.Fatal(err)
	}
	out["users"] = strings.Join(urows, "\n")
	return out
}

func TestSecurityTenantMatrix(t *testing.T) {
	t.Parallel()
	app := newSecApp(t, nil, nil)
	routes := routeTable(app)

	// Completeness first: every registered route has an entry.
	var missing []string
	registered := map[string]bool{}
	for _, r := range routes {
		registered[r] = true
		if _, ok := securityMatrix[r]; !ok {
			missing = append(missing, r)
		}
	}
	for _, r := range missing {
		t.Errorf("route %s is not in the security matrix: add an entry to securityMatrix (security_matrix_test.go) saying how B's owner exercises it with A's ids, or why it is exempt", r)
	}
	for r := range securityMatrix {
		if !registered[r] {
			// Not an error: an entry may be written before its route lands (or for a route
			// mounted only in some configurations, such as the development demo page).
			t.Logf("matrix entry %s has no registered route", r)
		}
	}
	if len(routes) < 50 {
		t.Fatalf("only %d routes registered; are the modules mounted?", len(routes))
	}

	f := newMatrixFixture(t, app)
	before := fingerprint(t, app, f.a.WorkspaceID, f.aMembers)

	exercised, calls, exempt := 0, 0, 0
	for _, route := range routes {
		m, ok := securityMatrix[route]
		if !ok {
			continue
		}
		if m.exempt != "" {
			exempt++
			continue
		}
		exercised++
		for _, c := range f.calls(t, route, m) {
			calls++
			res := app.do(c.req)
			what := route
			if c.name != "" {
				what += " (" + c.name + ")"
			}
			t.Logf("%s → %d", what, res.Status)
			f.check(t, what, m, c.req, res)
		}
	}
	t.Logf("%d routes: %d exercised with %d requests, %d exempt", len(routes), exercised, calls, exempt)

	// A's data is untouched.
	after := fingerprint(t, app, f.a.WorkspaceID, f.aMembers)
	for table, was := range before {
		if after[table] != was {
			t.Errorf("workspace A's %s changed:\nbefore %s\nafter  %s", table, was, after[table])
		}
	}
	// A's session still works and still sees its data.
	app.must(http.StatusOK, secReq{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{f.a.Refresh}}, nil)
	var agent map[string]any
	app.must(http.StatusOK, secReq{Path: "/v1/agents/" + f.ids[kAgent][0], Token: f.a.Access}, &agent)
}

// check applies the matrix's rules to one response.
func (f *matrixFixture) check(t *testing.T, what string, m matrixEntry, req secReq, res *secRes) {
	t.Helper()
	// What the request itself carried may come back (a public widget's agent id, the
	// address B invited): only the rest of A's values count.
	sent, _ := json.Marshal(req.Body)
	sent = append(sent, req.Path...)
	var markers, ids []string
	for _, mk := range f.markers {
		if !strings.Contains(string(sent), mk) {
			markers = append(markers, mk)
		}
	}
	for _, id := range f.aIDs {
		if !strings.Contains(string(sent), id) {
			ids = append(ids, id)
		}
	}
	allowed := false
	for _, s := range m.allow {
		allowed = allowed || res.Status == s
	}
	if !allowed {
		t.Errorf("%s: status %d, want one of %v: %.300s", what, res.Status, m.allow, res.Body)
	}
	if res.Status >= 500 && res.Status != http.StatusNotImplemented {
		t.Errorf("%s: server error %d: %.300s", what, res.Status, res.Body)
	}
	if res.Status >= 400 {
		expectErrorShape(t, what, res)
	}
	body := string(res.Body)
	for _, mk := range markers {
		if strings.Contains(body, mk) {
			t.Errorf("%s: the response shows A's %q: %.300s", what, mk, body)
		}
	}
	if res.Status < 300 {
		for _, id := range ids {
			if strings.Contains(body, id) {
				t.Errorf("%s: a %d response carries A's id %s: %.300s", what, res.Status, id, body)
			}
		}
	}
	// Headers too (Location, Content-Disposition, …).
	h, _ := json.Marshal(res.Header)
	for _, mk := range append(markers, ids...) {
		if strings.Contains(string(h), mk) {
			t.Errorf("%s: a response header carries A's %q: %s", what, mk, h)
		}
	}
}
